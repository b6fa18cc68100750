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
        var zero = new TimelineCounters();
        zero.Zero(tl);
        var now = new TimelineCounters();
        tl.CaptureInto(now);
        var stats = new RunStats();
        stats.Fill(tl, zero, now, kernel, timingOnly, vmemPeak);
        return stats.ToReport();
    }

    /// <summary>
    /// What bounds a run, from its busy fractions per engine group: a resource busy at least half the run bounds
    /// it, HBM against the busiest compute engine; otherwise fixed costs (dispatch, grid-step bookkeeping,
    /// descriptor issue, DMA latency) dominate. The same rule serves merged reports of several kernels.
    /// </summary>
    public static (Bound Bound, string Reason) DecideBound(IReadOnlyDictionary<string, double> engines)
    {
        var d = BoundDecision.Of(engines);
        return (d.Bound, d.Reason);
    }

    /// <summary>The report of the part of a run between two snapshots (e.g. one of RPA's three calls).</summary>
    public static RunReport Between(Timeline tl, TimelineSnapshot a, TimelineSnapshot b, string kernel, bool timingOnly, long vmemPeak = 0)
    {
        var stats = new RunStats();
        stats.Fill(tl, TimelineCounters.Of(a), TimelineCounters.Of(b), kernel, timingOnly, vmemPeak);
        return stats.ToReport();
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
