using HpcRpa.Hardware;
using HpcRpa.Kernels.RaggedPagedAttention;
using HpcRpa.Numerics;
using HpcRpa.Pallas;
using HpcRpa.Workloads;

namespace HpcRpa.Tests.Kernels;

/// <summary>
/// How the host computes values — one combined pass or a timing pass plus value passes on several threads, DMAs
/// bound or copied — never shows: outputs, the updated cache and every report figure are bit-identical, and
/// the same as a timing-only run's cycles.
/// </summary>
public class RpaHostExecutionTests
{
    public static IEnumerable<object[]> Cases()
    {
        yield return ["decode+mixed bf16", DType.BF16, DType.BF16, new RpaOptions()];
        yield return ["f32, window", DType.F32, DType.F32, new RpaOptions { SlidingWindow = 40 }];
        yield return ["fp8 e4m3, scales, soft cap", DType.BF16, DType.Fp8E4M3, new RpaOptions { KScale = 0.5, VScale = 2, SoftCap = 30 }];
        yield return ["fp8 e5m2, prefill chunks", DType.BF16, DType.Fp8E5M2, new RpaOptions { ChunkPrefillSize = 64 }];
    }

    private static BuiltBatch Batch(DType q, DType kv) => BatchBuilder.Build(new ModelPreset("t", 8, 2, 128, 1),
        [new(SegmentKind.Decode, 5, 1, 300), new(SegmentKind.Prefill, 2, 64, 0), new(SegmentKind.Mixed, 3, 70, 130)], 16, kv, q, seed: 9);

    [Theory]
    [MemberData(nameof(Cases))]
    public void ThreadsAndCopyElisionChangeNoBitAndNoCycle(string name, DType q, DType kv, RpaOptions o)
    {
        _ = name;
        var b = Batch(q, kv);
        var options = b.Options with { SlidingWindow = o.SlidingWindow, KScale = o.KScale, VScale = o.VScale, SoftCap = o.SoftCap, ChunkPrefillSize = o.ChunkPrefillSize };
        (byte[] Out, byte[] Cache, RpaResult R) Run(RpaHostOptions host)
        {
            var p = b.Problem with { KvCache = (byte[])b.Problem.KvCache.Clone() };
            var r = RpaRunner.Run(ChipPresets.Tpu7x, p, options, host: host);
            return (r.Output!, p.KvCache, r);
        }
        var one = Run(new RpaHostOptions { Threads = 1 });
        var timing = RpaRunner.Run(ChipPresets.Tpu7x, b.Problem with { Queries = [], Keys = [], Values = [], KvCache = [] }, options, ExecutionMode.TimingOnly);
        foreach (var host in new[] { new RpaHostOptions { Threads = 1, CopyElision = false }, new RpaHostOptions { Threads = 2 }, new RpaHostOptions { Threads = 3, CopyElision = false }, new RpaHostOptions { Threads = 7, LayoutSplitBytes = 0 } })
        {
            var other = Run(host);
            Assert.Equal(one.Out, other.Out);
            Assert.Equal(one.Cache, other.Cache);
            Assert.Equal(one.R.Report, other.R.Report with { Engines = one.R.Report.Engines, EngineBusyCycles = one.R.Report.EngineBusyCycles });
            Assert.Equal(one.R.Report.Engines, other.R.Report.Engines);
            Assert.Equal(one.R.Report.EngineBusyCycles, other.R.Report.EngineBusyCycles);
            Assert.Equal(one.R.Cases.Select(c => c.Report.Cycles), other.R.Cases.Select(c => c.Report.Cycles));
        }
        Assert.Equal(one.R.Report.Cycles, timing.Report.Cycles);
        Assert.Equal(one.R.Report.Events, timing.Report.Events);
        Assert.Equal("functional", one.R.Report.Mode);
    }

    /// <summary>The values are the reference's whatever the threads: the split passes are checked against the oracle too.</summary>
    [Fact]
    public void ValuePassesOnSeveralThreadsMatchTheReference()
    {
        var p = RpaTestData.Build(RpaTestData.Mixed16, 32, 8, 128, DType.F32, DType.F32);
        var original = (byte[])p.KvCache.Clone();
        var r = RpaRunner.Run(ChipPresets.Tpu7x, p, new RpaOptions { MixedBlocks = new RpaBlockSizes(64, 256, 32, 128) }, host: new RpaHostOptions { Threads = 4 });
        var check = HpcRpa.Dispatch.ReferenceCheck.Rpa(p with { KvCache = original }, new RpaOptions(), r.Output!, p.KvCache);
        Assert.True(check.Pass, $"max abs err {check.MaxAbsErr:E3}");
        Assert.True(check.CacheEqual);
    }

    /// <summary>
    /// A core holds one call's VMEM at a time; so does each host thread of the value passes. With the limit at the
    /// largest single call's need, holding two calls' buffers at once would not fit.
    /// </summary>
    [Fact]
    public void ValuePassesHoldOneCallsVmemAtATime()
    {
        var b = Batch(DType.BF16, DType.BF16);
        var chip = ChipPresets.Tpu7x;
        var p = b.Problem;
        var timing = RpaRunner.Run(chip, p with { Queries = [], Keys = [], Values = [], KvCache = [] }, b.Options, ExecutionMode.TimingOnly);
        long need = timing.Report.VmemPeakBytes;
        foreach (var c in timing.Cases) need = Math.Max(need, RpaValidation.VmemBytes(p.Layout, c.Blocks));
        var o = b.Options with { VmemLimitBytes = need };
        var one = RpaRunner.Run(chip, p with { KvCache = (byte[])p.KvCache.Clone() }, o, host: new RpaHostOptions { Threads = 1 });
        var two = RpaRunner.Run(chip, p with { KvCache = (byte[])p.KvCache.Clone() }, o, host: new RpaHostOptions { Threads = 2 });
        Assert.Equal(one.Output, two.Output);
        Assert.Equal(3, timing.Cases.Count);
    }

    [Fact]
    public void ANegativeThreadCountIsATypedError()
    {
        var b = Batch(DType.BF16, DType.BF16);
        var before = (byte[])b.Problem.KvCache.Clone();
        var e = Assert.Throws<HpcRpa.Errors.ValidationException>(() => RpaRunner.Run(ChipPresets.Tpu7x, b.Problem, b.Options, host: new RpaHostOptions { Threads = -2 }));
        Assert.Equal("host.threads", e.Field);
        Assert.Equal("-2", e.Value);
        Assert.Equal(before, b.Problem.KvCache);
    }

    [Fact]
    public void ANegativeLayoutSplitIsATypedError()
    {
        var b = Batch(DType.BF16, DType.BF16);
        var before = (byte[])b.Problem.KvCache.Clone();
        var e = Assert.Throws<HpcRpa.Errors.ValidationException>(() => RpaRunner.Run(ChipPresets.Tpu7x, b.Problem, b.Options, host: new RpaHostOptions { Threads = 2, LayoutSplitBytes = -1 }));
        Assert.Equal("host.layout_split_bytes", e.Field);
        Assert.Equal("-1", e.Value);
        Assert.Equal(before, b.Problem.KvCache);
    }
}
