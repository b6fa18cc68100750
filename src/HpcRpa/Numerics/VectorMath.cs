using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace HpcRpa.Numerics;

/// <summary>
/// exp, row max, row sum and the fused softmax step, each written once over <see cref="IVec{TSelf}"/> so the
/// scalar and every vector width compute the same bits. Row sums use one canonical order on every path:
/// element j goes to partial j mod 16, then the 16 partials are added pairwise ((p0+p8), (p1+p9), ... down to one).
/// </summary>
public static class VectorMath
{
    private const int Partials = 16;

    // exp(x) = 2^n · e^r with n = floor(x·log2 e + 1/2), r = x − n·ln2 (two-constant Cody–Waite split),
    // e^r by Cephes' expf polynomial (≤ 1 ulp on [−ln2/2, ln2/2]); 2^n applied with one rounding (in two halves,
    // or AVX-512's scalef) so results near the overflow and subnormal edges stay right.
    private const float Log2E = 1.44269504088896341f;
    private const float Ln2Hi = 0.693359375f;
    private const float Ln2Lo = -2.12194440e-4f;
    private const float P0 = 1.9875691500e-4f, P1 = 1.3981999507e-3f, P2 = 8.3334519073e-3f, P3 = 4.1665795894e-2f, P4 = 1.6666665459e-1f, P5 = 5.0000001201e-1f;
    private const float Hi = 88.8f, Lo = -104f;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TV ExpV<TV>(TV x) where TV : unmanaged, IVec<TV>
    {
        TV xc = TV.Clamp(x, Lo, Hi);
        TV n = TV.Floor(TV.Fma(xc, TV.Splat(Log2E), TV.Splat(0.5f)));
        TV r = TV.Fma(n, TV.Splat(-Ln2Hi), xc);
        r = TV.Fma(n, TV.Splat(-Ln2Lo), r);
        TV p = TV.Fma(TV.Splat(P0), r, TV.Splat(P1));
        p = TV.Fma(p, r, TV.Splat(P2));
        p = TV.Fma(p, r, TV.Splat(P3));
        p = TV.Fma(p, r, TV.Splat(P4));
        p = TV.Fma(p, r, TV.Splat(P5));
        TV y = TV.Add(TV.Fma(TV.Mul(p, r), r, r), TV.Splat(1f));
        return TV.KeepNaN(x, TV.ScaleByPow2(y, n));
    }

    public static void Exp(ReadOnlySpan<float> x, Span<float> y, SimdPath path = SimdPath.Auto)
    {
        if (y.Length < x.Length) throw new ArgumentException($"destination holds {y.Length}, source has {x.Length}", nameof(y));
        ref float px = ref MemoryMarshal.GetReference(x);
        ref float py = ref MemoryMarshal.GetReference(y);
        switch (SimdPaths.Resolve(path))
        {
            case SimdPath.V512: ExpRun<V512>(ref px, ref py, x.Length); break;
            case SimdPath.V256: ExpRun<V256>(ref px, ref py, x.Length); break;
            case SimdPath.V128: ExpRun<V128>(ref px, ref py, x.Length); break;
            default: ExpRun<S1>(ref px, ref py, x.Length); break;
        }
    }

    private static void ExpRun<TV>(ref float x, ref float y, int n) where TV : unmanaged, IVec<TV>
    {
        int i = 0;
        for (; i + TV.Count <= n; i += TV.Count) TV.Store(ExpV(TV.Load(ref Unsafe.Add(ref x, i))), ref Unsafe.Add(ref y, i));
        for (; i < n; i++) S1.Store(ExpV(S1.Load(ref Unsafe.Add(ref x, i))), ref Unsafe.Add(ref y, i));
    }

    public static void RowMax(ReadOnlySpan<float> x, int rows, int cols, int ld, Span<float> result, SimdPath path = SimdPath.Auto) =>
        RowReduce(x, rows, cols, ld, result, path, max: true);

    public static void RowSum(ReadOnlySpan<float> x, int rows, int cols, int ld, Span<float> result, SimdPath path = SimdPath.Auto) =>
        RowReduce(x, rows, cols, ld, result, path, max: false);

