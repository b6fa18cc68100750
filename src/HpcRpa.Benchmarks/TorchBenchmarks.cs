using BenchmarkDotNet.Attributes;
using HpcRpa.Kernels.RaggedPagedAttention;
using HpcRpa.Numerics;
using HpcRpa.TorchSharp.Compare;
using HpcRpa.TorchSharp.Reference;
using HpcRpa.TorchSharp.Tensors;
using HpcRpa.Workloads;
using static TorchSharp.torch;

namespace HpcRpa.Benchmarks;

/// <summary>The TorchSharp reference on the same decode data as <see cref="RpaBenchmarks"/>.</summary>
[MemoryDiagnoser]
public class TorchBenchmarks
{
    private RpaProblem _p = null!;
    private Tensor _q = null!, _k = null!, _v = null!;

    [GlobalSetup]
    public void Setup()
    {
        _p = BatchBuilder.Build(ModelPreset.Llama3_8B, [new(SegmentKind.Decode, 16, 1, 1024)], 16, DType.BF16, seed: 1).Problem;
        (_k, _v) = TorchComparison.DecodePages(_p, _p.KvCache);
        _q = TensorBridge.FromBytes(_p.Queries, DType.BF16, _p.MaxNumTokens, _p.NumQHeads, _p.HeadDim);
    }

    [Benchmark(Description = "torch reference decode 16x1024 (gather + SDPA per sequence)")]
    public long TorchDecode()
    {
        var (o, _) = TorchPagedAttention.Run(_q, _k, _v, _p.KvLens, _p.PageIndices, _p.PagesPerSeq, _p.CuQLens, _p.NumSeqs, new TorchRpaOptions(SmScale: 1.0 / Math.Sqrt(128)));
        using (o) return o.shape[0];
    }
}
