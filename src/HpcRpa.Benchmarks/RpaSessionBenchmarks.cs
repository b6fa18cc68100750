using BenchmarkDotNet.Attributes;
using HpcRpa.Hardware;
using HpcRpa.Kernels.RaggedPagedAttention;
using HpcRpa.Numerics;
using HpcRpa.Pallas;
using HpcRpa.Workloads;

namespace HpcRpa.Benchmarks;

/// <summary>
/// RPA calls through a kept <see cref="RpaSession"/> (the steady state of a serving loop: 0 B per call) beside the
/// one-shot <see cref="RpaRunner.Run"/> on the same data, on one host thread and on every core. Llama-3-8B shapes,
/// bf16, tpu7x, as <see cref="RpaBenchmarks"/>.
/// </summary>
[MemoryDiagnoser]
public class RpaSessionBenchmarks
{
    private BuiltBatch _decode = null!, _prefill = null!;
    private RpaProblem _decodeShapeOnly = null!;
    private RpaSession _decodeSession = null!, _prefillSession = null!, _timingSession = null!;
    private byte[] _decodeOut = [], _prefillOut = [];
    private RpaHostOptions _host = RpaHostOptions.Default;

    /// <summary>Host threads computing values: 1, or 0 = one per core.</summary>
    [Params(1, 0)]
    public int Threads { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var chip = ChipPresets.Tpu7x;
        _host = new RpaHostOptions { Threads = Threads };
        _decode = BatchBuilder.Build(ModelPreset.Llama3_8B, [new(SegmentKind.Decode, 16, 1, 1024)], 16, DType.BF16, seed: 1);
        _prefill = BatchBuilder.Build(ModelPreset.Llama3_8B, [new(SegmentKind.Prefill, 1, 512, 0)], 16, DType.BF16, seed: 2);
        _decodeShapeOnly = _decode.Problem with { Queries = [], Keys = [], Values = [], KvCache = [] };
        _decodeSession = new RpaSession(chip, RpaShape.Of(_decode.Problem), _decode.Options, host: _host);
        _prefillSession = new RpaSession(chip, RpaShape.Of(_prefill.Problem), _prefill.Options, host: _host);
        _timingSession = new RpaSession(chip, RpaShape.Of(_decode.Problem), _decode.Options, ExecutionMode.TimingOnly, host: _host);
        _decodeOut = new byte[_decodeSession.OutputBytes];
        _prefillOut = new byte[_prefillSession.OutputBytes];
        // The first call builds what the session keeps; the steady state is every call after it.
        SessionDecodeFunctional();
        SessionPrefillFunctional();
        SessionDecodeTimingOnly();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _decodeSession.Dispose();
        _prefillSession.Dispose();
        _timingSession.Dispose();
    }

    [Benchmark(Description = "one-shot RpaRunner.Run decode 16x1024 functional")]
    public long RunnerDecodeFunctional() => RpaRunner.Run(ChipPresets.Tpu7x, _decode.Problem, _decode.Options, host: _host).Report.Cycles;

    [Benchmark(Description = "session decode 16x1024 functional")]
    public long SessionDecodeFunctional() => _decodeSession.Run(_decode.Problem, _decodeOut).Total.Cycles;

    [Benchmark(Description = "one-shot RpaRunner.Run prefill 1x512 functional")]
    public long RunnerPrefillFunctional() => RpaRunner.Run(ChipPresets.Tpu7x, _prefill.Problem, _prefill.Options, host: _host).Report.Cycles;

    [Benchmark(Description = "session prefill 1x512 functional")]
    public long SessionPrefillFunctional() => _prefillSession.Run(_prefill.Problem, _prefillOut).Total.Cycles;

    [Benchmark(Description = "one-shot RpaRunner.Run decode 16x1024 timing-only")]
    public long RunnerDecodeTimingOnly() => RpaRunner.Run(ChipPresets.Tpu7x, _decodeShapeOnly, _decode.Options, ExecutionMode.TimingOnly, host: _host).Report.Cycles;

    [Benchmark(Description = "session decode 16x1024 timing-only")]
    public long SessionDecodeTimingOnly() => _timingSession.Run(_decodeShapeOnly).Total.Cycles;
}
