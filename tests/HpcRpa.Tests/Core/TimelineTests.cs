using System.Text.Json;
using HpcRpa.Errors;
using HpcRpa.Hardware;
using HpcRpa.Kernels.Gemm;
using HpcRpa.Memory;
using HpcRpa.Numerics;
using HpcRpa.Pallas;
using HpcRpa.Timeline;

namespace HpcRpa.Tests.Core;

public class TimelineTests
{
    [Fact]
    public void DmaCostIsDescriptorPlusBandwidthPlusLatency()
    {
        var chip = ChipPresets.V6e;
        using var ctx = new KernelContext(chip, ExecutionMode.TimingOnly);
        var src = ctx.Hbm.Allocate("src", DType.F32, 1024, 1024);  // 4 MiB
        var dst = ctx.Vmem.Allocate("dst", DType.F32, 1024, 1024);
        var sem = ctx.Semaphore("s");
        var c = ctx.MakeAsyncCopy(src, dst, sem);
        c.Start();
        c.Wait();
        long issue = chip.ScalarIssueCycles;
        long expected = issue + chip.NsToCycles(chip.DmaDescriptorNs) + (long)Math.Ceiling((4 << 20) / chip.HbmBytesPerCycle) + chip.NsToCycles(chip.DmaLatencyNs);
        Assert.Equal(expected, ctx.Timeline.Now);
        ctx.Finish("dma");
    }

    [Fact]
    public void CopiesInFlightShareTheBandwidth()
    {
        var chip = ChipPresets.V5e;
        long One(int copies)
        {
            using var ctx = new KernelContext(chip, ExecutionMode.TimingOnly);
            var sem = ctx.Semaphore("s");
            var list = new List<AsyncCopy>();
            for (int i = 0; i < copies; i++)
                list.Add(ctx.MakeAsyncCopy(ctx.Hbm.Allocate($"s{i}", DType.F32, 2048, 1024), ctx.Vmem.Allocate($"d{i}", DType.F32, 2048, 1024), sem));
            foreach (var c in list) c.Start();
            foreach (var c in list) c.Wait();
            ctx.Finish("dma");
            return ctx.Timeline.Now;
        }
        long one = One(1), four = One(4);
        long xfer = (long)Math.Ceiling((8 << 20) / chip.HbmBytesPerCycle);
        // Four 8 MiB copies take four transfer times back to back on the channel, latency paid once.
        Assert.InRange(four - one, 3 * xfer, 3 * xfer + 16);
    }

    [Fact]
    public void WaitingForBytesThatNeverArriveIsAHangError()
    {
        using var ctx = new KernelContext(ChipPresets.V5e, ExecutionMode.TimingOnly);
        var sem = ctx.Semaphore("s");
        var e = Assert.Throws<SemaphoreException>(() => AsyncCopy.WaitBytes(ctx, sem, 4096));
        Assert.Contains("hang", e.Message);
    }

    [Fact]
    public void ExitingWithANonZeroSemaphoreIsAnError()
    {
        using var ctx = new KernelContext(ChipPresets.V5e, ExecutionMode.TimingOnly);
        var sem = ctx.Semaphore("leaky");
        ctx.MakeAsyncCopy(ctx.Hbm.Allocate("a", DType.F32, 8, 128), ctx.Vmem.Allocate("b", DType.F32, 8, 128), sem).Start();
        var e = Assert.Throws<SemaphoreException>(() => ctx.Finish("k"));
        Assert.Contains("leaky", e.Message);
    }

