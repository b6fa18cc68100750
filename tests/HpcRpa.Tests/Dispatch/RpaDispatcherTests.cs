using HpcRpa.Dispatch;
using HpcRpa.Errors;
using HpcRpa.Hardware;
using HpcRpa.Kernels.RaggedPagedAttention;
using HpcRpa.Memory;
using HpcRpa.Numerics;
using HpcRpa.Pallas;
using HpcRpa.Tests.Kernels;
using Microsoft.Extensions.Logging;

namespace HpcRpa.Tests.Dispatch;

public class RpaDispatcherTests
{
    private sealed class ListLogger : ILogger
    {
        public List<(LogLevel Level, string Message)> Entries { get; } = [];
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => true;
        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Entries.Add((logLevel, formatter(state, exception)));
    }

    private static RpaProblem Problem(DType kv = DType.BF16) =>
        RpaTestData.Build([(1, 20), (1, 9), (6, 30)], 8, 2, 64, DType.BF16, kv, pageSize: 4, numPages: 48, distribution: [2, 2, 3]);

    private static readonly RpaOptions Options = new() { DecodeBlocks = new(1, 8, 1, 4), MixedBlocks = new(8, 16, 4, 8) };

    [Fact]
    public void RoutesEachCaseToItsVariantAndCachesIt()
    {
        var log = new ListLogger();
        var d = new RpaDispatcher(ChipPresets.V6e, log);
        var r1 = d.Run(Problem(), Options);
        Assert.False(r1.FellBack);
        Assert.Equal("RPAd-p_4-bq_1_1-bkv_8_4 + RPAm-p_4-bq_8_4-bkv_16_8", r1.Variant);
        Assert.Equal(2, d.Cache.Count);
        Assert.Equal(2, d.Cache.Misses);
        d.Run(Problem(), Options);
        Assert.Equal(2, d.Cache.Hits);
        Assert.Contains(log.Entries, e => e.Message.Contains("RPAd-p_4-bq_1_1-bkv_8_4") && e.Message.Contains("compiled") && e.Message.Contains("Hq 8"));
        Assert.Contains(log.Entries, e => e.Message.Contains("RPAm-p_4-bq_8_4-bkv_16_8") && e.Message.Contains("cached"));
        // Another chip or block size is another variant.
        var key = RpaVariantKey.For("v6e", RpaCase.Mixed, Problem(), Options, new(8, 16, 4, 8));
        Assert.Equal(key, RpaVariantKey.For("v6e", RpaCase.Mixed, Problem(), Options, new(8, 16, 4, 8)));
        Assert.Equal(key.GetHashCode(), RpaVariantKey.For("v6e", RpaCase.Mixed, Problem(), Options, new(8, 16, 4, 8)).GetHashCode());
        Assert.NotEqual(key, RpaVariantKey.For("tpu7x", RpaCase.Mixed, Problem(), Options, new(8, 16, 4, 8)));
        Assert.NotEqual(key, RpaVariantKey.For("v6e", RpaCase.Mixed, Problem(), Options, new(8, 32, 4, 8)));
    }

    [Fact]
    public void UnsupportedShapeFallsBackToTheReferenceWithALoggedReason()
    {
        var log = new ListLogger();
        var p = Problem(DType.F16);
        var before = (byte[])p.KvCache.Clone();
        var r = new RpaDispatcher(ChipPresets.Tpu7x, log).Run(p, Options);
        Assert.True(r.FellBack);
        Assert.Equal("reference", r.Variant);
        Assert.Contains("f16", r.FallbackReason);
        Assert.Contains(log.Entries, e => e.Level == LogLevel.Warning && e.Message.Contains("falling back") && e.Message.Contains("f16"));
        // The fallback's output is the reference's, in the q dtype, and it wrote the cache like the kernel would.
        var (want, cache) = ReferenceBridge.Run(p with { KvCache = before }, Options);
        for (int i = 0; i < want.Length; i++) Assert.Equal((float)want[i], ElementCodec.Load(DType.BF16, r.Output!, i), 2e-2f * (1 + Math.Abs((float)want[i])));
        Assert.Equal(cache, p.KvCache);
    }

