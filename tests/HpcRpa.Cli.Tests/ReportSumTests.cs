using HpcRpa.Cli.Output;
using HpcRpa.Timeline;

namespace HpcRpa.Cli.Tests;

/// <summary>Two kernels' reports merged into the report of running them back to back (rpa --compare fused-vs-separate).</summary>
public class ReportSumTests
{
    private static RunReport Report(long cycles, double clockHz, long read, long written, double flops, double bwPerCore, double peakPerCore,
        Dictionary<string, double> engines, Bound bound, string reason, long dmas, long vmem) => new()
    {
        Chip = "custom", Kernel = "k", Mode = "functional", Cycles = cycles, Seconds = cycles / clockHz, ClockHz = clockHz,
        HbmBytesRead = read, HbmBytesWritten = written, Flops = flops,
        Mbu = (read + written) / (cycles / clockHz * bwPerCore), Mfu = flops / (cycles / clockHz * peakPerCore),
        Bound = bound, BoundReason = reason, Engines = engines,
        EngineBusyCycles = engines.ToDictionary(e => e.Key, e => (long)Math.Round(e.Value * cycles)),
        DmaCount = dmas, ZeroByteDmaCount = dmas / 4, DmaBytes = read + written, GridSteps = 3, Events = 10 * dmas,
        StallCycles = cycles / 10, DispatchCycles = 7, VmemPeakBytes = vmem,
    };

    [Fact]
    public void EveryFieldOfTheMergeIsTheRunBackToBack()
    {
        // A memory-bound update (HBM 90 %) of 1,000 cycles, then a compute-bound kernel (MXU 80 %) of 3,000 cycles,
        // on a made-up chip: 1 GHz, 100 B/cycle per core, 1,000 FLOP/cycle per core.
        double clock = 1e9, bw = 100e9, peak = 1000e9;
        var x = Report(1000, clock, 60_000, 30_000, 0, bw, peak, new() { ["hbm"] = 0.9, ["mxu"] = 0.0, ["scalar"] = 0.2 }, Bound.Memory, "x", 40, 1 << 20);
        var y = Report(3000, clock, 30_000, 0, 2.4e6, bw, peak, new() { ["hbm"] = 0.1, ["mxu"] = 0.8, ["vpu"] = 0.3, ["scalar"] = 0.4 }, Bound.Compute, "y", 8, 3 << 20);
        var s = ReportSum.Sequential(x, y, "both");

        Assert.Equal("both", s.Kernel);
        Assert.Equal(4000, s.Cycles);
        Assert.Equal(4e-6, s.Seconds, 15);
        Assert.Equal(90_000, s.HbmBytesRead);
        Assert.Equal(30_000, s.HbmBytesWritten);
        Assert.Equal(2.4e6, s.Flops);
        // Straight from the definitions on the made-up chip, not from the reports' own MBU/MFU.
        Assert.Equal(120_000 / (4e-6 * bw), s.Mbu, 12);
        Assert.Equal(2.4e6 / (4e-6 * peak), s.Mfu, 12);
        // Busy fractions over the whole 4,000 cycles: HBM (900 + 300) / 4000, MXU 2400 / 4000, VPU 900 / 4000.
        Assert.Equal(0.3, s.Engines["hbm"], 12);
        Assert.Equal(0.6, s.Engines["mxu"], 12);
        Assert.Equal(0.225, s.Engines["vpu"], 12);
        Assert.Equal(0.35, s.Engines["scalar"], 12);
        Assert.Equal(1200, s.EngineBusyCycles["hbm"]);
        Assert.Equal(900, s.EngineBusyCycles["vpu"]);
        // MXU busy 60 % of the merged run beats HBM 30 %: compute-bound, and the reason says so (neither input's).
        Assert.Equal(Bound.Compute, s.Bound);
        Assert.StartsWith("mxu busy 60", s.BoundReason);
        Assert.Equal(48, s.DmaCount);
        Assert.Equal(12, s.ZeroByteDmaCount);
        Assert.Equal(120_000, s.DmaBytes);
        Assert.Equal(6, s.GridSteps);
        Assert.Equal(480, s.Events);
        Assert.Equal(400, s.StallCycles);
        Assert.Equal(14, s.DispatchCycles);
        Assert.Equal(3 << 20, s.VmemPeakBytes);
    }

    [Fact]
    public void TheMergedBoundCanBeNeitherInputsBound()
    {
        // HBM 60 % for a short run and MXU 60 % for an equally short one: neither resource is busy half the merged run.
        var x = Report(1000, 1e9, 1000, 0, 0, 1e9, 1e12, new() { ["hbm"] = 0.6 }, Bound.Memory, "x", 1, 0);
        var y = Report(1000, 1e9, 0, 0, 1e6, 1e9, 1e12, new() { ["mxu"] = 0.6 }, Bound.Compute, "y", 1, 0);
        var s = ReportSum.Sequential(x, y, "both");
        Assert.Equal(Bound.Overhead, s.Bound);
        Assert.Contains("no resource busy half the time", s.BoundReason);
    }

    [Fact]
    public void ReportsOfDifferentChipsAreNotAdded()
    {
        var x = Report(1000, 1e9, 1000, 0, 0, 1e9, 1e12, new() { ["hbm"] = 0.6 }, Bound.Memory, "x", 1, 0);
        var e = Assert.Throws<ArgumentException>(() => ReportSum.Sequential(x, x with { Chip = "other" }, "both"));
        Assert.Contains("other", e.Message);
    }

    [Theory]
    [InlineData("copy", "--chip", "v6e", "--bytes", "64", "--timing-only")]                                       // overhead
    [InlineData("copy", "--chip", "v6e", "--bytes", "256MiB", "--timing-only")]                                   // memory
    [InlineData("rpa", "--chip", "tpu7x", "--decode", "8x2048", "--page-size", "64", "--timing-only")]            // compute
    public void TheBoundRuleAgreesWithTheReportsOwn(params string[] args)
    {
        // The rule merged reports use must decide as each kernel's own report did.
        var (code, output, err) = CliRunner.Run([.. args, "--json"]);
        Assert.True(code == 0, err + output);
        var j = System.Text.Json.JsonDocument.Parse(output).RootElement;
        var engines = j.GetProperty("engines").EnumerateObject().ToDictionary(e => e.Name, e => e.Value.GetDouble());
        var (bound, reason) = HpcRpa.Timeline.RunReport.DecideBound(engines);
        Assert.Equal(j.GetProperty("bound").GetString(), bound.ToString().ToLowerInvariant());
        Assert.Equal(j.GetProperty("bound_reason").GetString(), reason);
    }
}