    private static void RowReduce(ReadOnlySpan<float> x, int rows, int cols, int ld, Span<float> result, SimdPath path, bool max)
    {
        CheckMatrix(x.Length, rows, cols, ld, nameof(x));
        if (result.Length < rows) throw new ArgumentException($"result holds {result.Length}, need {rows}", nameof(result));
        for (int r = 0; r < rows; r++)
        {
            ref float row = ref Unsafe.Add(ref MemoryMarshal.GetReference(x), (nint)r * ld);
            result[r] = Reduce(ref row, cols, path, max);
        }
    }

    private static float Reduce(ref float row, int cols, SimdPath path, bool max) => SimdPaths.Resolve(path) switch
    {
        SimdPath.V512 => Reduce<V512>(ref row, cols, max),
        SimdPath.V256 => Reduce<V256>(ref row, cols, max),
        SimdPath.V128 => Reduce<V128>(ref row, cols, max),
        _ => Reduce<S1>(ref row, cols, max),
    };

    private static float Reduce<TV>(ref float row, int cols, bool max) where TV : unmanaged, IVec<TV>
    {
        int per = Partials / TV.Count; // vectors covering one group of 16
        Span<float> part = stackalloc float[Partials];
        part.Fill(max ? float.NegativeInfinity : 0f);
        int full = cols / Partials * Partials;
        if (full > 0)
        {
            Span<TV> acc = stackalloc TV[per];
            for (int v = 0; v < per; v++) acc[v] = TV.Load(ref Unsafe.Add(ref row, v * TV.Count));
            for (int j = Partials; j < full; j += Partials)
                for (int v = 0; v < per; v++)
                {
                    TV e = TV.Load(ref Unsafe.Add(ref row, j + v * TV.Count));
                    acc[v] = max ? TV.Max(acc[v], e) : TV.Add(acc[v], e);
                }
            for (int v = 0; v < per; v++) TV.Store(acc[v], ref part[v * TV.Count]);
        }
        for (int j = full; j < cols; j++)
        {
            float e = Unsafe.Add(ref row, j);
            int p = j % Partials;
            part[p] = full == 0 && j < Partials ? e : max ? MathF.Max(part[p], e) : part[p] + e;
        }
        for (int w = Partials / 2; w >= 1; w /= 2)
            for (int p = 0; p < w; p++)
                part[p] = max ? MathF.Max(part[p], part[p + w]) : part[p] + part[p + w];
        return part[0];
    }

    /// <summary>p[r, c] = exp(s[r, c] − rowOffset[r]); rowSum[r] = Σ_c p[r, c] in the canonical order.</summary>
    public static void ExpSubRowwise(ReadOnlySpan<float> s, int rows, int cols, int lds, ReadOnlySpan<float> rowOffset,
        Span<float> p, int ldp, Span<float> rowSum, SimdPath path = SimdPath.Auto)
    {
        CheckMatrix(s.Length, rows, cols, lds, nameof(s));
        CheckMatrix(p.Length, rows, cols, ldp, nameof(p));
        if (rowOffset.Length < rows) throw new ArgumentException($"rowOffset holds {rowOffset.Length}, need {rows}", nameof(rowOffset));
        if (rowSum.Length < rows) throw new ArgumentException($"rowSum holds {rowSum.Length}, need {rows}", nameof(rowSum));
        var resolved = SimdPaths.Resolve(path);
        ref float ps = ref MemoryMarshal.GetReference(s);
        ref float pp = ref MemoryMarshal.GetReference(p);
        for (int r = 0; r < rows; r++)
        {
            ref float sr = ref Unsafe.Add(ref ps, (nint)r * lds);
            ref float pr = ref Unsafe.Add(ref pp, (nint)r * ldp);
            float off = rowOffset[r];
            switch (resolved)
            {
                case SimdPath.V512: ExpSubRow<V512>(ref sr, ref pr, cols, off); break;
                case SimdPath.V256: ExpSubRow<V256>(ref sr, ref pr, cols, off); break;
                case SimdPath.V128: ExpSubRow<V128>(ref sr, ref pr, cols, off); break;
                default: ExpSubRow<S1>(ref sr, ref pr, cols, off); break;
            }
            rowSum[r] = Reduce(ref pr, cols, resolved, max: false);
        }
    }

