using HpcRpa.Dispatch;
using HpcRpa.Errors;
using HpcRpa.Hardware;
using HpcRpa.Kernels.RaggedPagedAttention;
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
}
