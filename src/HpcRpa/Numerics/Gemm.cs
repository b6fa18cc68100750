using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace HpcRpa.Numerics;

/// <summary>How a dot product's terms are summed.</summary>
public enum Accumulation : byte
{
    /// <summary>A chain of f32 fused multiply-adds over k (what an f32 accumulator does).</summary>
    Fma,
    /// <summary>
    /// Compensated (Ogita–Rump–Oishi Dot2): the rounding error of every product (exact by FMA) and of every sum
    /// (TwoSum) is carried in a second f32 accumulator and added once at the end — about twice the precision of
    /// f32, for logits whose errors the softmax would amplify.
    /// </summary>
    Compensated,
    /// <summary>
    /// Blocked: k in blocks of <see cref="Gemm.BlockK"/>, each block an FMA chain from its first term, the block sums
    /// added in order — the rounding error of a 32-term chain instead of a k-term one, at the cost of one add per
    /// block (what attention logits need: the softmax turns their absolute error into the output's relative error).
    /// </summary>
    Blocked,
}

/// <summary>
/// Matrix products with f32 results. Canonical order, identical on every path: each output is a sum over k in
/// increasing order starting from 0 (an FMA chain, or its compensated form); with <c>accumulate</c> that sum is
/// then added to C once. Vectorised across output columns (never across k), so the order never changes.
/// </summary>
public static class Gemm
{
    /// <summary>Terms per block of <see cref="Accumulation.Blocked"/>.</summary>
    public const int BlockK = 32;

    [ThreadStatic] private static float[]? t_packB;
    [ThreadStatic] private static float[]? t_packA;

    /// <summary>C[m×n] (+)= A[m×k]·B, B k×n row-major, or n×k when <paramref name="transposeB"/> (A·Bᵀ).</summary>
    public static void MatMulF32(ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, Span<float> c, int ldc,
        int m, int n, int k, bool transposeB, bool accumulate, SimdPath path = SimdPath.Auto, Accumulation sum = Accumulation.Fma)
    {
        Check(a.Length, lda, m, k, "a");
        if (transposeB) Check(b.Length, ldb, n, k, "b"); else Check(b.Length, ldb, k, n, "b");
        Check(c.Length, ldc, m, n, "c");
        if (m == 0 || n == 0) return;
        if (sum == Accumulation.Compensated)
        {
            ReadOnlySpan<float> bk = b;
            int ldbk = ldb;
            if (transposeB)
            {
                bk = PackTransposed(b, ldb, n, k);
                ldbk = n;
            }
            Dispatch(a, lda, bk, ldbk, c, ldc, m, n, k, accumulate, path, compensated: true);
            return;
        }
        bool blocked = sum == Accumulation.Blocked;
        if (transposeB) Dispatch(a, lda, PackTransposed(b, ldb, n, k), n, c, ldc, m, n, k, accumulate, path, blocked: blocked);
        else Dispatch(a, lda, b, ldb, c, ldc, m, n, k, accumulate, path, blocked: blocked);
    }

    /// <summary>bf16 inputs, f32 products and accumulation (a bf16 × bf16 product is exact in f32).</summary>
    public static void MatMulBf16(ReadOnlySpan<ushort> a, int lda, ReadOnlySpan<ushort> b, int ldb, Span<float> c, int ldc,
        int m, int n, int k, bool transposeB, bool accumulate, SimdPath path = SimdPath.Auto)
    {
        Check(a.Length, lda, m, k, "a");
        if (transposeB) Check(b.Length, ldb, n, k, "b"); else Check(b.Length, ldb, k, n, "b");
        Check(c.Length, ldc, m, n, "c");
        if (m == 0 || n == 0) return;
        var af = Rent(ref t_packA, m * k);
        for (int i = 0; i < m; i++) Bf16.ToFloat(a.Slice(i * lda, k), af.AsSpan(i * k, k));
        var bf = Rent(ref t_packB, k * n);
        if (transposeB)
        {
            for (int j = 0; j < n; j++)
                for (int t = 0; t < k; t++) bf[t * n + j] = Bf16.ToFloat(b[j * ldb + t]);
        }
        else
        {
            for (int t = 0; t < k; t++) Bf16.ToFloat(b.Slice(t * ldb, n), bf.AsSpan(t * n, n));
        }
        Dispatch(af.AsSpan(0, m * k), k, bf.AsSpan(0, k * n), n, c, ldc, m, n, k, accumulate, path);
    }

