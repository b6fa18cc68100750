using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace HpcRpa.Numerics;

/// <summary>
/// The attention products for many query rows at once (prefill, mixed): the key and value rows of a chunk are
/// widened once into dense f32 panels (K transposed, V as rows) and the products run as register-blocked matrix
/// products. Each row r only needs columns [lo[r], hi[r]) — its causal / window range — so each block of four rows
/// computes the union of its rows' ranges and skips the rest.
/// <para>
/// Canonical orders, the same on every path: a logit is <see cref="Accumulation.Blocked"/> (chains of
/// <see cref="Gemm.BlockK"/> terms over d, added in order); a p·V output element is one FMA chain over the tokens
/// in ascending order from its block's first token (the probabilities before a row's own range are exact zeros,
/// so where the chain starts changes nothing).
/// </para>
/// </summary>
internal static unsafe class AttentionTile
{
    /// <summary>
    /// kt[x·ldk + t] = K_t[x] for x &lt; dim, t &lt; n: the keys of a chunk transposed, so logits vectorise over tokens.
    /// Rows [dim, ⌈dim/16⌉·16) may be written too (kt must hold them); nothing reads them.
    /// </summary>
    public static void PackTransposed(in WordRows keys, int n, int dim, float* kt, int ldk, SimdPath path = SimdPath.Auto)
    {
        var op = new PackOp { Rows = keys, N = n, Dim = dim, Dst = kt, Ld = ldk, Transposed = true };
        WidthDispatch.Run(path, keys.Format, keys.Shift, ref op);
    }

    /// <summary>v[t·ldv + x] = V_t[x] for x &lt; cols (a multiple of 16; lanes past dim are zero), t &lt; n.</summary>
    public static void PackRows(in WordRows values, int n, int dim, int cols, float* v, int ldv, SimdPath path = SimdPath.Auto)
    {
        var op = new PackOp { Rows = values, N = n, Dim = dim, Cols = cols, Dst = v, Ld = ldv, Transposed = false };
        WidthDispatch.Run(path, values.Format, values.Shift, ref op);
    }

    private struct PackOp : IWidthFormatOp
    {
        public WordRows Rows;
        public int N, Dim, Cols, Ld;
        public float* Dst;
        public bool Transposed;

        public readonly void Invoke<TV, TF>() where TV : unmanaged, IVec<TV> where TF : struct, IWordDecoder
        {
            int c = TV.Count;
            int dPad = (Dim + 15) & ~15;
            float* tmp = stackalloc float[dPad];
            int t = 0;
            if (Transposed && typeof(TV) == typeof(V512) && Avx512F.IsSupported)
                for (; t + 16 <= N; t += 16)
                    for (int x = 0; x < dPad; x += 16) Transpose16<TF>(Rows, t, x, Dst + (nint)x * Ld + t, Ld);
            for (; t < N; t++)
            {
                uint* w = Rows.Row(t);
                float* row = Transposed ? tmp : Dst + (nint)t * Ld;
                for (int x = 0; x < dPad; x += c) TV.Store(TF.Decode(TV.LoadBits(ref w[x])), ref row[x]);
                for (int x = Dim; x < (Transposed ? dPad : Cols); x++) row[x] = 0f;
                if (Transposed)
                    for (int x = 0; x < Dim; x++) Dst[(nint)x * Ld + t] = tmp[x];
            }
        }
    }

