using HpcRpa.Hardware;
using HpcRpa.Pallas;
using HpcRpa.Timeline;

namespace HpcRpa.Kernels.RaggedPagedAttention;

/// <summary>What one RPA call ran: per case, its scope name, blocks and sequence range.</summary>
public sealed record RpaCaseRun(RpaCase Case, string Scope, RpaBlockSizes Blocks, int SeqStart, int SeqEnd, RunReport Report);

/// <summary>The outcome of an RPA run: output [T, Hq, D] in the q dtype (functional mode) and the report.</summary>
public sealed record RpaResult(byte[]? Output, RunReport Report, IReadOnlyList<RpaCaseRun> Cases, Timeline.Timeline Timeline);

/// <summary>
/// How the host computes a functional run's values. Nothing here changes a value or a cycle: outputs, caches and
/// reports are bit-identical across every setting (tested).
/// </summary>
public sealed record RpaHostOptions
{
    /// <summary>
    /// Threads computing values; 0 (the default) takes one per core. With one, each op computes its values as it is
    /// charged, in one pass. With more, the run is a timing pass — the cycle model exactly as a timing-only run —
    /// and value passes over the q blocks spread across the threads (each q block's values depend on its own data
    /// only, and validation has ruled out the cache hazards that would make the order matter).
    /// </summary>
    public int Threads { get; init; }

    /// <summary>Functional DMAs into the KV and q slots bind rows to their sources instead of copying (<see cref="RowBindings"/>); off = eager copies.</summary>
    public bool CopyElision { get; init; } = true;

    /// <summary>
    /// With several threads, the layout steps (q in, output out) of a call whose q is at least this many bytes are
    /// split by tokens across them; smaller calls copy on the calling thread (queueing would cost more).
    /// </summary>
    public long LayoutSplitBytes { get; init; } = 4 << 20;

    public static RpaHostOptions Default { get; } = new();

    public int ResolvedThreads => Threads > 0 ? Threads : Environment.ProcessorCount;
}

/// <summary>
/// ragged_paged_attention(...) on the core model, once: validates everything, lays the inputs out as the wrapper
/// does (q re-layout, K/V merge), runs the decode, prefill and mixed calls back to back, and lays the output
/// back out. The KV cache is the caller's array, pinned and updated in place (zero-copy), and untouched if
/// validation fails. This is an <see cref="RpaSession"/> used for one call; a stream of calls of one shape
/// should keep a session, which allocates nothing per call.
/// </summary>
public static class RpaRunner
{
    public static RpaResult Run(ChipSpec chip, RpaProblem p, RpaOptions o, ExecutionMode mode = ExecutionMode.Functional, bool trace = false,
        RpaHostOptions? host = null)
    {
        using var session = new RpaSession(chip, RpaShape.Of(p), o, mode, trace, host);
        var report = session.Run(p, default, allocateOutput: mode == ExecutionMode.Functional, out var output);
        return report.ToResult(output, session.Timeline);
    }
}
