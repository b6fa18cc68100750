using System.Text.Json;
using System.Text.Json.Serialization;

namespace HpcRpa.Timeline;

/// <summary>What bound a run.</summary>
public enum Bound
{
    Memory,
    Compute,
    Overhead,
}

/// <summary>
/// The account of one run on the model: time, traffic, work, utilisation and what bound it. MBU and MFU are
/// against the per-core peaks of the chip (the model emulates one TensorCore). Busy fractions are busy cycles
/// over total cycles; for groups of units (MXUs, DMA queues) the mean over the units.
/// </summary>
public sealed record RunReport
{
    public required string Chip { get; init; }
    public required string Kernel { get; init; }
    public required string Mode { get; init; }
    public required long Cycles { get; init; }
    public required double Seconds { get; init; }
    public required double ClockHz { get; init; }
    public required long HbmBytesRead { get; init; }
    public required long HbmBytesWritten { get; init; }
    public long HbmBytes => HbmBytesRead + HbmBytesWritten;
    public required double Flops { get; init; }
    public required double Mfu { get; init; }
    public required double Mbu { get; init; }
    public required Bound Bound { get; init; }
    /// <summary>Why the bound was chosen, in words (e.g. "HBM channel busy 97 % of the run").</summary>
    public required string BoundReason { get; init; }
    public required IReadOnlyDictionary<string, double> Engines { get; init; }
    public required IReadOnlyDictionary<string, long> EngineBusyCycles { get; init; }
    public required long DmaCount { get; init; }
    public required long ZeroByteDmaCount { get; init; }
    public required long DmaBytes { get; init; }
    public required long GridSteps { get; init; }
    public required long Events { get; init; }
    public required long StallCycles { get; init; }
    public required long DispatchCycles { get; init; }
    public long VmemPeakBytes { get; init; }

    /// <summary>Builds the report once the kernel has finished issuing.</summary>
    public static RunReport From(Timeline tl, string kernel, bool timingOnly, long vmemPeak = 0)
    {
        var zero = new TimelineSnapshot(0, 0, 0, 0, 0, 0, 0, 0, 0, new long[tl.Tracks.Count], 0, 0);
        return Between(tl, zero, tl.Snapshot(), kernel, timingOnly, vmemPeak);
    }

    /// <summary>
    /// What bounds a run, from its busy fractions per engine group: a resource busy at least half the run bounds
    /// it, HBM against the busiest compute engine; otherwise fixed costs (dispatch, grid-step bookkeeping,
    /// descriptor issue, DMA latency) dominate. The same rule serves merged reports of several kernels.
    /// </summary>
    public static (Bound Bound, string Reason) DecideBound(IReadOnlyDictionary<string, double> engines)
    {
        double mem = engines.GetValueOrDefault("hbm");
        var compute = new[] { "mxu", "vpu", "eup", "xlu" }.Select(k => (Name: k, Busy: engines.GetValueOrDefault(k))).MaxBy(e => e.Busy);
        if (Math.Max(mem, compute.Busy) < 0.5)
            return (Bound.Overhead, $"no resource busy half the time (HBM {mem:P0}, {compute.Name} {compute.Busy:P0}): fixed costs (dispatch, grid steps, DMA latency) dominate");
        if (mem >= compute.Busy)
            return (Bound.Memory, $"HBM channel busy {mem:P0} of the run ({compute.Name} {compute.Busy:P0})");
        return (Bound.Compute, $"{compute.Name} busy {compute.Busy:P0} of the run (HBM {mem:P0})");
    }

