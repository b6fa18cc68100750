using System.Globalization;
using HpcRpa.Timeline;

namespace HpcRpa.Cli.Output;

/// <summary>
/// The report of two kernels run one after the other on the same chip, derived from the two reports alone
/// (no chip lookup, so a chip from a JSON file works like a preset): counts, bytes, FLOPs and cycles add;
/// busy fractions, MBU and MFU are the cycle- or time-weighted means (each is a total over a duration); the
/// bound is decided again from the merged fractions.
/// </summary>
internal static class ReportSum
{
    public static RunReport Sequential(RunReport x, RunReport y, string kernel)
    {
        if (x.Chip != y.Chip || x.ClockHz != y.ClockHz)
            throw new ArgumentException($"cannot add reports of different chips ({x.Chip} at {x.ClockHz} Hz, {y.Chip} at {y.ClockHz} Hz)");
        long cycles = x.Cycles + y.Cycles;
        double seconds = x.Seconds + y.Seconds;
        var engines = new SortedDictionary<string, double>(StringComparer.Ordinal);
        var busy = new SortedDictionary<string, long>(StringComparer.Ordinal);
        foreach (var k in x.Engines.Keys.Union(y.Engines.Keys))
            engines[k] = (x.Engines.GetValueOrDefault(k) * x.Cycles + y.Engines.GetValueOrDefault(k) * y.Cycles) / cycles;
        foreach (var k in x.EngineBusyCycles.Keys.Union(y.EngineBusyCycles.Keys))
            busy[k] = x.EngineBusyCycles.GetValueOrDefault(k) + y.EngineBusyCycles.GetValueOrDefault(k);
        var (bound, why) = DecideBound(engines);
        return y with
        {
            Kernel = kernel,
            Cycles = cycles,
            Seconds = seconds,
            HbmBytesRead = x.HbmBytesRead + y.HbmBytesRead,
            HbmBytesWritten = x.HbmBytesWritten + y.HbmBytesWritten,
            Flops = x.Flops + y.Flops,
            // MBU·seconds is bytes over the chip's bandwidth (MFU·seconds likewise FLOPs over the peak), so the
            // time-weighted mean is the merged run's utilisation on whatever chip produced the reports.
            Mbu = (x.Mbu * x.Seconds + y.Mbu * y.Seconds) / seconds,
            Mfu = (x.Mfu * x.Seconds + y.Mfu * y.Seconds) / seconds,
            Bound = bound,
            BoundReason = why,
            Engines = engines,
            EngineBusyCycles = busy,
            DmaCount = x.DmaCount + y.DmaCount,
            ZeroByteDmaCount = x.ZeroByteDmaCount + y.ZeroByteDmaCount,
            DmaBytes = x.DmaBytes + y.DmaBytes,
            GridSteps = x.GridSteps + y.GridSteps,
            Events = x.Events + y.Events,
            StallCycles = x.StallCycles + y.StallCycles,
            DispatchCycles = x.DispatchCycles + y.DispatchCycles,
            // The second kernel starts after the first has released its VMEM.
            VmemPeakBytes = Math.Max(x.VmemPeakBytes, y.VmemPeakBytes),
        };
    }

    /// <summary>
    /// The rule of <see cref="RunReport.Between"/>, applied to merged fractions (that file is not ours to
    /// refactor right now; <c>ReportSumTests</c> checks the two agree on single reports): a resource busy at
    /// least half the run bounds it, HBM against the busiest compute engine; otherwise fixed costs do.
    /// </summary>
    public static (Bound Bound, string Reason) DecideBound(IReadOnlyDictionary<string, double> engines)
    {
        double mem = engines.GetValueOrDefault("hbm");
        var compute = new[] { "mxu", "vpu", "eup", "xlu" }.Select(k => (Name: k, Busy: engines.GetValueOrDefault(k))).MaxBy(e => e.Busy);
        var inv = CultureInfo.CurrentCulture;
        if (Math.Max(mem, compute.Busy) < 0.5)
            return (Bound.Overhead, string.Format(inv, "no resource busy half the time (HBM {0:P0}, {1} {2:P0}): fixed costs (dispatch, grid steps, DMA latency) dominate", mem, compute.Name, compute.Busy));
        if (mem >= compute.Busy)
            return (Bound.Memory, string.Format(inv, "HBM channel busy {0:P0} of the run ({1} {2:P0})", mem, compute.Name, compute.Busy));
        return (Bound.Compute, string.Format(inv, "{0} busy {1:P0} of the run (HBM {2:P0})", compute.Name, compute.Busy, mem));
    }
}
