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
        var (bound, why) = RunReport.DecideBound(engines);
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
}