    /// <summary>
    /// Rows t..t+15 (16 words at <paramref name="offset"/> each) transposed into 16 rows of <paramref name="dst"/>, ld
    /// apart: unpack 32-bit, then 64-bit pairs within 128-bit lanes, then two rounds of 128-bit lane shuffles, every
    /// value in a register (element j of row i lands as element i of row j).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Transpose16<TF>(in WordRows rows, int t, int offset, float* dst, int ld) where TF : struct, IWordDecoder
    {
        var r0 = K<TF>(rows, t + 0, offset);
        var r1 = K<TF>(rows, t + 1, offset);
        var r2 = K<TF>(rows, t + 2, offset);
        var r3 = K<TF>(rows, t + 3, offset);
        var r4 = K<TF>(rows, t + 4, offset);
        var r5 = K<TF>(rows, t + 5, offset);
        var r6 = K<TF>(rows, t + 6, offset);
        var r7 = K<TF>(rows, t + 7, offset);
        var r8 = K<TF>(rows, t + 8, offset);
        var r9 = K<TF>(rows, t + 9, offset);
        var r10 = K<TF>(rows, t + 10, offset);
        var r11 = K<TF>(rows, t + 11, offset);
        var r12 = K<TF>(rows, t + 12, offset);
        var r13 = K<TF>(rows, t + 13, offset);
        var r14 = K<TF>(rows, t + 14, offset);
        var r15 = K<TF>(rows, t + 15, offset);
        var t0 = Avx512F.UnpackLow(r0, r1); var t1 = Avx512F.UnpackHigh(r0, r1);
        var t2 = Avx512F.UnpackLow(r2, r3); var t3 = Avx512F.UnpackHigh(r2, r3);
        var t4 = Avx512F.UnpackLow(r4, r5); var t5 = Avx512F.UnpackHigh(r4, r5);
        var t6 = Avx512F.UnpackLow(r6, r7); var t7 = Avx512F.UnpackHigh(r6, r7);
        var t8 = Avx512F.UnpackLow(r8, r9); var t9 = Avx512F.UnpackHigh(r8, r9);
        var t10 = Avx512F.UnpackLow(r10, r11); var t11 = Avx512F.UnpackHigh(r10, r11);
        var t12 = Avx512F.UnpackLow(r12, r13); var t13 = Avx512F.UnpackHigh(r12, r13);
        var t14 = Avx512F.UnpackLow(r14, r15); var t15 = Avx512F.UnpackHigh(r14, r15);
        var u0 = Avx512F.UnpackLow(t0.AsDouble(), t2.AsDouble()).AsSingle(); var u1 = Avx512F.UnpackHigh(t0.AsDouble(), t2.AsDouble()).AsSingle();
        var u2 = Avx512F.UnpackLow(t1.AsDouble(), t3.AsDouble()).AsSingle(); var u3 = Avx512F.UnpackHigh(t1.AsDouble(), t3.AsDouble()).AsSingle();
        var u4 = Avx512F.UnpackLow(t4.AsDouble(), t6.AsDouble()).AsSingle(); var u5 = Avx512F.UnpackHigh(t4.AsDouble(), t6.AsDouble()).AsSingle();
        var u6 = Avx512F.UnpackLow(t5.AsDouble(), t7.AsDouble()).AsSingle(); var u7 = Avx512F.UnpackHigh(t5.AsDouble(), t7.AsDouble()).AsSingle();
        var u8 = Avx512F.UnpackLow(t8.AsDouble(), t10.AsDouble()).AsSingle(); var u9 = Avx512F.UnpackHigh(t8.AsDouble(), t10.AsDouble()).AsSingle();
        var u10 = Avx512F.UnpackLow(t9.AsDouble(), t11.AsDouble()).AsSingle(); var u11 = Avx512F.UnpackHigh(t9.AsDouble(), t11.AsDouble()).AsSingle();
        var u12 = Avx512F.UnpackLow(t12.AsDouble(), t14.AsDouble()).AsSingle(); var u13 = Avx512F.UnpackHigh(t12.AsDouble(), t14.AsDouble()).AsSingle();
        var u14 = Avx512F.UnpackLow(t13.AsDouble(), t15.AsDouble()).AsSingle(); var u15 = Avx512F.UnpackHigh(t13.AsDouble(), t15.AsDouble()).AsSingle();
        // The last two rounds, 128-bit lanes across rows four apart: columns j, 4 + j, 8 + j, 12 + j from u_j.
        Columns(u0, u4, u8, u12, dst, ld);
        Columns(u1, u5, u9, u13, dst + ld, ld);
        Columns(u2, u6, u10, u14, dst + 2 * (nint)ld, ld);
        Columns(u3, u7, u11, u15, dst + 3 * (nint)ld, ld);
    }

