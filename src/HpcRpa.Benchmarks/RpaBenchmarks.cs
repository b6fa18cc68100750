using BenchmarkDotNet.Attributes;
using HpcRpa.Hardware;
using HpcRpa.Kernels.KvCacheUpdate;
using HpcRpa.Kernels.RaggedPagedAttention;
using HpcRpa.Numerics;
using HpcRpa.Pallas;
using HpcRpa.Workloads;

namespace HpcRpa.Benchmarks;

/// <summary>RPA on the host in functional mode (values computed) and timing-only, Llama-3-8B shapes, bf16, one-shot (see RpaSessionBenchmarks for kept sessions); the KV update one-shot and kept.</summary>
[MemoryDiagnoser]
public class RpaBenchmarks
{
    private BuiltBatch _decode = null!, _prefill = null!;
    private KvUpdateProblem _update = null!;
    private KvUpdateSession _updateSession = null!;

    [GlobalSetup]
    public void Setup()
    {
        _decode = BatchBuilder.Build(ModelPreset.Llama3_8B, [new(SegmentKind.Decode, 16, 1, 1024)], 16, DType.BF16, seed: 1);
        _prefill = BatchBuilder.Build(ModelPreset.Llama3_8B, [new(SegmentKind.Prefill, 1, 512, 0)], 16, DType.BF16, seed: 2);
        _update = KvUpdateWorkload.Build(ModelPreset.Llama3_8B, KvUpdateWorkload.DefaultSegments, 32, DType.BF16, seed: 3);
        _updateSession = new KvUpdateSession(ChipPresets.V6e, KvUpdateShape.Of(_update), KvUpdateGrid.Dynamic);
        _updateSession.Run(_update); // the first call builds what the session keeps
    }

    [GlobalCleanup]
    public void Cleanup() => _updateSession.Dispose();

    [Benchmark(Description = "RPA decode 16x1024 functional")]
    public long DecodeFunctional() => RpaRunner.Run(ChipPresets.Tpu7x, _decode.Problem, _decode.Options).Report.Cycles;

    [Benchmark(Description = "RPA prefill 1x512 functional")]
    public long PrefillFunctional() => RpaRunner.Run(ChipPresets.Tpu7x, _prefill.Problem, _prefill.Options).Report.Cycles;

    [Benchmark(Description = "RPA decode 16x1024 timing-only")]
    public long DecodeTimingOnly() => RpaRunner.Run(ChipPresets.Tpu7x, _decode.Problem, _decode.Options, ExecutionMode.TimingOnly).Report.Cycles;

    [Benchmark(Description = "KV update (default workload, dynamic grid)")]
    public long KvUpdate() => KvUpdateKernel.Run(ChipPresets.V6e, _update, KvUpdateGrid.Dynamic).Report.Cycles;

    [Benchmark(Description = "KV update session (default workload, dynamic grid)")]
    public long SessionKvUpdate() => _updateSession.Run(_update).Cycles;
}