    private static (RunReport Report, float[] Z, KernelContext Ctx) SmallGemm(ExecutionMode mode, bool trace = false)
    {
        var ctx = new KernelContext(ChipPresets.V5e, mode, trace);
        var cfg = new GemmConfig(256, 384, 512, 128, 256, 128);
        var a = ctx.Hbm.Allocate("a", DType.BF16, 256, 512);
        var b = ctx.Hbm.Allocate("b", DType.BF16, 512, 384);
        var z = ctx.Hbm.Allocate("z", DType.F32, 256, 384);
        if (mode == ExecutionMode.Functional)
        {
            RandomFill.Uniform(a, 3, -1, 1);
            RandomFill.Uniform(b, 4, -1, 1);
        }
        var r = GemmKernel.Run(ctx, cfg with { OutDType = DType.F32 }, a, b, z);
        float[] values = mode == ExecutionMode.Functional ? z.Span<float>().ToArray() : [];
        if (mode == ExecutionMode.Functional)
        {
            // Independent check: double-precision product of the bf16 inputs.
            var av = new float[256 * 512]; var bv = new float[512 * 384];
            ElementCodec.Decode(DType.BF16, a.Span<byte>(), av);
            ElementCodec.Decode(DType.BF16, b.Span<byte>(), bv);
            for (int i = 0; i < 256; i += 17)
                for (int j = 0; j < 384; j += 13)
                {
                    double s = 0;
                    for (int t = 0; t < 512; t++) s += (double)av[i * 512 + t] * bv[t * 384 + j];
                    Assert.True(Math.Abs(values[i * 384 + j] - s) <= 1e-4 * Math.Max(1, Math.Abs(s)), $"z[{i},{j}] = {values[i * 384 + j]} vs {s}");
                }
        }
        return (r, values, ctx);
    }

    [Fact]
    public void FunctionalAndTimingOnlyChargeTheSameCycles()
    {
        var (f, _, c1) = SmallGemm(ExecutionMode.Functional);
        var (t, _, c2) = SmallGemm(ExecutionMode.TimingOnly);
        c1.Dispose(); c2.Dispose();
        Assert.Equal(f.Cycles, t.Cycles);
        Assert.Equal(f.HbmBytes, t.HbmBytes);
        Assert.Equal(f.Events, t.Events);
        Assert.Equal(2.0 * 256 * 384 * 512, f.Flops);
    }

    [Fact]
    public void RunsAreBitIdenticalAndDeterministic()
    {
        var (r1, z1, c1) = SmallGemm(ExecutionMode.Functional);
        var (r2, z2, c2) = SmallGemm(ExecutionMode.Functional);
        c1.Dispose(); c2.Dispose();
        Assert.Equal(r1.Cycles, r2.Cycles);
        Assert.Equal(z1, z2);
    }

    [Fact]
    public void TraceHasOneTrackPerEngineAndNoOverlappingSlices()
    {
        var (r, _, ctx) = SmallGemm(ExecutionMode.TimingOnly, trace: true);
        using var owned = ctx;
        var sw = new StringWriter();
        TraceExport.Write(ctx.Timeline, sw, "gemm");
        using var doc = JsonDocument.Parse(sw.ToString());
        var events = doc.RootElement.GetProperty("traceEvents").EnumerateArray().ToList();
        var names = events.Where(e => e.GetProperty("ph").GetString() == "M" && e.GetProperty("name").GetString() == "thread_name")
            .Select(e => e.GetProperty("args").GetProperty("name").GetString()).ToList();
        Assert.Equal(names.Count, names.Distinct().Count());
        foreach (var engine in new[] { "scalar", "hbm", "mxu0", "mxu3", "vpu", "eup", "xlu", "dma-q0" }) Assert.Contains(engine, names);
        var slices = events.Where(e => e.GetProperty("ph").GetString() == "X").ToList();
        Assert.NotEmpty(slices);
        foreach (var track in slices.GroupBy(e => e.GetProperty("tid").GetInt32()))
        {
            long prevEnd = -1;
            foreach (var s in track.Select(e => (Start: e.GetProperty("args").GetProperty("start_cycle").GetInt64(), Cycles: e.GetProperty("args").GetProperty("cycles").GetInt64())).OrderBy(x => x.Start))
            {
                Assert.True(s.Start >= prevEnd, $"overlap on track {track.Key}");
                prevEnd = s.Start + s.Cycles;
            }
        }
        Assert.Contains(slices, e => e.GetProperty("args").TryGetProperty("flops", out _));
        Assert.Contains(slices, e => e.GetProperty("args").TryGetProperty("bytes", out _));
        Assert.True(r.Cycles > 0);
    }
}