    [Fact]
    public void TheFallbackUpdatesANativeCacheLikeAnArray()
    {
        var p = Problem(DType.F16);
        using var buffer = NativeBuffer.CopyOf(p.KvCache);
        var r = new RpaDispatcher(ChipPresets.Tpu7x).Run(p with { KvCache = [], KvCacheBuffer = buffer }, Options);
        Assert.True(r.FellBack);
        var want = new RpaDispatcher(ChipPresets.Tpu7x).Run(p, Options);
        Assert.Equal(want.Output, r.Output);
        Assert.True(buffer.Bytes(0, p.KvCache.Length).SequenceEqual(p.KvCache));
        Assert.NotEqual(Problem(DType.F16).KvCache, p.KvCache); // the update did write
    }

    [Fact]
    public void DefaultBlocksThatCannotFitVmemFallBack()
    {
        var p = RpaTestData.Build([(64, 64)], 32, 8, 128, DType.F32, DType.F32, pageSize: 16, numPages: 8);
        var o = new RpaOptions { VmemLimitBytes = 1 << 20 };
        var r = new RpaDispatcher(ChipPresets.Tpu7x).Run(p, o);
        Assert.True(r.FellBack);
        Assert.Contains("VMEM", r.FallbackReason);
    }

    [Fact]
    public void InvalidInputsAreErrorsNotFallbacks()
    {
        var p = Problem();
        var bad = p with { KvLens = [1000, 9, 30, 0, 0, 0, 0, 0] };
        Assert.Throws<ValidationException>(() => new RpaDispatcher(ChipPresets.V6e).Run(bad, Options));
        Assert.Throws<ValidationException>(() => new RpaDispatcher(ChipPresets.V6e).Run(Problem(DType.F16), Options, ExecutionMode.TimingOnly));
    }

    public static TheoryData<string, string> BadFallbackInputs() => new()
    {
        { "window 0", "sliding_window" },
        { "window -1", "sliding_window" },
        { "soft cap 0", "soft_cap" },
        { "NaN sm_scale", "sm_scale" },
        { "k_scale 0", "k_scale" },
        { "short keys", "keys" },
        { "short values", "values" },
        { "short queries", "queries" },
        { "short cache", "kv_cache" },
        { "vmem limit above the chip", "vmem_limit_bytes" },
    };

    private static (RpaProblem, RpaOptions) Break(string what, RpaProblem p, RpaOptions o) => what switch
    {
        "window 0" => (p, o with { SlidingWindow = 0 }),
        "window -1" => (p, o with { SlidingWindow = -1 }),
        "soft cap 0" => (p, o with { SoftCap = 0.0 }),
        "NaN sm_scale" => (p, o with { SmScale = double.NaN }),
        "k_scale 0" => (p, o with { KScale = 0.0 }),
        "short keys" => (p with { Keys = p.Keys[..^2] }, o),
        "short values" => (p with { Values = p.Values[..^2] }, o),
        "short queries" => (p with { Queries = p.Queries[..^2] }, o),
        "short cache" => (p with { KvCache = p.KvCache[..^2] }, o),
        "vmem limit above the chip" => (p, o with { VmemLimitBytes = ChipPresets.Tpu7x.VmemBytesPerCore + 1 }),
        _ => throw new ArgumentException(what),
    };

    [Theory]
    [MemberData(nameof(BadFallbackInputs))]
    public void TheF16FallbackValidatesTheCallersOptionsAndArrays(string what, string field)
    {
        var (p, o) = Break(what, Problem(DType.F16), Options);
        var cacheBefore = (byte[])p.KvCache.Clone();
        var e = Assert.Throws<ValidationException>(() => new RpaDispatcher(ChipPresets.Tpu7x).Run(p, o));
        Assert.Equal(field, e.Field);
        Assert.Equal(cacheBefore, p.KvCache); // nothing written
    }