    private static void ExpSubRow<TV>(ref float s, ref float p, int cols, float offset) where TV : unmanaged, IVec<TV>
    {
        TV o = TV.Splat(offset);
        int j = 0;
        for (; j + TV.Count <= cols; j += TV.Count) TV.Store(ExpV(TV.Sub(TV.Load(ref Unsafe.Add(ref s, j)), o)), ref Unsafe.Add(ref p, j));
        for (; j < cols; j++) Unsafe.Add(ref p, j) = ExpV(S1.Splat(Unsafe.Add(ref s, j) - offset)).V;
    }

    /// <summary>e^x of one value, by the same polynomial as <see cref="Exp"/>.</summary>
    /// <remarks>
    /// Two inputs the flash step asks for on every row take no polynomial: 0 (an unchanged running max; the
    /// polynomial gives exactly 1 there) and anything at or below the clamp (a masked logit; the polynomial's value
    /// at the clamp, <see cref="ExpAtLo"/>, which is 0).
    /// </remarks>
    public static float Exp(float x) => x == 0f ? 1f : x <= Lo ? ExpAtLo : ExpV(S1.Splat(x)).V;

    private static readonly float ExpAtLo = ExpV(S1.Splat(Lo)).V;

    /// <summary>
    /// One row of a flash step: p[j] = exp(s[j] − m) for j in [lo, hi), <paramref name="outside"/> for the rest of [0, n),
    /// in place; returns Σ p over [0, n) in the canonical 16-partial order.
    /// </summary>
    public static unsafe float ExpRow(float* s, int n, int lo, int hi, float m, float outside, SimdPath path = SimdPath.Auto)
    {
        var resolved = SimdPaths.Resolve(path);
        ref float row = ref Unsafe.AsRef<float>(s);
        new Span<float>(s, lo).Fill(outside);
        new Span<float>(s + hi, n - hi).Fill(outside);
        ref float vis = ref Unsafe.Add(ref row, lo);
        switch (resolved)
        {
            case SimdPath.V512: ExpSubRow<V512>(ref vis, ref vis, hi - lo, m); break;
            case SimdPath.V256: ExpSubRow<V256>(ref vis, ref vis, hi - lo, m); break;
            case SimdPath.V128: ExpSubRow<V128>(ref vis, ref vis, hi - lo, m); break;
            default: ExpSubRow<S1>(ref vis, ref vis, hi - lo, m); break;
        }
        return Reduce(ref row, n, resolved, max: false);
    }

    /// <summary>The maximum of s[lo, hi) (−∞ for an empty range; NaN if any is). Exact and order-free on every path.</summary>
    public static unsafe float Max(float* s, int lo, int hi, SimdPath path = SimdPath.Auto) => SimdPaths.Resolve(path) switch
    {
        SimdPath.V512 => MaxOf<V512>(s + lo, hi - lo, 1f, scale: false),
        SimdPath.V256 => MaxOf<V256>(s + lo, hi - lo, 1f, scale: false),
        SimdPath.V128 => MaxOf<V128>(s + lo, hi - lo, 1f, scale: false),
        _ => MaxOf<S1>(s + lo, hi - lo, 1f, scale: false),
    };

    /// <summary>s[lo, hi) *= scale in place; returns their maximum (−∞ for an empty range). Exact on every path.</summary>
    public static unsafe float ScaleMax(float* s, int lo, int hi, float scale, SimdPath path = SimdPath.Auto) => SimdPaths.Resolve(path) switch
    {
        SimdPath.V512 => MaxOf<V512>(s + lo, hi - lo, scale, scale: true),
        SimdPath.V256 => MaxOf<V256>(s + lo, hi - lo, scale, scale: true),
        SimdPath.V128 => MaxOf<V128>(s + lo, hi - lo, scale, scale: true),
        _ => MaxOf<S1>(s + lo, hi - lo, scale, scale: true),
    };

