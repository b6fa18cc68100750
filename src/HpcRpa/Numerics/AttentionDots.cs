using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace HpcRpa.Numerics;

/// <summary>
/// Rows of packed 32-bit words reached through one pointer per row, read at a fixed byte offset inside each row:
/// a VMEM block whose token rows a DMA bound to HBM pages, or a dense scratch. The element of each word is the one
/// <see cref="Format"/> names at bit <see cref="Shift"/>.
/// </summary>
internal readonly unsafe struct WordRows(nint* rows, nint offset, WordFormat format, int shift)
{
    public readonly nint* Rows = rows;
    public readonly nint Offset = offset;
    public readonly WordFormat Format = format;
    public readonly int Shift = shift;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public uint* Row(int t) => (uint*)((byte*)Rows[t] + Offset);
}

/// <summary>
/// The two products of an attention step for a few query rows against many key/value rows read straight from
/// their packed words (decode: G rows of one token): logits by dot products, and p·V by row updates.
/// <para>
/// Canonical orders, the same on every path: a logit is a dot product whose term d goes to partial d mod 16 (an
/// FMA chain per partial, d ascending), the 16 partials then added by halving, as <see cref="VectorMath"/> sums
/// rows; a p·V output element is an FMA chain over the tokens in ascending order, starting from 0.
/// </para>
/// Callers validate shapes once; these take raw pointers. Query rows hold ⌈dim/16⌉·16 floats, zero past dim;
/// key lanes past dim are read (the layouts pad head_dim to 128 lanes) but masked to zero.
/// </summary>
internal static unsafe class AttentionDots
{
    /// <summary>
    /// Tokens per group: the heads of a group of tokens are done before the next group, so each token row is read
    /// front to back. On the 512-bit path a group takes one token from each quarter of the range (t, t + n/4, ...):
    /// four streams through four places of the cache at once, where one stream through consecutive rows keeps too
    /// few reads in flight to use the host's memory bandwidth (measured: about a third more bytes per second).
    /// </summary>
    internal const int Group = 4;

    /// <summary>
    /// Tokens per p·V group: the accumulators stay in registers across it (their load and store amortised over the
    /// group). Long, since p·V reads rows q·k has just brought into cache.
    /// </summary>
    internal const int PvGroup = 128;

    /// <summary>
    /// s[h·sHead + r·lds + t] = Σ_d q[h·qHead + r·ldq + d] · K_{h,t}[d] for heads h, rows r, tokens t &lt; n, where
    /// K_{h,t} is read at <c>keys.Offset + h·headStride</c> bytes into token row t.
    /// </summary>
    public static void QkDots(float* q, int ldq, nint qHead, int rows, int heads, nint headStride, int dim, in WordRows keys,
        float* s, int lds, nint sHead, int n, SimdPath path = SimdPath.Auto)
    {
        if (rows <= 0 || heads <= 0 || n <= 0) return;
        var op = new QkOp { Q = q, Ldq = ldq, QHead = qHead, Rows = rows, Heads = heads, HeadStride = headStride, Dim = dim, Keys = keys, S = s, Lds = lds, SHead = sHead, N = n };
        WidthDispatch.Run(path, keys.Format, keys.Shift, ref op);
    }

    /// <summary>
    /// o[h·oHead + r·ldo + x] = Σ_{t ∈ [t0, t1)} p[h·pHead + r·ldp + t] · V_{h,t}[x] for x &lt; cols (a multiple of 16),
    /// V_{h,t} read at <c>values.Offset + h·headStride</c> bytes into token row t. With <paramref name="accumulate"/> the
    /// chains continue from o's values (as if these tokens followed the ones o already holds); otherwise from 0.
    /// </summary>
    public static void PvRows(float* p, int ldp, nint pHead, int rows, int heads, nint headStride, in WordRows values, int t0, int t1,
        float* o, int ldo, nint oHead, int cols, bool accumulate = false, SimdPath path = SimdPath.Auto)
    {
        if (rows <= 0 || heads <= 0 || cols <= 0) return;
        var op = new PvOp { P = p, Ldp = ldp, PHead = pHead, Rows = rows, Heads = heads, HeadStride = headStride, Values = values, T0 = t0, T1 = Math.Max(t0, t1), O = o, Ldo = ldo, OHead = oHead, Cols = cols, Accumulate = accumulate };
        WidthDispatch.Run(path, values.Format, values.Shift, ref op);
    }