    /// <summary>Bᵀ (k×n) from B (n×k) into the thread's scratch, so columns are contiguous; the k-sum order does not change.</summary>
    private static ReadOnlySpan<float> PackTransposed(ReadOnlySpan<float> b, int ldb, int n, int k)
    {
        var packed = Rent(ref t_packB, k * n);
        for (int j = 0; j < n; j++)
        {
            var row = b.Slice(j * ldb, k);
            for (int t = 0; t < k; t++) packed[t * n + j] = row[t];
        }
        return packed.AsSpan(0, k * n);
    }

    private static float[] Rent(ref float[]? slot, int size)
    {
        if (slot is null || slot.Length < size) slot = new float[Math.Max(size, 1024)];
        return slot;
    }

    private static void Check(int length, int ld, int rows, int cols, string name)
    {
        if (rows < 0 || cols < 0) throw new ArgumentOutOfRangeException(name, $"{name}: negative shape {rows}x{cols}");
        if (rows > 0 && ld < cols) throw new ArgumentException($"{name}: leading dimension {ld} < {cols} columns", name);
        long need = rows == 0 ? 0 : (long)(rows - 1) * ld + cols;
        if (length < need) throw new ArgumentException($"{name}: span of {length} elements is shorter than {rows}x{cols} with leading dimension {ld} ({need})", name);
    }

    private static void Dispatch(ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, Span<float> c, int ldc, int m, int n, int k, bool acc, SimdPath path,
        bool compensated = false, bool blocked = false)
    {
        ref float pa = ref MemoryMarshal.GetReference(a);
        ref float pb = ref MemoryMarshal.GetReference(b);
        ref float pc = ref MemoryMarshal.GetReference(c);
        switch (SimdPaths.Resolve(path))
        {
            case SimdPath.V512: Run<V512>(ref pa, lda, ref pb, ldb, ref pc, ldc, m, n, k, acc, compensated, blocked); break;
            case SimdPath.V256: Run<V256>(ref pa, lda, ref pb, ldb, ref pc, ldc, m, n, k, acc, compensated, blocked); break;
            case SimdPath.V128: Run<V128>(ref pa, lda, ref pb, ldb, ref pc, ldc, m, n, k, acc, compensated, blocked); break;
            default: Run<S1>(ref pa, lda, ref pb, ldb, ref pc, ldc, m, n, k, acc, compensated, blocked); break;
        }
    }

    private static void Run<TV>(ref float a, int lda, ref float b, int ldb, ref float c, int ldc, int m, int n, int k, bool acc, bool compensated, bool blocked)
        where TV : unmanaged, IVec<TV>
    {
        if (compensated) KernelCompensated<TV>(ref a, lda, ref b, ldb, ref c, ldc, m, n, k, acc);
        else Kernel<TV>(ref a, lda, ref b, ldb, ref c, ldc, m, n, k, acc, blocked ? BlockK : int.MaxValue);
    }

