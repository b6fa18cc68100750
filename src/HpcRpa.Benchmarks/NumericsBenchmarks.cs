using BenchmarkDotNet.Attributes;
using HpcRpa.Memory;
using HpcRpa.Numerics;

namespace HpcRpa.Benchmarks;

/// <summary>The numeric primitives at attention-like shapes, on the best SIMD path and the scalar one.</summary>
[MemoryDiagnoser]
public class NumericsBenchmarks
{
    private float[] _a = [], _b = [], _c = [], _x = [], _y = [], _sum = [], _off = [];
    private ushort[] _ab = [], _bb = [];

    [Params(SimdPath.Auto, SimdPath.Scalar)]
    public SimdPath Path { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var rng = new SplitMix64(1);
        float[] R(int n) { var a = new float[n]; for (int i = 0; i < n; i++) a[i] = rng.NextFloat() * 2 - 1; return a; }
        _a = R(256 * 256); _b = R(256 * 256); _c = new float[256 * 256];
        _ab = _a.Select(Bf16.FromFloat).ToArray(); _bb = _b.Select(Bf16.FromFloat).ToArray();
        _x = R(64 * 1024); _y = new float[64 * 1024]; _sum = new float[64]; _off = new float[64];
    }

    [Benchmark(Description = "matmul f32 256x256x256")]
    public void MatMulF32() => Gemm.MatMulF32(_a, 256, _b, 256, _c, 256, 256, 256, 256, false, false, Path);

    [Benchmark(Description = "matmul f32 256x256x256 q.kT compensated")]
    public void MatMulF32Compensated() => Gemm.MatMulF32(_a, 256, _b, 256, _c, 256, 256, 256, 256, true, false, Path, Accumulation.Compensated);

    [Benchmark(Description = "matmul bf16 256x256x256")]
    public void MatMulBf16() => Gemm.MatMulBf16(_ab, 256, _bb, 256, _c, 256, 256, 256, 256, false, false, Path);

    [Benchmark(Description = "exp 64K")]
    public void Exp() => VectorMath.Exp(_x, _y, Path);

    [Benchmark(Description = "softmax step 64x1024 (exp(s - m), row sums)")]
    public void SoftmaxStep() => VectorMath.ExpSubRowwise(_x, 64, 1024, 1024, _off, _y, 1024, _sum, Path);
}