    // ------------------------------------------------------------------ q · k

    private struct QkOp : IWidthFormatOp
    {
        public float* Q, S;
        public int Ldq, Rows, Heads, Dim, Lds, N;
        public nint HeadStride, QHead, SHead;
        public WordRows Keys;

        public readonly void Invoke<TV, TF>() where TV : unmanaged, IVec<TV> where TF : struct, IWordDecoder
        {
            int full = Dim >> 4, rem = Dim & 15;
            uint* mask = stackalloc uint[16];
            for (int j = 0; j < 16; j++) mask[j] = j < rem ? 1u : 0u;
            int t0 = 0;
            if (typeof(TV) == typeof(V512) && Avx512F.IsSupported && Rows >= 4)
            {
                // Groups of one token from each quarter of [0, 4·quarter); the few tokens past it go below.
                int quarter = N / Group;
                for (int g = 0; g < quarter; g++)
                    for (int h = 0; h < Heads; h++)
                    {
                        nint off = Keys.Offset + h * HeadStride;
                        uint* k0 = (uint*)((byte*)Keys.Rows[g] + off), k1 = (uint*)((byte*)Keys.Rows[g + quarter] + off);
                        uint* k2 = (uint*)((byte*)Keys.Rows[g + 2 * quarter] + off), k3 = (uint*)((byte*)Keys.Rows[g + 3 * quarter] + off);
                        float* q = Q + h * QHead, s = S + h * SHead + g;
                        int i = 0;
                        for (; i + 4 <= Rows; i += 4) Dots4x4<TF>(q + (nint)i * Ldq, Ldq, k0, k1, k2, k3, s + (nint)i * Lds, Lds, quarter, full, rem, mask);
                        if (i < Rows)
                        {
                            for (int j = 0; j < Group; j++)
                            {
                                var one = new WordRows(Keys.Rows + g + j * quarter, off, Keys.Format, Keys.Shift);
                                for (int r = i; r < Rows; r++) Dots1<TV, TF>(q + (nint)r * Ldq, one, s + (nint)r * Lds + j * quarter, 1, full, rem, mask);
                            }
                        }
                    }
                t0 = Group * quarter;
            }
            for (; t0 < N; t0 += Group)
            {
                int tn = Math.Min(Group, N - t0);
                for (int h = 0; h < Heads; h++)
                {
                    var k = new WordRows(Keys.Rows + t0, Keys.Offset + h * HeadStride, Keys.Format, Keys.Shift);
                    float* q = Q + h * QHead, s = S + h * SHead + t0;
                    if (TV.Count == 1)
                    {
                        for (int r = 0; r < Rows; r++) ScalarDots<TF>(q + (nint)r * Ldq, k, s + (nint)r * Lds, tn, full, rem);
                        continue;
                    }
                    int i = 0;
                    if (typeof(TV) == typeof(V512) && Avx512F.IsSupported && tn == Group)
                        for (; i + 4 <= Rows; i += 4) Dots4x4<TF>(q + (nint)i * Ldq, Ldq, k.Row(0), k.Row(1), k.Row(2), k.Row(3), s + (nint)i * Lds, Lds, 1, full, rem, mask);
                    for (; i + 4 <= Rows; i += 4) Dots4<TV, TF>(q + (nint)i * Ldq, Ldq, k, s + (nint)i * Lds, Lds, tn, full, rem, mask);
                    for (; i < Rows; i++) Dots1<TV, TF>(q + (nint)i * Ldq, k, s + (nint)i * Lds, tn, full, rem, mask);
                }
            }
        }
    }