    /// <summary>4 rows × 2 vectors; per block of k a fresh chain (b..), added into the running sums (c..) once.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Block4x2Blocked<TV>(ref float a, int lda, ref float b, int ldb, ref float c, int ldc, int i, int j, int k, bool acc, int blockK = BlockK, float scale = 1f)
        where TV : unmanaged, IVec<TV>
    {
        int w = TV.Count;
        TV z = TV.Splat(0f);
        TV c00 = z, c01 = z, c10 = z, c11 = z, c20 = z, c21 = z, c30 = z, c31 = z;
        ref float a0 = ref Unsafe.Add(ref a, (nint)i * lda);
        ref float a1 = ref Unsafe.Add(ref a0, lda);
        ref float a2 = ref Unsafe.Add(ref a1, lda);
        ref float a3 = ref Unsafe.Add(ref a2, lda);
        ref float bj = ref Unsafe.Add(ref b, j);
        for (int t0 = 0; t0 < k; t0 += blockK)
        {
            TV b00 = z, b01 = z, b10 = z, b11 = z, b20 = z, b21 = z, b30 = z, b31 = z;
            int t1 = (int)Math.Min((long)t0 + blockK, k);
            nint bOff = (nint)t0 * ldb;
            for (int t = t0; t < t1; t++, bOff += ldb)
            {
                ref float brow = ref Unsafe.Add(ref bj, bOff);
                TV y0 = TV.Load(ref brow), y1 = TV.Load(ref Unsafe.Add(ref brow, w));
                TV x = TV.Splat(Unsafe.Add(ref a0, t)); b00 = TV.Fma(x, y0, b00); b01 = TV.Fma(x, y1, b01);
                x = TV.Splat(Unsafe.Add(ref a1, t)); b10 = TV.Fma(x, y0, b10); b11 = TV.Fma(x, y1, b11);
                x = TV.Splat(Unsafe.Add(ref a2, t)); b20 = TV.Fma(x, y0, b20); b21 = TV.Fma(x, y1, b21);
                x = TV.Splat(Unsafe.Add(ref a3, t)); b30 = TV.Fma(x, y0, b30); b31 = TV.Fma(x, y1, b31);
            }
            if (t0 == 0)
            {
                c00 = b00; c01 = b01; c10 = b10; c11 = b11; c20 = b20; c21 = b21; c30 = b30; c31 = b31;
            }
            else
            {
                c00 = TV.Add(c00, b00); c01 = TV.Add(c01, b01); c10 = TV.Add(c10, b10); c11 = TV.Add(c11, b11);
                c20 = TV.Add(c20, b20); c21 = TV.Add(c21, b21); c30 = TV.Add(c30, b30); c31 = TV.Add(c31, b31);
            }
        }
        if (scale != 1f)
        {
            TV sv = TV.Splat(scale);
            c00 = TV.Mul(c00, sv); c01 = TV.Mul(c01, sv); c10 = TV.Mul(c10, sv); c11 = TV.Mul(c11, sv);
            c20 = TV.Mul(c20, sv); c21 = TV.Mul(c21, sv); c30 = TV.Mul(c30, sv); c31 = TV.Mul(c31, sv);
        }
        ref float cr = ref Unsafe.Add(ref c, (nint)i * ldc + j);
        Put(c00, ref cr, acc); Put(c01, ref Unsafe.Add(ref cr, w), acc);
        cr = ref Unsafe.Add(ref cr, ldc); Put(c10, ref cr, acc); Put(c11, ref Unsafe.Add(ref cr, w), acc);
        cr = ref Unsafe.Add(ref cr, ldc); Put(c20, ref cr, acc); Put(c21, ref Unsafe.Add(ref cr, w), acc);
        cr = ref Unsafe.Add(ref cr, ldc); Put(c30, ref cr, acc); Put(c31, ref Unsafe.Add(ref cr, w), acc);
    }