    /// <summary>The report of the part of a run between two snapshots (e.g. one of RPA's three calls).</summary>
    public static RunReport Between(Timeline tl, TimelineSnapshot a, TimelineSnapshot b, string kernel, bool timingOnly, long vmemPeak = 0)
    {
        long cycles = Math.Max(b.At - a.At, 1);
        var chip = tl.Chip;
        double seconds = cycles / chip.ClockHz;
        var busy = new SortedDictionary<string, long>(StringComparer.Ordinal);
        var frac = new SortedDictionary<string, double>(StringComparer.Ordinal);
        foreach (var g in tl.Tracks.GroupBy(t => t.Group))
        {
            if (g.Key is "wait" or "scope") continue;
            long sum = g.Sum(t => b.TrackBusy[t.Id] - a.TrackBusy[t.Id]);
            int n = g.Count();
            busy[g.Key] = sum / n;
            frac[g.Key] = sum / (double)n / cycles;
        }
        long scalarBusy = (b.ScalarIssueCycles - a.ScalarIssueCycles) + (b.TrackBusy[tl.Scalar.Track.Id] - a.TrackBusy[tl.Scalar.Track.Id]);
        frac["scalar"] = scalarBusy / (double)cycles;
        busy["scalar"] = scalarBusy;
        long read = b.HbmBytesRead - a.HbmBytesRead, written = b.HbmBytesWritten - a.HbmBytesWritten;
        double flops = b.Flops - a.Flops;
        double mfu = flops / (seconds * chip.PeakBf16FlopsPerCore);
        double mbu = (read + written) / (seconds * chip.HbmBandwidthPerCore);
        var (bound, why) = DecideBound(frac);
        long waitBusy = b.TrackBusy[tl.Scalar.WaitTrack.Id] - a.TrackBusy[tl.Scalar.WaitTrack.Id];
        return new RunReport
        {
            Chip = chip.Name,
            Kernel = kernel,
            Mode = timingOnly ? "timing-only" : "functional",
            Cycles = cycles,
            Seconds = seconds,
            ClockHz = chip.ClockHz,
            HbmBytesRead = read,
            HbmBytesWritten = written,
            Flops = flops,
            Mfu = mfu,
            Mbu = mbu,
            Bound = bound,
            BoundReason = why,
            Engines = frac,
            EngineBusyCycles = busy,
            DmaCount = b.DmaCount - a.DmaCount,
            ZeroByteDmaCount = b.ZeroByteDmaCount - a.ZeroByteDmaCount,
            DmaBytes = b.DmaBytes - a.DmaBytes,
            GridSteps = b.GridSteps - a.GridSteps,
            Events = b.Events - a.Events,
            StallCycles = waitBusy,
            DispatchCycles = b.DispatchCycles - a.DispatchCycles,
            VmemPeakBytes = vmemPeak,
        };
    }

    /// <summary>The report as JSON fields (snake_case), for --json; <paramref name="extra"/> adds kernel-specific fields.</summary>
    public Dictionary<string, object?> ToJsonFields(IDictionary<string, object?>? extra = null)
    {
        var d = new Dictionary<string, object?>
        {
            ["chip"] = Chip,
            ["kernel"] = Kernel,
            ["mode"] = Mode,
            ["cycles"] = Cycles,
            ["seconds"] = Seconds,
            ["clock_hz"] = ClockHz,
            ["flops"] = Flops,
            ["hbm_bytes"] = HbmBytes,
            ["hbm_bytes_read"] = HbmBytesRead,
            ["hbm_bytes_written"] = HbmBytesWritten,
            ["mfu"] = Mfu,
            ["mbu"] = Mbu,
            ["bound"] = Bound.ToString().ToLowerInvariant(),
            ["bound_reason"] = BoundReason,
            ["engines"] = Engines,
            ["engine_busy_cycles"] = EngineBusyCycles,
            ["dma_count"] = DmaCount,
            ["zero_byte_dma_count"] = ZeroByteDmaCount,
            ["dma_bytes"] = DmaBytes,
            ["grid_steps"] = GridSteps,
            ["events"] = Events,
            ["stall_cycles"] = StallCycles,
            ["dispatch_cycles"] = DispatchCycles,
            ["vmem_peak_bytes"] = VmemPeakBytes,
        };
        if (extra is not null) foreach (var (k, v) in extra) d[k] = v;
        return d;
    }

    public static readonly JsonSerializerOptions JsonOptions = new()
    {
        WriteIndented = false,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };
}