    /// <summary>The canonical order written out lane by lane: the definition every vector path must reproduce.</summary>
    private static void ScalarDots<TF>(float* q, in WordRows keys, float* s, int n, int full, int rem) where TF : struct, IWordDecoder
    {
        int blocks = full + (rem != 0 ? 1 : 0);
        float* part = stackalloc float[16];
        for (int t = 0; t < n; t++)
        {
            uint* kw = keys.Row(t);
            for (int j = 0; j < 16; j++) part[j] = 0f;
            for (int d = 0; d < blocks * 16; d++)
            {
                float k = TF.Decode(S1.LoadBits(ref kw[d])).V;
                if (d >= full * 16 + rem) k = 0f;
                part[d & 15] = MathF.FusedMultiplyAdd(q[d], k, part[d & 15]);
            }
            for (int w = 8; w >= 1; w >>= 1)
                for (int j = 0; j < w; j++) part[j] += part[j + w];
            s[t] = part[0];
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TV Key<TV, TF>(uint* kw, int d, uint* mask) where TV : unmanaged, IVec<TV> where TF : struct, IWordDecoder
    {
        TV k = TF.Decode(TV.LoadBits(ref kw[d]));
        return mask == null ? k : TV.SelectWhereBitsEqual(TV.LoadBits(ref *mask), 0, TV.Splat(0f), k);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TV Ld<TV>(float* p) where TV : unmanaged, IVec<TV> => TV.Load(ref *p);

    /// <summary>The 16 partials held in per = 16/Count vectors, summed by halving (p[j] + p[j+8], then + p[j+4], ...).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Sum16<TV>(TV a0, TV a1, TV a2, TV a3) where TV : unmanaged, IVec<TV> => (16 / TV.Count) switch
    {
        1 => TV.HalvingSum(a0),
        2 => TV.HalvingSum(TV.Add(a0, a1)),
        _ => TV.HalvingSum(TV.Add(TV.Add(a0, a2), TV.Add(a1, a3))),
    };

    /// <summary>Four query rows at once: each key vector is decoded once and used four times.</summary>
    private static void Dots4<TV, TF>(float* q, int ldq, in WordRows keys, float* s, int lds, int n, int full, int rem, uint* mask)
        where TV : unmanaged, IVec<TV> where TF : struct, IWordDecoder
    {
        float* q0 = q, q1 = q + ldq, q2 = q1 + ldq, q3 = q2 + ldq;
        for (int t = 0; t < n; t++)
        {
            uint* kw = keys.Row(t);
            TV z = TV.Splat(0f);
            TV a00 = z, a01 = z, a02 = z, a03 = z, a10 = z, a11 = z, a12 = z, a13 = z;
            TV a20 = z, a21 = z, a22 = z, a23 = z, a30 = z, a31 = z, a32 = z, a33 = z;
            int d = 0;
            for (int b = 0; b < full; b++, d += 16)
                Block4<TV, TF>(kw, d, null, q0, q1, q2, q3, ref a00, ref a01, ref a02, ref a03, ref a10, ref a11, ref a12, ref a13,
                    ref a20, ref a21, ref a22, ref a23, ref a30, ref a31, ref a32, ref a33);
            if (rem != 0)
                Block4<TV, TF>(kw, d, mask, q0, q1, q2, q3, ref a00, ref a01, ref a02, ref a03, ref a10, ref a11, ref a12, ref a13,
                    ref a20, ref a21, ref a22, ref a23, ref a30, ref a31, ref a32, ref a33);
            s[t] = Sum16(a00, a01, a02, a03);
            s[lds + t] = Sum16(a10, a11, a12, a13);
            s[2 * lds + t] = Sum16(a20, a21, a22, a23);
            s[3 * lds + t] = Sum16(a30, a31, a32, a33);
        }
    }

    /// <summary>
    /// 512-bit path, four rows × four tokens: sixteen accumulators (independent FMA chains, so the FMA unit never
    /// waits on one), then one transposing reduction that performs every dot's halving steps at once — lanes j and
    /// j+8, then j and j+4, j and j+2, j and j+1 — and leaves row r's four logits in 128-bit block r.
    /// </summary>
    private static void Dots4x4<TF>(float* q, int ldq, uint* t0, uint* t1, uint* t2, uint* t3, float* s, int lds, int tokenStride, int full, int rem, uint* mask)
        where TF : struct, IWordDecoder
    {
        float* q0 = q, q1 = q + ldq, q2 = q1 + ldq, q3 = q2 + ldq;
        // Tokens in the order 0, 2, 1, 3: the reduction's last step then lands them in order.
        uint* k0 = t0, k2 = t1, k1 = t2, k3 = t3;
        var z = Vector512<float>.Zero;
        Vector512<float> a00 = z, a01 = z, a02 = z, a03 = z, a10 = z, a11 = z, a12 = z, a13 = z;
        Vector512<float> a20 = z, a21 = z, a22 = z, a23 = z, a30 = z, a31 = z, a32 = z, a33 = z;
        int d = 0;
        for (int b = 0; b < full; b++, d += 16)
        {
            var x0 = Vector512.Load(q0 + d); var x1 = Vector512.Load(q1 + d); var x2 = Vector512.Load(q2 + d); var x3 = Vector512.Load(q3 + d);
            var k = K<TF>(k0, d); a00 = Vector512.FusedMultiplyAdd(x0, k, a00); a01 = Vector512.FusedMultiplyAdd(x1, k, a01); a02 = Vector512.FusedMultiplyAdd(x2, k, a02); a03 = Vector512.FusedMultiplyAdd(x3, k, a03);
            k = K<TF>(k1, d); a10 = Vector512.FusedMultiplyAdd(x0, k, a10); a11 = Vector512.FusedMultiplyAdd(x1, k, a11); a12 = Vector512.FusedMultiplyAdd(x2, k, a12); a13 = Vector512.FusedMultiplyAdd(x3, k, a13);
            k = K<TF>(k2, d); a20 = Vector512.FusedMultiplyAdd(x0, k, a20); a21 = Vector512.FusedMultiplyAdd(x1, k, a21); a22 = Vector512.FusedMultiplyAdd(x2, k, a22); a23 = Vector512.FusedMultiplyAdd(x3, k, a23);
            k = K<TF>(k3, d); a30 = Vector512.FusedMultiplyAdd(x0, k, a30); a31 = Vector512.FusedMultiplyAdd(x1, k, a31); a32 = Vector512.FusedMultiplyAdd(x2, k, a32); a33 = Vector512.FusedMultiplyAdd(x3, k, a33);
        }
        if (rem != 0)
        {
            var x0 = Vector512.Load(q0 + d); var x1 = Vector512.Load(q1 + d); var x2 = Vector512.Load(q2 + d); var x3 = Vector512.Load(q3 + d);
            var tailMask = Vector512.Load(mask).AsSingle();
            var k = Masked<TF>(k0, d, tailMask); a00 = Vector512.FusedMultiplyAdd(x0, k, a00); a01 = Vector512.FusedMultiplyAdd(x1, k, a01); a02 = Vector512.FusedMultiplyAdd(x2, k, a02); a03 = Vector512.FusedMultiplyAdd(x3, k, a03);
            k = Masked<TF>(k1, d, tailMask); a10 = Vector512.FusedMultiplyAdd(x0, k, a10); a11 = Vector512.FusedMultiplyAdd(x1, k, a11); a12 = Vector512.FusedMultiplyAdd(x2, k, a12); a13 = Vector512.FusedMultiplyAdd(x3, k, a13);
            k = Masked<TF>(k2, d, tailMask); a20 = Vector512.FusedMultiplyAdd(x0, k, a20); a21 = Vector512.FusedMultiplyAdd(x1, k, a21); a22 = Vector512.FusedMultiplyAdd(x2, k, a22); a23 = Vector512.FusedMultiplyAdd(x3, k, a23);
            k = Masked<TF>(k3, d, tailMask); a30 = Vector512.FusedMultiplyAdd(x0, k, a30); a31 = Vector512.FusedMultiplyAdd(x1, k, a31); a32 = Vector512.FusedMultiplyAdd(x2, k, a32); a33 = Vector512.FusedMultiplyAdd(x3, k, a33);
        }
        // a{j}{r}: token slot j (0, 2, 1, 3 of this group), row r. Step 1, lanes j + j+8: pairs of dots share a vector.
        var c0 = Halve8(a00, a01); var c1 = Halve8(a02, a03); var c2 = Halve8(a10, a11); var c3 = Halve8(a12, a13);
        var c4 = Halve8(a20, a21); var c5 = Halve8(a22, a23); var c6 = Halve8(a30, a31); var c7 = Halve8(a32, a33);
        // Step 2, lanes j + j+4: one dot per 128-bit block, rows 0..3 of one token slot.
        var d0 = Halve4(c0, c1); var d1 = Halve4(c2, c3); var d2 = Halve4(c4, c5); var d3 = Halve4(c6, c7);
        // Step 3, lanes j + j+2 (64-bit interleave), then step 4, j + j+1.
        var e0 = Halve2(d0, d1); var e1 = Halve2(d2, d3);
        var lo = Avx512F.UnpackLow(e0, e1);
        var hi = Avx512F.UnpackHigh(e0, e1);
        var r = Avx512F.UnpackLow(lo.AsDouble(), hi.AsDouble()).AsSingle() + Avx512F.UnpackHigh(lo.AsDouble(), hi.AsDouble()).AsSingle();
        // Block r now holds row r's logits of the group's four tokens.
        Store4(r.GetLower().GetLower(), s, tokenStride);
        Store4(r.GetLower().GetUpper(), s + lds, tokenStride);
        Store4(r.GetUpper().GetLower(), s + 2 * lds, tokenStride);
        Store4(r.GetUpper().GetUpper(), s + 3 * lds, tokenStride);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store4(Vector128<float> v, float* s, int stride)
    {
        if (stride == 1) { v.Store(s); return; }
        s[0] = v.ToScalar();
        s[stride] = v.GetElement(1);
        s[2 * stride] = v.GetElement(2);
        s[3 * stride] = v.GetElement(3);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> K<TF>(uint* kw, int d) where TF : struct, IWordDecoder => TF.Decode(V512.LoadBits(ref kw[d])).V;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Masked<TF>(uint* kw, int d, Vector512<float> laneMask) where TF : struct, IWordDecoder =>
        Vector512.ConditionalSelect(Vector512.Equals(laneMask.AsUInt32(), Vector512<uint>.Zero).AsSingle(), Vector512<float>.Zero, K<TF>(kw, d));

    /// <summary>[a lanes 0-7 + a lanes 8-15 | b lanes 0-7 + b lanes 8-15].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Halve8(Vector512<float> a, Vector512<float> b) =>
        Avx512F.Shuffle4x128(a, b, 0b01_00_01_00) + Avx512F.Shuffle4x128(a, b, 0b11_10_11_10);

    /// <summary>From two pair-vectors [x(8) | y(8)], [z(8) | w(8)]: each dot's lanes j + j+4, one dot per 128-bit block (x, y, z, w).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Halve4(Vector512<float> a, Vector512<float> b) =>
        Avx512F.Shuffle4x128(a, b, 0b10_00_10_00) + Avx512F.Shuffle4x128(a, b, 0b11_01_11_01);

    /// <summary>Per 128-bit block, dots x (from a) and y (from b) of four lanes each: [x0+x2, x1+x3, y0+y2, y1+y3].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Halve2(Vector512<float> a, Vector512<float> b) =>
        Avx512F.UnpackLow(a.AsDouble(), b.AsDouble()).AsSingle() + Avx512F.UnpackHigh(a.AsDouble(), b.AsDouble()).AsSingle();

    /// <summary>One block of 16 lanes for four rows: partial vector v of row r accumulates into a{r}{v}.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Block4<TV, TF>(uint* kw, int d, uint* mask, float* q0, float* q1, float* q2, float* q3,
        ref TV a00, ref TV a01, ref TV a02, ref TV a03, ref TV a10, ref TV a11, ref TV a12, ref TV a13,
        ref TV a20, ref TV a21, ref TV a22, ref TV a23, ref TV a30, ref TV a31, ref TV a32, ref TV a33)
        where TV : unmanaged, IVec<TV> where TF : struct, IWordDecoder
    {
        int c = TV.Count, per = 16 / c;
        TV k = Key<TV, TF>(kw, d, mask);
        a00 = TV.Fma(Ld<TV>(q0 + d), k, a00); a10 = TV.Fma(Ld<TV>(q1 + d), k, a10);
        a20 = TV.Fma(Ld<TV>(q2 + d), k, a20); a30 = TV.Fma(Ld<TV>(q3 + d), k, a30);
        if (per > 1)
        {
            int d1 = d + c;
            k = Key<TV, TF>(kw, d1, mask == null ? null : mask + c);
            a01 = TV.Fma(Ld<TV>(q0 + d1), k, a01); a11 = TV.Fma(Ld<TV>(q1 + d1), k, a11);
            a21 = TV.Fma(Ld<TV>(q2 + d1), k, a21); a31 = TV.Fma(Ld<TV>(q3 + d1), k, a31);
        }
        if (per > 2)
        {
            int d2 = d + 2 * c, d3 = d + 3 * c;
            k = Key<TV, TF>(kw, d2, mask == null ? null : mask + 2 * c);
            a02 = TV.Fma(Ld<TV>(q0 + d2), k, a02); a12 = TV.Fma(Ld<TV>(q1 + d2), k, a12);
            a22 = TV.Fma(Ld<TV>(q2 + d2), k, a22); a32 = TV.Fma(Ld<TV>(q3 + d2), k, a32);
            k = Key<TV, TF>(kw, d3, mask == null ? null : mask + 3 * c);
            a03 = TV.Fma(Ld<TV>(q0 + d3), k, a03); a13 = TV.Fma(Ld<TV>(q1 + d3), k, a13);
            a23 = TV.Fma(Ld<TV>(q2 + d3), k, a23); a33 = TV.Fma(Ld<TV>(q3 + d3), k, a33);
        }
    }

    private static void Dots1<TV, TF>(float* q, in WordRows keys, float* s, int n, int full, int rem, uint* mask)
        where TV : unmanaged, IVec<TV> where TF : struct, IWordDecoder
    {
        for (int t = 0; t < n; t++)
        {
            uint* kw = keys.Row(t);
            TV z = TV.Splat(0f);
            TV a0 = z, a1 = z, a2 = z, a3 = z;
            int d = 0;
            for (int b = 0; b < full; b++, d += 16) Block1<TV, TF>(kw, d, null, q, ref a0, ref a1, ref a2, ref a3);
            if (rem != 0) Block1<TV, TF>(kw, d, mask, q, ref a0, ref a1, ref a2, ref a3);
            s[t] = Sum16(a0, a1, a2, a3);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Block1<TV, TF>(uint* kw, int d, uint* mask, float* q, ref TV a0, ref TV a1, ref TV a2, ref TV a3)
        where TV : unmanaged, IVec<TV> where TF : struct, IWordDecoder
    {
        int c = TV.Count, per = 16 / c;
        a0 = TV.Fma(Ld<TV>(q + d), Key<TV, TF>(kw, d, mask), a0);
        if (per > 1) a1 = TV.Fma(Ld<TV>(q + d + c), Key<TV, TF>(kw, d + c, mask == null ? null : mask + c), a1);
        if (per > 2)
        {
            a2 = TV.Fma(Ld<TV>(q + d + 2 * c), Key<TV, TF>(kw, d + 2 * c, mask == null ? null : mask + 2 * c), a2);
            a3 = TV.Fma(Ld<TV>(q + d + 3 * c), Key<TV, TF>(kw, d + 3 * c, mask == null ? null : mask + 3 * c), a3);
        }
    }

    // ------------------------------------------------------------------ p · v

    private struct PvOp : IWidthFormatOp
    {
        public float* P, O;
        public int Ldp, Rows, Heads, T0, T1, Ldo, Cols;
        public nint HeadStride, PHead, OHead;
        public bool Accumulate;
        public WordRows Values;

        public readonly void Invoke<TV, TF>() where TV : unmanaged, IVec<TV> where TF : struct, IWordDecoder
        {
            // Each output element is one FMA chain over the tokens; groups continue it through memory (a zero start).
            if (!Accumulate)
                for (int h = 0; h < Heads; h++)
                    for (int r = 0; r < Rows; r++) new Span<float>(O + h * OHead + (nint)r * Ldo, Cols).Clear();
            for (int t0 = T0; t0 < T1; t0 += PvGroup)
            {
                int t1 = Math.Min(t0 + PvGroup, T1);
                for (int h = 0; h < Heads; h++)
                {
                    var v = new WordRows(Values.Rows, Values.Offset + h * HeadStride, Values.Format, Values.Shift);
                    float* p = P + h * PHead, o = O + h * OHead;
                    int i = 0;
                    for (; i + 4 <= Rows; i += 4) Pv4<TV, TF>(p + (nint)i * Ldp, Ldp, v, t0, t1, o + (nint)i * Ldo, Ldo, Cols);
                    for (; i < Rows; i++) Pv1<TV, TF>(p + (nint)i * Ldp, v, t0, t1, o + (nint)i * Ldo, Cols);
                }
            }
        }
    }

    /// <summary>Four rows, columns in blocks of four vectors, then single vectors; the token loop innermost.</summary>
    private static void Pv4<TV, TF>(float* p, int ldp, in WordRows values, int t0, int t1, float* o, int ldo, int cols)
        where TV : unmanaged, IVec<TV> where TF : struct, IWordDecoder
    {
        int c = TV.Count;
        float* p0 = p, p1 = p + ldp, p2 = p1 + ldp, p3 = p2 + ldp;
        // The rows in a local: read through the `in` parameter, the row table and offset were loaded again for every token.
        WordRows rows = values;
        int x = 0;
        for (; x + 4 * c <= cols; x += 4 * c)
        {
            float* o0 = o + x, o1 = o0 + ldo, o2 = o1 + ldo, o3 = o2 + ldo;
            TV a00 = Ld<TV>(o0), a01 = Ld<TV>(o0 + c), a02 = Ld<TV>(o0 + 2 * c), a03 = Ld<TV>(o0 + 3 * c);
            TV a10 = Ld<TV>(o1), a11 = Ld<TV>(o1 + c), a12 = Ld<TV>(o1 + 2 * c), a13 = Ld<TV>(o1 + 3 * c);
            TV a20 = Ld<TV>(o2), a21 = Ld<TV>(o2 + c), a22 = Ld<TV>(o2 + 2 * c), a23 = Ld<TV>(o2 + 3 * c);
            TV a30 = Ld<TV>(o3), a31 = Ld<TV>(o3 + c), a32 = Ld<TV>(o3 + 2 * c), a33 = Ld<TV>(o3 + 3 * c);
            for (int t = t0; t < t1; t++)
            {
                uint* vw = rows.Row(t) + x;
                TV v0 = TF.Decode(TV.LoadBits(ref vw[0])), v1 = TF.Decode(TV.LoadBits(ref vw[c]));
                TV v2 = TF.Decode(TV.LoadBits(ref vw[2 * c])), v3 = TF.Decode(TV.LoadBits(ref vw[3 * c]));
                TV w = TV.Splat(p0[t]);
                a00 = TV.Fma(w, v0, a00); a01 = TV.Fma(w, v1, a01); a02 = TV.Fma(w, v2, a02); a03 = TV.Fma(w, v3, a03);
                w = TV.Splat(p1[t]);
                a10 = TV.Fma(w, v0, a10); a11 = TV.Fma(w, v1, a11); a12 = TV.Fma(w, v2, a12); a13 = TV.Fma(w, v3, a13);
                w = TV.Splat(p2[t]);
                a20 = TV.Fma(w, v0, a20); a21 = TV.Fma(w, v1, a21); a22 = TV.Fma(w, v2, a22); a23 = TV.Fma(w, v3, a23);
                w = TV.Splat(p3[t]);
                a30 = TV.Fma(w, v0, a30); a31 = TV.Fma(w, v1, a31); a32 = TV.Fma(w, v2, a32); a33 = TV.Fma(w, v3, a33);
            }
            TV.Store(a00, ref o0[0]); TV.Store(a01, ref o0[c]); TV.Store(a02, ref o0[2 * c]); TV.Store(a03, ref o0[3 * c]);
            TV.Store(a10, ref o1[0]); TV.Store(a11, ref o1[c]); TV.Store(a12, ref o1[2 * c]); TV.Store(a13, ref o1[3 * c]);
            TV.Store(a20, ref o2[0]); TV.Store(a21, ref o2[c]); TV.Store(a22, ref o2[2 * c]); TV.Store(a23, ref o2[3 * c]);
            TV.Store(a30, ref o3[0]); TV.Store(a31, ref o3[c]); TV.Store(a32, ref o3[2 * c]); TV.Store(a33, ref o3[3 * c]);
        }
        for (; x + c <= cols; x += c)
        {
            TV a0 = Ld<TV>(o + x), a1 = Ld<TV>(o + ldo + x), a2 = Ld<TV>(o + 2 * ldo + x), a3 = Ld<TV>(o + 3 * ldo + x);
            for (int t = t0; t < t1; t++)
            {
                TV v = TF.Decode(TV.LoadBits(ref rows.Row(t)[x]));
                a0 = TV.Fma(TV.Splat(p0[t]), v, a0); a1 = TV.Fma(TV.Splat(p1[t]), v, a1);
                a2 = TV.Fma(TV.Splat(p2[t]), v, a2); a3 = TV.Fma(TV.Splat(p3[t]), v, a3);
            }
            TV.Store(a0, ref o[x]); TV.Store(a1, ref o[ldo + x]); TV.Store(a2, ref o[2 * ldo + x]); TV.Store(a3, ref o[3 * ldo + x]);
        }
    }

    private static void Pv1<TV, TF>(float* p, in WordRows values, int t0, int t1, float* o, int cols)
        where TV : unmanaged, IVec<TV> where TF : struct, IWordDecoder
    {
        int c = TV.Count;
        WordRows rows = values;
        int x = 0;
        for (; x + 4 * c <= cols; x += 4 * c)
        {
            TV a0 = Ld<TV>(o + x), a1 = Ld<TV>(o + x + c), a2 = Ld<TV>(o + x + 2 * c), a3 = Ld<TV>(o + x + 3 * c);
            for (int t = t0; t < t1; t++)
            {
                uint* vw = rows.Row(t) + x;
                TV w = TV.Splat(p[t]);
                a0 = TV.Fma(w, TF.Decode(TV.LoadBits(ref vw[0])), a0);
                a1 = TV.Fma(w, TF.Decode(TV.LoadBits(ref vw[c])), a1);
                a2 = TV.Fma(w, TF.Decode(TV.LoadBits(ref vw[2 * c])), a2);
                a3 = TV.Fma(w, TF.Decode(TV.LoadBits(ref vw[3 * c])), a3);
            }
            TV.Store(a0, ref o[x]); TV.Store(a1, ref o[x + c]); TV.Store(a2, ref o[x + 2 * c]); TV.Store(a3, ref o[x + 3 * c]);
        }
        for (; x + c <= cols; x += c)
        {
            TV a = Ld<TV>(o + x);
            for (int t = t0; t < t1; t++) a = TV.Fma(TV.Splat(p[t]), TF.Decode(TV.LoadBits(ref rows.Row(t)[x])), a);
            TV.Store(a, ref o[x]);
        }
    }
}