    /// <summary>Columns j, 4 + j, 8 + j, 12 + j of the transpose (rows 0, 4, 8 and 12 ld apart from <paramref name="dst"/>) out of u_j, u_4+j, u_8+j, u_12+j.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Columns(Vector512<float> a, Vector512<float> b, Vector512<float> c, Vector512<float> d, float* dst, int ld)
    {
        var xe = Avx512F.Shuffle4x128(a, b, 0b10_00_10_00); var xo = Avx512F.Shuffle4x128(a, b, 0b11_01_11_01);
        var ye = Avx512F.Shuffle4x128(c, d, 0b10_00_10_00); var yo = Avx512F.Shuffle4x128(c, d, 0b11_01_11_01);
        Avx512F.Shuffle4x128(xe, ye, 0b10_00_10_00).Store(dst);
        Avx512F.Shuffle4x128(xo, yo, 0b10_00_10_00).Store(dst + 4 * (nint)ld);
        Avx512F.Shuffle4x128(xe, ye, 0b11_01_11_01).Store(dst + 8 * (nint)ld);
        Avx512F.Shuffle4x128(xo, yo, 0b11_01_11_01).Store(dst + 12 * (nint)ld);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> K<TF>(in WordRows rows, int t, int x) where TF : struct, IWordDecoder => TF.Decode(V512.LoadBits(ref rows.Row(t)[x])).V;

    /// <summary>
    /// s[r·lds + t] = (Σ_{d &lt; dim} q[r·ldq + d] · kt[d·ldk + t]) · scale for the columns of each block of four rows' ranges
    /// (rounded out to multiples of 16, kt and s must be that wide; further, up to the row strides, where that lets the
    /// widest register block do the tail): the sum rounded, then the product rounded, as a separate scaling pass
    /// would give. Columns outside a row's own range hold whatever they hold.
    /// </summary>
    public static void QkTile(float* q, int ldq, int rows, int dim, float* kt, int ldk, float* s, int lds, int* lo, int* hi, float scale = 1f, SimdPath path = SimdPath.Auto)
    {
        switch (SimdPaths.Resolve(path))
        {
            case SimdPath.V512: Qk<V512>(q, ldq, rows, dim, kt, ldk, s, lds, lo, hi, scale); break;
            case SimdPath.V256: Qk<V256>(q, ldq, rows, dim, kt, ldk, s, lds, lo, hi, scale); break;
            case SimdPath.V128: Qk<V128>(q, ldq, rows, dim, kt, ldk, s, lds, lo, hi, scale); break;
            default: Qk<S1>(q, ldq, rows, dim, kt, ldk, s, lds, lo, hi, scale); break;
        }
    }

    /// <summary>
    /// o[r·ldo + x] = Σ_t p[r·ldp + t] · v[t·ldv + x] for x &lt; cols (a multiple of 16), over the tokens of each block of
    /// four rows' ranges; p must be zero outside each row's own range.
    /// </summary>
    public static void PvTile(float* p, int ldp, int rows, float* v, int ldv, int cols, float* o, int ldo, int* lo, int* hi, SimdPath path = SimdPath.Auto)
    {
        switch (SimdPaths.Resolve(path))
        {
            case SimdPath.V512: Pv<V512>(p, ldp, rows, v, ldv, cols, o, ldo, lo, hi); break;
            case SimdPath.V256: Pv<V256>(p, ldp, rows, v, ldv, cols, o, ldo, lo, hi); break;
            case SimdPath.V128: Pv<V128>(p, ldp, rows, v, ldv, cols, o, ldo, lo, hi); break;
            default: Pv<S1>(p, ldp, rows, v, ldv, cols, o, ldo, lo, hi); break;
        }
    }

    /// <summary>The union of rows [i, i+count)'s ranges.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (int Lo, int Hi) Union(int* lo, int* hi, int i, int count)
    {
        int l = int.MaxValue, h = int.MinValue;
        for (int r = i; r < i + count; r++)
            if (hi[r] > lo[r])
            {
                l = Math.Min(l, lo[r]);
                h = Math.Max(h, hi[r]);
            }
        return h > l ? (l, h) : (0, 0);
    }

    /// <summary>Four-row blocks whose column sweeps are interleaved (see <see cref="Qk{TV}"/>).</summary>
    private const int QkBlockGroup = 32;

    private static void Qk<TV>(float* q, int ldq, int rows, int dim, float* kt, int ldk, float* s, int lds, int* lo, int* hi, float scale) where TV : unmanaged, IVec<TV>
    {
        int w = TV.Count;
        ref float a = ref Unsafe.AsRef<float>(q);
        ref float b = ref Unsafe.AsRef<float>(kt);
        ref float c = ref Unsafe.AsRef<float>(s);
        int full = rows / 4;
        int* j0 = stackalloc int[QkBlockGroup], j1 = stackalloc int[QkBlockGroup];
        // Blocks of four rows, a group at a time, the column sweep outermost: the 4 x 4w-column strip of the key
        // panel (dim·4w floats) stays in L1 while every block of the group uses it, where a block-by-block sweep
        // would stream the whole panel from L2 once per block. Each element is the same sum either way.
        for (int g0 = 0; g0 < full; g0 += QkBlockGroup)
        {
            int gn = Math.Min(QkBlockGroup, full - g0), strips = 0;
            for (int x = 0; x < gn; x++)
            {
                var (l, h) = Union(lo, hi, 4 * (g0 + x), 4);
                int b0 = l & ~15, b1 = (h + 15) & ~15;
                // Out to whole blocks of four vectors where the rows have room (ld): the widest kernel does the tail
                // too, on columns no row asked for (their values are unspecified).
                int b1w = b0 + (b1 - b0 + 4 * w - 1) / (4 * w) * (4 * w);
                if (b1w <= Math.Min(ldk, lds)) b1 = b1w;
                j0[x] = b0;
                j1[x] = b1;
                strips = Math.Max(strips, (b1 - b0) / (4 * w));
            }
            for (int m = 0; m < strips; m++)
                for (int x = 0; x < gn; x++)
                {
                    int jj = j0[x] + m * 4 * w;
                    if (jj + 4 * w <= j1[x]) Gemm.Block4x4Blocked<TV>(ref a, ldq, ref b, ldk, ref c, lds, 4 * (g0 + x), jj, dim, scale: scale);
                }
            for (int x = 0; x < gn; x++)
            {
                int i = 4 * (g0 + x);
                int jj = j0[x] + (j1[x] - j0[x]) / (4 * w) * (4 * w);
                for (; jj + 2 * w <= j1[x]; jj += 2 * w) Gemm.Block4x2Blocked<TV>(ref a, ldq, ref b, ldk, ref c, lds, i, jj, dim, false, scale: scale);
                for (; jj < j1[x]; jj += w)
                    for (int r = i; r < i + 4; r++) Gemm.Block1Blocked<TV>(ref a, ldq, ref b, ldk, ref c, lds, r, jj, dim, false, 1, scale: scale);
            }
        }
        // A partial block: rows one at a time, each over its own range.
        for (int r = 4 * full; r < rows; r++)
        {
            if (hi[r] <= lo[r]) continue;
            int rj0 = lo[r] & ~15, rj1 = (hi[r] + 15) & ~15;
            for (int j = rj0; j < rj1; j += w) Gemm.Block1Blocked<TV>(ref a, ldq, ref b, ldk, ref c, lds, r, j, dim, false, 1, scale: scale);
        }
    }

    private static void Pv<TV>(float* p, int ldp, int rows, float* v, int ldv, int cols, float* o, int ldo, int* lo, int* hi) where TV : unmanaged, IVec<TV>
    {
        int w = TV.Count;
        ref float c = ref Unsafe.AsRef<float>(o);
        for (int i = 0; i < rows; i += 4)
        {
            int count = Math.Min(4, rows - i);
            var (t0, t1) = count == 4 ? Union(lo, hi, i, 4) : (0, 0);
            if (count < 4)
            {
                for (int r = i; r < rows; r++)
                {
                    var (r0, r1) = Union(lo, hi, r, 1);
                    ref float ar = ref Unsafe.AsRef<float>(p + r0);
                    ref float br = ref Unsafe.AsRef<float>(v + (nint)r0 * ldv);
                    for (int j = 0; j < cols; j += w) Gemm.Block1<TV>(ref ar, ldp, ref br, ldv, ref c, ldo, r, j, r1 - r0, false, 1);
                }
                break;
            }
            ref float a = ref Unsafe.AsRef<float>(p + t0);
            ref float b = ref Unsafe.AsRef<float>(v + (nint)t0 * ldv);
            int jj = 0;
            for (; jj + 4 * w <= cols; jj += 4 * w) Gemm.Block4x4Blocked<TV>(ref a, ldp, ref b, ldv, ref c, ldo, i, jj, t1 - t0, int.MaxValue);
            for (; jj + 2 * w <= cols; jj += 2 * w) Gemm.Block4x2<TV>(ref a, ldp, ref b, ldv, ref c, ldo, i, jj, t1 - t0, false);
            for (; jj < cols; jj += w)
                for (int r = i; r < i + 4; r++) Gemm.Block1<TV>(ref a, ldp, ref b, ldv, ref c, ldo, r, jj, t1 - t0, false, 1);
        }
    }
}