    /// <summary>
    /// 4 rows × 4 vectors with no accumulate: sixteen chains in registers (enough independent FMAs to keep both of a
    /// wide core's FMA pipes busy through their latency). Each block of k is a fresh chain; the running sum of the
    /// blocks lives in C itself (C = first block, then C = C + each next block: the blocked order, through memory).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Block4x4Blocked<TV>(ref float a, int lda, ref float b, int ldb, ref float c, int ldc, int i, int j, int k, int blockK = BlockK, float scale = 1f)
        where TV : unmanaged, IVec<TV>
    {
        int w = TV.Count;
        TV z = TV.Splat(0f);
        ref float a0 = ref Unsafe.Add(ref a, (nint)i * lda);
        ref float a1 = ref Unsafe.Add(ref a0, lda);
        ref float a2 = ref Unsafe.Add(ref a1, lda);
        ref float a3 = ref Unsafe.Add(ref a2, lda);
        ref float bj = ref Unsafe.Add(ref b, j);
        ref float c0 = ref Unsafe.Add(ref c, (nint)i * ldc + j);
        ref float c1 = ref Unsafe.Add(ref c0, ldc);
        ref float c2 = ref Unsafe.Add(ref c1, ldc);
        ref float c3 = ref Unsafe.Add(ref c2, ldc);
        if (k <= 0)
        {
            Put4(ref c0, w, z, z, z, z, false); Put4(ref c1, w, z, z, z, z, false);
            Put4(ref c2, w, z, z, z, z, false); Put4(ref c3, w, z, z, z, z, false);
            return;
        }
        for (int t0 = 0; t0 < k; t0 += blockK)
        {
            TV b00 = z, b01 = z, b02 = z, b03 = z, b10 = z, b11 = z, b12 = z, b13 = z;
            TV b20 = z, b21 = z, b22 = z, b23 = z, b30 = z, b31 = z, b32 = z, b33 = z;
            int t1 = (int)Math.Min((long)t0 + blockK, k);
            // B's row offset stepped along, not t·ldb per step: the multiply and sign extensions were 3 of the loop's
            // ~37 instructions, and the 4 x 4 block ran 3-5 % faster on one core without them. (An offset, not a
            // stepped ref: a ref past the last row would point outside the matrix, which a GC may not tolerate.)
            nint bOff = (nint)t0 * ldb;
            for (int t = t0; t < t1; t++, bOff += ldb)
            {
                ref float brow = ref Unsafe.Add(ref bj, bOff);
                TV y0 = TV.Load(ref brow), y1 = TV.Load(ref Unsafe.Add(ref brow, w));
                TV y2 = TV.Load(ref Unsafe.Add(ref brow, 2 * w)), y3 = TV.Load(ref Unsafe.Add(ref brow, 3 * w));
                TV x = TV.Splat(Unsafe.Add(ref a0, t));
                b00 = TV.Fma(x, y0, b00); b01 = TV.Fma(x, y1, b01); b02 = TV.Fma(x, y2, b02); b03 = TV.Fma(x, y3, b03);
                x = TV.Splat(Unsafe.Add(ref a1, t));
                b10 = TV.Fma(x, y0, b10); b11 = TV.Fma(x, y1, b11); b12 = TV.Fma(x, y2, b12); b13 = TV.Fma(x, y3, b13);
                x = TV.Splat(Unsafe.Add(ref a2, t));
                b20 = TV.Fma(x, y0, b20); b21 = TV.Fma(x, y1, b21); b22 = TV.Fma(x, y2, b22); b23 = TV.Fma(x, y3, b23);
                x = TV.Splat(Unsafe.Add(ref a3, t));
                b30 = TV.Fma(x, y0, b30); b31 = TV.Fma(x, y1, b31); b32 = TV.Fma(x, y2, b32); b33 = TV.Fma(x, y3, b33);
            }
            bool first = t0 == 0;
            if (t1 == k && scale != 1f)
            {
                // The last block: the finished sum, then times the scale (two roundings, as a separate pass would).
                Put4Scaled(ref c0, w, b00, b01, b02, b03, !first, scale);
                Put4Scaled(ref c1, w, b10, b11, b12, b13, !first, scale);
                Put4Scaled(ref c2, w, b20, b21, b22, b23, !first, scale);
                Put4Scaled(ref c3, w, b30, b31, b32, b33, !first, scale);
                continue;
            }
            Put4(ref c0, w, b00, b01, b02, b03, !first);
            Put4(ref c1, w, b10, b11, b12, b13, !first);
            Put4(ref c2, w, b20, b21, b22, b23, !first);
            Put4(ref c3, w, b30, b31, b32, b33, !first);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Put4<TV>(ref float c, int w, TV v0, TV v1, TV v2, TV v3, bool add) where TV : unmanaged, IVec<TV>
    {
        Put(v0, ref c, add); Put(v1, ref Unsafe.Add(ref c, w), add);
        Put(v2, ref Unsafe.Add(ref c, 2 * w), add); Put(v3, ref Unsafe.Add(ref c, 3 * w), add);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Put4Scaled<TV>(ref float c, int w, TV v0, TV v1, TV v2, TV v3, bool add, float scale) where TV : unmanaged, IVec<TV>
    {
        TV sv = TV.Splat(scale);
        PutScaled(v0, ref c, add, sv); PutScaled(v1, ref Unsafe.Add(ref c, w), add, sv);
        PutScaled(v2, ref Unsafe.Add(ref c, 2 * w), add, sv); PutScaled(v3, ref Unsafe.Add(ref c, 3 * w), add, sv);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void PutScaled<TV>(TV v, ref float dst, bool add, TV scale) where TV : unmanaged, IVec<TV> =>
        TV.Store(TV.Mul(add ? TV.Add(TV.Load(ref dst), v) : v, scale), ref dst);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Block1Blocked<TV>(ref float a, int lda, ref float b, int ldb, ref float c, int ldc, int i, int j, int k, bool acc, int vectors = 2, int blockK = BlockK, float scale = 1f)
        where TV : unmanaged, IVec<TV>
    {
        int w = TV.Count;
        TV z = TV.Splat(0f);
        TV c0 = z, c1 = z;
        ref float ar = ref Unsafe.Add(ref a, (nint)i * lda);
        ref float bj = ref Unsafe.Add(ref b, j);
        for (int t0 = 0; t0 < k; t0 += blockK)
        {
            TV b0 = z, b1 = z;
            int t1 = (int)Math.Min((long)t0 + blockK, k);
            nint bOff = (nint)t0 * ldb;
            for (int t = t0; t < t1; t++, bOff += ldb)
            {
                ref float brow = ref Unsafe.Add(ref bj, bOff);
                TV x = TV.Splat(Unsafe.Add(ref ar, t));
                b0 = TV.Fma(x, TV.Load(ref brow), b0);
                if (vectors == 2) b1 = TV.Fma(x, TV.Load(ref Unsafe.Add(ref brow, w)), b1);
            }
            if (t0 == 0) { c0 = b0; c1 = b1; }
            else { c0 = TV.Add(c0, b0); c1 = TV.Add(c1, b1); }
        }
        if (scale != 1f)
        {
            c0 = TV.Mul(c0, TV.Splat(scale));
            c1 = TV.Mul(c1, TV.Splat(scale));
        }
        ref float cr = ref Unsafe.Add(ref c, (nint)i * ldc + j);
        Put(c0, ref cr, acc);
        if (vectors == 2) Put(c1, ref Unsafe.Add(ref cr, w), acc);
    }

    private static void KernelCompensated<TV>(ref float a, int lda, ref float b, int ldb, ref float c, int ldc, int m, int n, int k, bool acc)
        where TV : unmanaged, IVec<TV>
    {
        int j = 0;
        for (; j + TV.Count <= n; j += TV.Count)
            for (int i = 0; i < m; i++) Dot2<TV>(ref a, lda, ref b, ldb, ref c, ldc, i, j, k, acc);
        for (; j < n; j++)
            for (int i = 0; i < m; i++) Dot2<S1>(ref a, lda, ref b, ldb, ref c, ldc, i, j, k, acc);
    }

    /// <summary>Dot2: s += p with TwoSum, c += (sum error + product error), result s + c.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Dot2<TV>(ref float a, int lda, ref float b, int ldb, ref float c, int ldc, int i, int j, int k, bool acc)
        where TV : unmanaged, IVec<TV>
    {
        TV s = TV.Splat(0f), comp = s;
        ref float ar = ref Unsafe.Add(ref a, (nint)i * lda);
        ref float bj = ref Unsafe.Add(ref b, j);
        for (int t = 0; t < k; t++)
        {
            TV x = TV.Splat(Unsafe.Add(ref ar, t));
            TV y = TV.Load(ref Unsafe.Add(ref bj, (nint)t * ldb));
            TV p = TV.Mul(x, y);
            TV pe = TV.Fma(x, y, TV.Sub(TV.Splat(0f), p));
            TV s2 = TV.Add(s, p);
            TV bv = TV.Sub(s2, s);
            TV se = TV.Add(TV.Sub(s, TV.Sub(s2, bv)), TV.Sub(p, bv));
            comp = TV.Add(comp, TV.Add(se, pe));
            s = s2;
        }
        Put(TV.Add(s, comp), ref Unsafe.Add(ref c, (nint)i * ldc + j), acc);
    }

    /// <summary>
    /// Columns in blocks of 2 vectors, then 1 vector, then scalars; rows in blocks of 4, then 1. k is summed in
    /// blocks of <paramref name="blockK"/> (int.MaxValue: one FMA chain over all of k).
    /// </summary>
    private static void Kernel<TV>(ref float a, int lda, ref float b, int ldb, ref float c, int ldc, int m, int n, int k, bool acc, int blockK)
        where TV : unmanaged, IVec<TV>
    {
        int w = TV.Count;
        int j = 0;
        for (; j + 2 * w <= n; j += 2 * w)
        {
            int i = 0;
            for (; i + 4 <= m; i += 4) Block4x2Blocked<TV>(ref a, lda, ref b, ldb, ref c, ldc, i, j, k, acc, blockK);
            for (; i < m; i++) Block1Blocked<TV>(ref a, lda, ref b, ldb, ref c, ldc, i, j, k, acc, 2, blockK);
        }
        for (; j + w <= n; j += w)
            for (int i = 0; i < m; i++) Block1Blocked<TV>(ref a, lda, ref b, ldb, ref c, ldc, i, j, k, acc, 1, blockK);
        for (; j < n; j++)
            for (int i = 0; i < m; i++) Block1Blocked<S1>(ref a, lda, ref b, ldb, ref c, ldc, i, j, k, acc, 1, blockK);
    }

    /// <summary>4 rows × 2 vectors, one FMA chain over all of k: the blocked kernel with a single block.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Block4x2<TV>(ref float a, int lda, ref float b, int ldb, ref float c, int ldc, int i, int j, int k, bool acc)
        where TV : unmanaged, IVec<TV> => Block4x2Blocked<TV>(ref a, lda, ref b, ldb, ref c, ldc, i, j, k, acc, blockK: int.MaxValue);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Block1<TV>(ref float a, int lda, ref float b, int ldb, ref float c, int ldc, int i, int j, int k, bool acc, int vectors)
        where TV : unmanaged, IVec<TV> => Block1Blocked<TV>(ref a, lda, ref b, ldb, ref c, ldc, i, j, k, acc, vectors, blockK: int.MaxValue);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Put<TV>(TV v, ref float dst, bool acc) where TV : unmanaged, IVec<TV> =>
        TV.Store(acc ? TV.Add(TV.Load(ref dst), v) : v, ref dst);
}