    /// <summary>s[0, n) times k in place and their maximum; with <paramref name="scale"/> off, the maximum alone (nothing stored).</summary>
    // Compiled optimised at once: a method with a loop starts at tier 0 and leaves it only after a delay, and a
    // session's first calls make this one hundreds of thousands of times (measured: 1.2 µs a row at tier 0, 46 ns).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe float MaxOf<TV>(float* s, int n, float k, bool scale) where TV : unmanaged, IVec<TV>
    {
        TV kv = TV.Splat(k), m0 = TV.Splat(float.NegativeInfinity), m1 = m0;
        int j = 0, c = TV.Count;
        // Two running maxima: max is exact and order-free (IEEE maximum), so lanes and halves combine in any order.
        for (; j + 2 * c <= n; j += 2 * c)
        {
            TV v0 = TV.Load(ref s[j]), v1 = TV.Load(ref s[j + c]);
            if (scale)
            {
                v0 = TV.Mul(v0, kv); v1 = TV.Mul(v1, kv);
                TV.Store(v0, ref s[j]); TV.Store(v1, ref s[j + c]);
            }
            m0 = TV.Max(m0, v0); m1 = TV.Max(m1, v1);
        }
        for (; j + c <= n; j += c)
        {
            TV v = TV.Load(ref s[j]);
            if (scale) { v = TV.Mul(v, kv); TV.Store(v, ref s[j]); }
            m0 = TV.Max(m0, v);
        }
        float m = TV.MaxOfLanes(TV.Max(m0, m1));
        for (; j < n; j++) m = MathF.Max(m, scale ? s[j] *= k : s[j]);
        return m;
    }

    /// <summary>
    /// p[j] = exp(s[j] − m) for j in [lo, hi), 0 for the rest of [0, n), in place; returns Σ p in the canonical
    /// 16-partial order (element j to partial j mod 16, then halving) — the same sum <see cref="ExpRow"/> gives.
    /// </summary>
    public static unsafe float ExpSum(float* s, int n, int lo, int hi, float m, SimdPath path = SimdPath.Auto) => SimdPaths.Resolve(path) switch
    {
        SimdPath.V512 => ExpSum<V512>(s, n, lo, hi, m),
        SimdPath.V256 => ExpSum<V256>(s, n, lo, hi, m),
        SimdPath.V128 => ExpSum<V128>(s, n, lo, hi, m),
        _ => ExpSum<S1>(s, n, lo, hi, m),
    };

    private static unsafe float ExpSum<TV>(float* s, int n, int lo, int hi, float m) where TV : unmanaged, IVec<TV>
    {
        int c = TV.Count, per = Partials / c;
        int full = n / Partials * Partials;
        float* part = stackalloc float[Partials];
        TV off = TV.Splat(m), z = TV.Splat(0f);
        if (per <= 4)
        {
            // Blocks of 16 that no key of [lo, hi) reaches hold p = 0 and leave the partials (all ≥ 0) as adding +0
            // would: they are zeroed apart, so the loop over the rest has no call in it and keeps its sums in registers.
            int jLo = hi > lo ? Math.Min(lo / Partials * Partials, full) : full;
            int jHi = hi > lo ? Math.Min((hi + Partials - 1) / Partials * Partials, full) : full;
            for (int j = 0; j < jLo; j += c) TV.Store(z, ref s[j]);
            for (int j = jHi; j < full; j += c) TV.Store(z, ref s[j]);
            TV lanes = TV.Load(ref LaneIndex[0]);
            TV a0 = z, a1 = z, a2 = z, a3 = z;
            int j0 = jLo;
            if (per == 1)
            {
                // Whole blocks two at a time: two independent exps in flight (each a long dependent chain), their
                // sums added in block order as one at a time would.
                int wLo = Math.Min(Math.Max(jLo, (lo + Partials - 1) / Partials * Partials), jHi), wHi = Math.Min(jHi, hi / Partials * Partials);
                for (; j0 < wLo; j0 += Partials) a0 = TV.Add(a0, ExpBlock<TV>(s, j0, lo, hi, off, lanes, false));
                for (; j0 + 2 * Partials <= wHi; j0 += 2 * Partials)
                {
                    TV p0 = ExpBlock<TV>(s, j0, lo, hi, off, lanes, true);
                    TV p1 = ExpBlock<TV>(s, j0 + Partials, lo, hi, off, lanes, true);
                    a0 = TV.Add(TV.Add(a0, p0), p1);
                }
            }
            for (int j = j0; j < jHi; j += Partials)
            {
                bool whole = j >= lo && j + Partials <= hi;
                a0 = TV.Add(a0, ExpBlock<TV>(s, j, lo, hi, off, lanes, whole));
                if (per > 1) a1 = TV.Add(a1, ExpBlock<TV>(s, j + c, lo, hi, off, lanes, whole));
                if (per > 2)
                {
                    a2 = TV.Add(a2, ExpBlock<TV>(s, j + 2 * c, lo, hi, off, lanes, whole));
                    a3 = TV.Add(a3, ExpBlock<TV>(s, j + 3 * c, lo, hi, off, lanes, whole));
                }
            }
            // One vector of partials and no tail: halve it in registers (the same order as the loop below).
            if (per == 1 && full == n) return TV.HalvingSum(a0);
            TV.Store(a0, ref part[0]);
            if (per > 1) TV.Store(a1, ref part[c]);
            if (per > 2) { TV.Store(a2, ref part[2 * c]); TV.Store(a3, ref part[3 * c]); }
        }
        else
        {
            for (int i = 0; i < Partials; i++) part[i] = 0f;
            for (int j = 0; j < full; j++)
            {
                float p = j >= lo && j < hi ? ExpV(S1.Splat(s[j] - m)).V : 0f;
                s[j] = p;
                part[j % Partials] += p;
            }
        }
        for (int j = full; j < n; j++)
        {
            float p = j >= lo && j < hi ? ExpV(S1.Splat(s[j] - m)).V : 0f;
            s[j] = p;
            part[j % Partials] += p;
        }
        for (int w = Partials / 2; w >= 1; w /= 2)
            for (int i = 0; i < w; i++) part[i] += part[i + w];
        return part[0];
    }

