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
            {
                var block = stackalloc Vector512<float>[16];
                for (; t + 16 <= N; t += 16)
                    for (int x = 0; x < dPad; x += 16)
                    {
                        for (int i = 0; i < 16; i++) block[i] = TF.Decode(V512.LoadBits(ref Rows.Row(t + i)[x])).V;
                        Transpose16(block);
                        for (int i = 0; i < 16; i++) block[i].Store(Dst + (nint)(x + i) * Ld + t);
                    }
            }
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
    /// Transposes 16 rows of 16 floats in registers: unpack 32-bit, then 64-bit pairs within 128-bit lanes, then
    /// two rounds of 128-bit lane shuffles. Element j of row i ends up as element i of row j.
    /// </summary>
    private static void Transpose16(Vector512<float>* r)
    {
        var t = stackalloc Vector512<float>[16];
        for (int i = 0; i < 8; i++)
        {
            t[2 * i] = Avx512F.UnpackLow(r[2 * i], r[2 * i + 1]);
            t[2 * i + 1] = Avx512F.UnpackHigh(r[2 * i], r[2 * i + 1]);
        }
        // u[4q + j]: per 128-bit lane k, element 4k + j of rows 4q .. 4q+3.
        var u = stackalloc Vector512<float>[16];
        for (int q = 0; q < 4; q++)
        {
            var a = t[4 * q]; var b = t[4 * q + 1]; var c = t[4 * q + 2]; var d = t[4 * q + 3];
            u[4 * q] = Avx512F.UnpackLow(a.AsDouble(), c.AsDouble()).AsSingle();
            u[4 * q + 1] = Avx512F.UnpackHigh(a.AsDouble(), c.AsDouble()).AsSingle();
            u[4 * q + 2] = Avx512F.UnpackLow(b.AsDouble(), d.AsDouble()).AsSingle();
            u[4 * q + 3] = Avx512F.UnpackHigh(b.AsDouble(), d.AsDouble()).AsSingle();
        }
        for (int j = 0; j < 4; j++)
        {
            var xe = Avx512F.Shuffle4x128(u[j], u[4 + j], 0b10_00_10_00);
            var xo = Avx512F.Shuffle4x128(u[j], u[4 + j], 0b11_01_11_01);
            var ye = Avx512F.Shuffle4x128(u[8 + j], u[12 + j], 0b10_00_10_00);
            var yo = Avx512F.Shuffle4x128(u[8 + j], u[12 + j], 0b11_01_11_01);
            r[j] = Avx512F.Shuffle4x128(xe, ye, 0b10_00_10_00);      // column j      (lane 0)
            r[8 + j] = Avx512F.Shuffle4x128(xe, ye, 0b11_01_11_01);  // column 8 + j  (lane 2)
            r[4 + j] = Avx512F.Shuffle4x128(xo, yo, 0b10_00_10_00);  // column 4 + j  (lane 1)
            r[12 + j] = Avx512F.Shuffle4x128(xo, yo, 0b11_01_11_01); // column 12 + j (lane 3)
        }
    }

    /// <summary>
    /// s[r·lds + t] = (Σ_{d &lt; dim} q[r·ldq + d] · kt[d·ldk + t]) · scale for the columns of each block of four rows' ranges
    /// (rounded out to multiples of 16; kt and s must be that wide): the sum rounded, then the product rounded, as a
    /// separate scaling pass would give. Columns outside a row's own range hold whatever they hold.
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

    private static void Qk<TV>(float* q, int ldq, int rows, int dim, float* kt, int ldk, float* s, int lds, int* lo, int* hi, float scale) where TV : unmanaged, IVec<TV>
    {
        int w = TV.Count;
        ref float a = ref Unsafe.AsRef<float>(q);
        ref float b = ref Unsafe.AsRef<float>(kt);
        ref float c = ref Unsafe.AsRef<float>(s);
        int i = 0;
        for (; i < rows; i += 4)
        {
            int count = Math.Min(4, rows - i);
            var (l, h) = Union(lo, hi, i, count);
            int j0 = l & ~15, j1 = (h + 15) & ~15;
            for (int r = i; r < i + (count == 4 ? 0 : count); r++)
            {
                // A partial block: rows one at a time, each over its own range.
                if (hi[r] <= lo[r]) continue;
                int rj0 = lo[r] & ~15, rj1 = (hi[r] + 15) & ~15;
                for (int j = rj0; j < rj1; j += w) Gemm.Block1Blocked<TV>(ref a, ldq, ref b, ldk, ref c, lds, r, j, dim, false, 1, scale: scale);
            }
            if (count < 4) break;
            int jj = j0;
            for (; jj + 4 * w <= j1; jj += 4 * w) Gemm.Block4x4Blocked<TV>(ref a, ldq, ref b, ldk, ref c, lds, i, jj, dim, scale: scale);
            for (; jj + 2 * w <= j1; jj += 2 * w) Gemm.Block4x2Blocked<TV>(ref a, ldq, ref b, ldk, ref c, lds, i, jj, dim, false, scale: scale);
            for (; jj < j1; jj += w)
                for (int r = i; r < i + 4; r++) Gemm.Block1Blocked<TV>(ref a, ldq, ref b, ldk, ref c, lds, r, jj, dim, false, 1, scale: scale);
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