    [Theory]
    [MemberData(nameof(BadFallbackInputs))]
    public void TheVmemFallbackValidatesTheCallersOptionsAndArrays(string what, string field)
    {
        var p0 = RpaTestData.Build([(64, 64)], 32, 8, 128, DType.F32, DType.F32, pageSize: 16, numPages: 8);
        var o0 = new RpaOptions { VmemLimitBytes = 1 << 20 };
        var d = new RpaDispatcher(ChipPresets.Tpu7x);
        Assert.Contains("VMEM", d.UnsupportedReason(p0, o0)); // the unbroken problem takes the fallback
        var (p, o) = Break(what, p0, o0);
        var e = Assert.Throws<ValidationException>(() => d.Run(p, o));
        Assert.Equal(field, e.Field);
    }

    [Fact]
    public void TheFallbackComputesWithTheCallersOptions()
    {
        // A window of 3 and a soft cap change the output; the fallback must pass them to the reference.
        var o = Options with { SlidingWindow = 3, SoftCap = 0.5, SmScale = 0.125 };
        var p = Problem(DType.F16);
        var before = (byte[])p.KvCache.Clone();
        var r = new RpaDispatcher(ChipPresets.Tpu7x).Run(p, o);
        Assert.True(r.FellBack);
        var (want, _) = ReferenceBridge.Run(p with { KvCache = before }, o);
        var (plain, _) = ReferenceBridge.Run(p with { KvCache = before }, Options);
        double maxDiff = 0;
        for (int i = 0; i < want.Length; i++)
        {
            Assert.Equal((float)want[i], ElementCodec.Load(DType.BF16, r.Output!, i), 2e-2f * (1 + Math.Abs((float)want[i])));
            maxDiff = Math.Max(maxDiff, Math.Abs(want[i] - plain[i]));
        }
        Assert.True(maxDiff > 0.05, $"the options should change the output; max difference {maxDiff}");
    }

    [Fact]
    public void TimingOnlyFallbackNamesTheFieldThatFailed()
    {
        var f16 = Assert.Throws<ValidationException>(() => new RpaDispatcher(ChipPresets.V6e).Run(Problem(DType.F16), Options, ExecutionMode.TimingOnly));
        Assert.Equal("kv_cache.dtype", f16.Field);
        Assert.Equal("f16", f16.Value);

        var p = RpaTestData.Build([(64, 64)], 32, 8, 128, DType.F32, DType.F32, pageSize: 16, numPages: 8);
        var vmem = Assert.Throws<ValidationException>(() => new RpaDispatcher(ChipPresets.Tpu7x).Run(p, new RpaOptions { VmemLimitBytes = 1 << 20 }, ExecutionMode.TimingOnly));
        Assert.Equal("mixed_block_sizes", vmem.Field);
        Assert.StartsWith("(", vmem.Value);
        Assert.Contains("VMEM", vmem.Message);
    }

    /// <summary>A dispatcher's session runs the variants Run would, counts them in the cache once, and refuses an f16 cache it cannot fall back from.</summary>
    [Fact]
    public void ASessionFromTheDispatcherRecordsItsVariantsOnce()
    {
        var log = new ListLogger();
        var d = new RpaDispatcher(ChipPresets.V6e, log);
        var p = Problem();
        using var session = d.OpenSession(RpaShape.Of(p), Options, host: new RpaHostOptions { Threads = 1 });
        var output = new byte[session.OutputBytes];
        var want = RpaRunner.Run(ChipPresets.V6e, p with { KvCache = (byte[])p.KvCache.Clone() }, Options);
        for (int i = 0; i < 3; i++) session.Run(p with { KvCache = (byte[])p.KvCache.Clone() }, output);
        Assert.Equal(want.Output, output);
        Assert.Equal(2, d.Cache.Count);
        Assert.Equal(2, d.Cache.Misses);
        Assert.Contains(log.Entries, e => e.Message.Contains("RPA session on v6e"));
        Assert.Contains(log.Entries, e => e.Message.Contains("RPAm-p_4-bq_8_4-bkv_16_8") && e.Message.Contains("compiled"));
        Assert.Equal(want.Report.Kernel, session.Report.Total.Kernel);

        var f16 = Assert.Throws<ValidationException>(() => d.OpenSession(RpaShape.Of(Problem(DType.F16)), Options));
        Assert.Equal("kv_cache.dtype", f16.Field);
    }
}