    private static readonly float[] LaneIndex = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];

    /// <summary>exp(s − m) for the Count elements at j, zero where j + lane is outside [lo, hi); stored back.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe TV ExpBlock<TV>(float* s, int j, int lo, int hi, TV off, TV lanes, bool whole) where TV : unmanaged, IVec<TV>
    {
        TV p = ExpV(TV.Sub(TV.Load(ref s[j]), off));
        if (!whole)
        {
            // Lane positions as floats: for non-negative values the bit patterns order as the numbers do.
            TV at = TV.Add(lanes, TV.Splat(j));
            TV zero = TV.Splat(0f);
            p = TV.SelectWhereBitsAtLeast(at, BitConverter.SingleToUInt32Bits(hi), zero, p);
            p = TV.SelectWhereBitsAtLeast(at, BitConverter.SingleToUInt32Bits(lo), p, zero);
        }
        TV.Store(p, ref s[j]);
        return p;
    }

    /// <summary>x[r, c] *= rowScale[r].</summary>
    public static void ScaleRows(Span<float> x, int rows, int cols, int ld, ReadOnlySpan<float> rowScale, SimdPath path = SimdPath.Auto)
    {
        CheckMatrix(x.Length, rows, cols, ld, nameof(x));
        if (rowScale.Length < rows) throw new ArgumentException($"rowScale holds {rowScale.Length}, need {rows}", nameof(rowScale));
        // Elementwise multiply has no order to preserve: TensorPrimitives' vectorised Multiply is exact on every width.
        for (int r = 0; r < rows; r++)
        {
            var row = x.Slice(r * ld, cols);
            System.Numerics.Tensors.TensorPrimitives.Multiply(row, rowScale[r], row);
        }
    }

    private static void CheckMatrix(int length, int rows, int cols, int ld, string name)
    {
        if (rows < 0 || cols < 0) throw new ArgumentOutOfRangeException(name, $"{name}: negative shape {rows}x{cols}");
        if (rows > 0 && ld < cols) throw new ArgumentException($"{name}: leading dimension {ld} < {cols} columns", name);
        long need = rows == 0 ? 0 : (long)(rows - 1) * ld + cols;
        if (length < need) throw new ArgumentException($"{name}: span of {length} is shorter than {rows}x{cols} with leading dimension {ld}", name);
    }
}
