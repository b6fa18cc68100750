using HpcRpa.Hardware;
using HpcRpa.Kernels.Copy;
using HpcRpa.Kernels.Gemm;
using HpcRpa.Numerics;
using HpcRpa.Pallas;
using HpcRpa.Timeline;

namespace HpcRpa.Tests.Core;

/// <summary>The model against published measurements and against the roofline the chip figures imply.</summary>
public class PublishedReplayTests
{
    private static RunReport Gemm(ChipSpec chip, int n, int bm, int bk, int bn, GemmSchedule schedule, bool dispatch)
    {
        using var ctx = new KernelContext(chip, ExecutionMode.TimingOnly);
        var cfg = new GemmConfig(n, n, n, bm, bk, bn, DType.BF16, DType.BF16, schedule);
        var a = ctx.Hbm.Allocate("a", DType.BF16, n, n);
        var b = ctx.Hbm.Allocate("b", DType.BF16, n, n);
        var z = ctx.Hbm.Allocate("z", DType.BF16, n, n);
        return GemmKernel.Run(ctx, cfg, a, b, z, dispatch);
    }

    /// <summary>
    /// JAX Pallas matmul tutorial, TPU v5e, bf16 (spec table 3.1 [S13]): utilization as published. The model
    /// runs the tutorial's kernel with the host dispatch that Python's timeit includes.
    /// </summary>
    [Theory]
    [InlineData(1024, 128, 128, 128, 0.037)]
    [InlineData(4096, 128, 128, 128, 0.059)]
    [InlineData(8192, 128, 128, 128, 0.061)]
    [InlineData(1024, 512, 1024, 1024, 0.086)]
    [InlineData(4096, 512, 1024, 1024, 0.785)]
    [InlineData(8192, 512, 1024, 1024, 0.915)]
    public void V5eMatmulTutorialTableWithin20Percent(int n, int bm, int bk, int bn, double published)
    {
        var r = Gemm(ChipPresets.V5e, n, bm, bk, bn, GemmSchedule.Tutorial, dispatch: true);
        double rel = Math.Abs(r.Mfu - published) / published;
        Assert.True(rel <= 0.20, $"model {r.Mfu:P2} vs published {published:P1}: {rel:P1} off");
        Assert.Equal((long)(n / bm) * (n / bn) * (n / bk), r.GridSteps);
    }

    [Theory]
    [InlineData("v5e")]
    [InlineData("v5p")]
    [InlineData("v6e")]
    [InlineData("tpu7x")]
    public void LargeBf16GemmIsComputeBoundAbove85PercentMfu(string chip)
    {
        var r = Gemm(ChipPresets.Get(chip), 8192, 512, 1024, 1024, GemmSchedule.Auto, dispatch: false);
        Assert.Equal(Bound.Compute, r.Bound);
        Assert.True(r.Mfu >= 0.85, $"{chip}: MFU {r.Mfu:P1}");
        Assert.True(r.Mfu <= 1.0, $"{chip}: MFU {r.Mfu:P1} above peak");
    }

    [Fact]
    public void TutorialScheduleOnV6eIsMemoryBoundBecauseItsStepIntensityIsBelowTheRidge()
    {
        var cfg = new GemmConfig(8192, 8192, 8192);
        Assert.True(cfg.TutorialStepIntensity < ChipPresets.V6e.RidgeFlopsPerByte);
        var r = Gemm(ChipPresets.V6e, 8192, 512, 1024, 1024, GemmSchedule.Tutorial, dispatch: false);
        Assert.Equal(Bound.Memory, r.Bound);
        // Roofline: the step's intensity times the bandwidth caps the MFU.
        double roof = cfg.TutorialStepIntensity * ChipPresets.V6e.HbmBandwidthPerCore / ChipPresets.V6e.PeakBf16FlopsPerCore;
        Assert.True(r.Mfu <= roof * 1.001, $"MFU {r.Mfu:P1} above roofline {roof:P1}");
        Assert.True(r.Mfu >= roof * 0.9, $"MFU {r.Mfu:P1} far below roofline {roof:P1}");
    }

    [Theory]
    [InlineData("v5e")]
    [InlineData("v5p")]
    [InlineData("v6e")]
    [InlineData("tpu7x")]
    public void OneGiBCopyReaches90PercentOfHbmBandwidth(string chip)
    {
        var spec = ChipPresets.Get(chip);
        using var ctx = new KernelContext(spec, ExecutionMode.TimingOnly);
        var shape = CopyKernel.Layout(1L << 30);
        var src = ctx.Hbm.Allocate("src", DType.Int8, shape);
        var dst = ctx.Hbm.Allocate("dst", DType.Int8, shape);
        var r = CopyKernel.Run(ctx, src, dst);
        Assert.Equal(2L << 30, r.HbmBytes);
        Assert.True(r.Mbu >= 0.90, $"{chip}: MBU {r.Mbu:P1}");
        Assert.Equal(Bound.Memory, r.Bound);
    }

    [Theory]
    [InlineData(CopyMethod.Pipeline)]
    [InlineData(CopyMethod.Dma)]
    public void SixtyFourByteCopyIsLatencyBound(CopyMethod method)
    {
        var spec = ChipPresets.Tpu7x;
        using var ctx = new KernelContext(spec, ExecutionMode.TimingOnly);
        var src = ctx.Hbm.Allocate("src", DType.Int8, CopyKernel.Layout(64));
        var dst = ctx.Hbm.Allocate("dst", DType.Int8, CopyKernel.Layout(64));
        var r = CopyKernel.Run(ctx, src, dst, method);
        Assert.Equal(Bound.Overhead, r.Bound);
        // The bytes take a fraction of a cycle; the DMA latencies in the critical path (one copy, or copy-in
        // then write-back) are at least half the run.
        long latency = spec.NsToCycles(spec.DmaLatencyNs) * (method == CopyMethod.Pipeline ? 2 : 1);
        Assert.True(latency >= r.Cycles / 2, $"latency {latency} of {r.Cycles} cycles");
        Assert.True(r.Mbu < 0.01);
    }
}
