using HpcRpa.Memory;
using HpcRpa.Numerics;

namespace HpcRpa.Tests.Numerics;

/// <summary>Every SIMD path available on this host gives the scalar path's bits exactly.</summary>
public class SimdPathTests
{
    public static IEnumerable<object[]> Paths() => SimdPaths.Available.Where(p => p != SimdPath.Scalar).Select(p => new object[] { p });

    private static float[] Random(int n, int seed, float lo = -1, float hi = 1)
    {
        var rng = new SplitMix64((ulong)seed);
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = lo + (hi - lo) * rng.NextFloat();
        return a;
    }

    [Fact]
    public void ThisHostHasAVectorPath() => Assert.Contains(SimdPaths.Best, new[] { SimdPath.V128, SimdPath.V256, SimdPath.V512 });

    public static IEnumerable<object[]> Shapes()
    {
        int[][] shapes = [[1, 1, 1], [5, 37, 19], [4, 32, 8], [7, 65, 130], [16, 128, 64], [3, 15, 1], [9, 17, 33]];
        foreach (var path in SimdPaths.Available.Where(p => p != SimdPath.Scalar))
            foreach (var s in shapes)
                foreach (var tb in new[] { false, true })
                    foreach (var acc in new[] { false, true })
                        foreach (var sum in new[] { Accumulation.Fma, Accumulation.Compensated, Accumulation.Blocked })
                            yield return [path, s[0], s[1], s[2], tb, acc, sum];
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void MatMulF32PathsAreBitIdentical(SimdPath path, int m, int n, int k, bool transposeB, bool accumulate, Accumulation sum)
    {
        int lda = k + 3, ldb = (transposeB ? k : n) + 2, ldc = n + 1;
        var a = Random(m * lda, 1);
        var b = Random((transposeB ? n : k) * ldb, 2);
        var c0 = Random(m * ldc, 3);
        var c1 = (float[])c0.Clone();
        Gemm.MatMulF32(a, lda, b, ldb, c0, ldc, m, n, k, transposeB, accumulate, SimdPath.Scalar, sum);
        Gemm.MatMulF32(a, lda, b, ldb, c1, ldc, m, n, k, transposeB, accumulate, path, sum);
        Assert.Equal(c0, c1);
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void MatMulBf16PathsAreBitIdentical(SimdPath path, int m, int n, int k, bool transposeB, bool accumulate, Accumulation sum)
    {
        _ = sum;
        int lda = k, ldb = transposeB ? k : n, ldc = n;
        var a = Random(m * lda, 4).Select(Bf16.FromFloat).ToArray();
        var b = Random((transposeB ? n : k) * ldb, 5).Select(Bf16.FromFloat).ToArray();
        var c0 = new float[m * ldc];
        var c1 = new float[m * ldc];
        Gemm.MatMulBf16(a, lda, b, ldb, c0, ldc, m, n, k, transposeB, accumulate, SimdPath.Scalar);
        Gemm.MatMulBf16(a, lda, b, ldb, c1, ldc, m, n, k, transposeB, accumulate, path);
        Assert.Equal(c0, c1);
    }

    /// <summary>The fused row steps of the flash step: every path gives the scalar bits, and ExpSum is ExpRow's sum and values.</summary>
    [Theory]
    [InlineData(37, 0, 37)]
    [InlineData(128, 0, 128)]
    [InlineData(130, 5, 97)]
    [InlineData(16, 3, 3)]
    [InlineData(200, 17, 200)]
    [InlineData(128, 40, 60)]
    [InlineData(20, 18, 20)]
    [InlineData(37, 33, 37)]
    [InlineData(45, 40, 44)]
    [InlineData(50, 3, 50)]
    [InlineData(100, 17, 49)]
    public unsafe void RowStepsAreBitIdenticalAndAgree(int n, int lo, int hi)
    {
        // Rows a vector longer than n, the tail a sentinel no step may touch (ranges may end in the scalar tail).
        var x = Random(n + 16, 51, -8, 8);
        for (int j = n; j < x.Length; j++) x[j] = 12345f;
        float[] Scaled(SimdPath p, out float max)
        {
            var a = (float[])x.Clone();
            fixed (float* pa = a) max = VectorMath.ScaleMax(pa, lo, hi, 0.37f, p);
            return a;
        }
        var s0 = Scaled(SimdPath.Scalar, out float m0);
        Assert.Equal(hi > lo ? s0[lo..hi].Max() : float.NegativeInfinity, m0);
        for (int j = lo; j < hi; j++) Assert.Equal(x[j] * 0.37f, s0[j]);
        foreach (var path in SimdPaths.Available)
        {
            Assert.Equal(s0, Scaled(path, out float m1));
            Assert.Equal(m0, m1);
            var a = (float[])s0.Clone();
            var b = (float[])s0.Clone();
            float sa, sb;
            fixed (float* pa = a, pb = b)
            {
                sa = VectorMath.ExpSum(pa, n, lo, hi, 1.5f, path);
                sb = VectorMath.ExpRow(pb, n, lo, hi, 1.5f, 0f, SimdPath.Scalar);
            }
            Assert.Equal(b, a);
            Assert.Equal(sb, sa);
            for (int j = n; j < x.Length; j++) Assert.Equal(12345f, a[j]);
        }
    }

    /// <summary>Blocked sums are exactly: a fresh FMA chain per block of 32 terms, the blocks' sums added left to right.</summary>
    [Fact]
    public void BlockedAccumulationFollowsItsDefinition()
    {
        int m = 3, n = 19, k = 80;
        var a = Random(m * k, 31);
        var b = Random(k * n, 32);
        foreach (var path in SimdPaths.Available)
        {
            var c = new float[m * n];
            Gemm.MatMulF32(a, k, b, n, c, n, m, n, k, transposeB: false, accumulate: false, path, Accumulation.Blocked);
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++)
                {
                    float total = 0;
                    for (int t0 = 0; t0 < k; t0 += Gemm.BlockK)
                    {
                        float blk = 0;
                        for (int t = t0; t < Math.Min(t0 + Gemm.BlockK, k); t++) blk = MathF.FusedMultiplyAdd(a[i * k + t], b[t * n + j], blk);
                        total = t0 == 0 ? blk : total + blk;
                    }
                    Assert.Equal(total, c[i * n + j]);
                }
        }
    }

    [Theory]
    [InlineData(Accumulation.Fma, 2e-6)]
    [InlineData(Accumulation.Compensated, 1e-7)]
    [InlineData(Accumulation.Blocked, 1e-6)]
    public void MatMulScalarPathAgreesWithADoubleTripleLoop(Accumulation sum, double tol)
    {
        int m = 13, n = 29, k = 300;
        var a = Random(m * k, 6, 0, 1);
        var b = Random(n * k, 7, 0, 1);
        var c = new float[m * n];
        Gemm.MatMulF32(a, k, b, k, c, n, m, n, k, transposeB: true, accumulate: false, SimdPath.Scalar, sum);
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double s = 0;
                for (int t = 0; t < k; t++) s += (double)a[i * k + t] * b[j * k + t];
                Assert.True(Math.Abs(c[i * n + j] - s) <= tol * s, $"c[{i},{j}] = {c[i * n + j]} vs {s}");
            }
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void ExpRowMaxRowSumAndTheSoftmaxStepAreBitIdentical(SimdPath path)
    {
        foreach (int cols in new[] { 1, 7, 16, 17, 33, 128, 200, 1000 })
        {
            int rows = 3, ld = cols + 5;
            var x = Random(rows * ld, cols, -30, 30);
            x[0] = float.NaN;
            if (x.Length > 2) { x[1] = float.NegativeInfinity; x[2] = 100f; }
            var e0 = new float[x.Length];
            var e1 = new float[x.Length];
            VectorMath.Exp(x, e0, SimdPath.Scalar);
            VectorMath.Exp(x, e1, path);
            Assert.Equal(e0.Select(BitConverter.SingleToInt32Bits), e1.Select(BitConverter.SingleToInt32Bits));
            var m0 = new float[rows]; var m1 = new float[rows];
            var s0 = new float[rows]; var s1 = new float[rows];
            var y = Random(rows * ld, cols + 1, -5, 5);
            VectorMath.RowMax(y, rows, cols, ld, m0, SimdPath.Scalar);
            VectorMath.RowMax(y, rows, cols, ld, m1, path);
            VectorMath.RowSum(y, rows, cols, ld, s0, SimdPath.Scalar);
            VectorMath.RowSum(y, rows, cols, ld, s1, path);
            Assert.Equal(m0, m1);
            Assert.Equal(s0, s1);
            var p0 = new float[rows * ld]; var p1 = new float[rows * ld];
            VectorMath.ExpSubRowwise(y, rows, cols, ld, m0, p0, ld, s0, SimdPath.Scalar);
            VectorMath.ExpSubRowwise(y, rows, cols, ld, m0, p1, ld, s1, path);
            Assert.Equal(p0, p1);
            Assert.Equal(s0, s1);
        }
    }

    [Fact]
    public void RowMaxAndRowSumAreRight()
    {
        var x = new float[] { 1, -2, 3.5f, 0, 9, 9, -1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 0.25f };
        var m = new float[1]; var s = new float[1];
        VectorMath.RowMax(x, 1, x.Length, x.Length, m);
        VectorMath.RowSum(x, 1, x.Length, x.Length, s);
        Assert.Equal(9f, m[0]);
        Assert.Equal(x.Sum(v => (double)v), s[0], 5);
    }

    /// <summary>The running max of a row (scaled in place or not) is the plain loop's on every path, NaN included.</summary>
    [Fact]
    public unsafe void RowMaxesAreThePlainLoopsOnEveryPath()
    {
        var rng = new SplitMix64(17);
        foreach (int n in new[] { 0, 1, 15, 16, 17, 33, 64, 100, 512 })
            foreach (bool nan in new[] { false, true })
            {
                var x = new float[n + 8];
                for (int i = 0; i < x.Length; i++) x[i] = (rng.NextFloat() - 0.5f) * 100f;
                if (nan && n > 3) x[3 + n / 2] = float.NaN;
                int lo = Math.Min(3, n), hi = Math.Min(n + 3, x.Length);
                float want = float.NegativeInfinity, wantScaled = float.NegativeInfinity;
                for (int i = lo; i < hi; i++) { want = MathF.Max(want, x[i]); wantScaled = MathF.Max(wantScaled, x[i] * 0.37f); }
                foreach (var path in SimdPaths.Available)
                {
                    var y = (float[])x.Clone();
                    fixed (float* p = y)
                    {
                        Assert.Equal(want, VectorMath.Max(p, lo, hi, path));
                        Assert.Equal(x, y); // nothing stored
                        Assert.Equal(wantScaled, VectorMath.ScaleMax(p, lo, hi, 0.37f, path));
                    }
                    for (int i = 0; i < y.Length; i++) Assert.Equal(i >= lo && i < hi ? x[i] * 0.37f : x[i], y[i]);
                }
            }
    }

    /// <summary>Signed zeros: +0 is the larger (IEEE maximum), on every path and wherever it sits in the row.</summary>
    [Fact]
    public unsafe void RowMaxesOrderSignedZerosOnEveryPath()
    {
        foreach (int n in new[] { 1, 16, 40, 512 })
            foreach (int plusAt in new[] { -1, 0, n / 3, n - 1 })
            {
                var x = new float[n];
                Array.Fill(x, -0f);
                if (plusAt >= 0) x[plusAt] = 0f;
                int want = BitConverter.SingleToInt32Bits(plusAt >= 0 ? 0f : -0f);
                foreach (var path in SimdPaths.Available)
                    fixed (float* p = x)
                        Assert.Equal(want, BitConverter.SingleToInt32Bits(VectorMath.Max(p, 0, n, path)));
            }
    }

    /// <summary>The one-value exp (with its shortcuts at 0 and below the clamp) gives the vector exp's bits everywhere.</summary>
    [Fact]
    public void OneValueExpIsTheVectorExp()
    {
        var xs = new List<float> { 0f, -0f, -103.99f, -104f, -104.0001f, -200f, float.MinValue, float.NegativeInfinity, float.NaN, 1e-30f, -1e-30f, 88.8f, 100f };
        for (float v = -120f; v <= 90f; v += 0.0731f) xs.Add(v);
        var want = new float[xs.Count];
        foreach (var path in SimdPaths.Available)
        {
            VectorMath.Exp(xs.ToArray(), want, path);
            for (int i = 0; i < xs.Count; i++)
                Assert.Equal(BitConverter.SingleToUInt32Bits(want[i]), BitConverter.SingleToUInt32Bits(VectorMath.Exp(xs[i])));
        }
    }

    [Fact]
    public void ExpIsWithinTwoUlpsOfDoublePrecision()
    {
        int worst = 0;
        for (float v = -87f; v <= 88f; v += 0.0137f)
        {
            var y = new float[1];
            VectorMath.Exp([v], y);
            float want = (float)Math.Exp(v);
            int ulps = Math.Abs(BitConverter.SingleToInt32Bits(y[0]) - BitConverter.SingleToInt32Bits(want));
            worst = Math.Max(worst, ulps);
        }
        Assert.True(worst <= 2, $"worst error {worst} ulp");
        var edge = new float[4];
        VectorMath.Exp([float.NaN, float.NegativeInfinity, float.PositiveInfinity, 89f], edge);
        Assert.True(float.IsNaN(edge[0]));
        Assert.Equal(0f, edge[1]);
        Assert.Equal(float.PositiveInfinity, edge[2]);
        Assert.Equal(float.PositiveInfinity, edge[3]);
    }

    [Fact]
    public void BadShapesAreRejectedBeforeAnyAccess()
    {
        var a = new float[10];
        Assert.Throws<ArgumentException>(() => Gemm.MatMulF32(a, 4, a, 4, a, 4, 3, 4, 4, false, false));
        Assert.Throws<ArgumentException>(() => VectorMath.RowSum(a, 3, 4, 4, new float[3]));
        Assert.Throws<ArgumentException>(() => VectorMath.RowMax(a, 2, 5, 4, new float[2]));
    }
}
