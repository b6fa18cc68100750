using HpcRpa.Engines;
using HpcRpa.Hardware;

namespace HpcRpa.Timeline;

/// <summary>
/// The clock of one emulated TensorCore. The scalar core issues every op in program order (its cursor is
/// <see cref="Now"/>); each op starts when it is issued, its engine is free and its inputs are ready, and lasts
/// what its engine's formula says. DMAs run asynchronously and complete on semaphores; a wait stalls issue.
/// Kernels never touch time: they call ops, and the engines charge them here.
/// </summary>
public sealed class Timeline
{
    private readonly List<EngineTrack> _tracks = [];
    private readonly List<TraceSlice> _slices = [];

    public Timeline(ChipSpec chip, bool trace = false)
    {
        chip.Validate();
        Chip = chip;
        Tracing = trace;
        Scalar = new ScalarCore(this);
        Dma = new DmaEngine(this);
        Mxu = new MxuArray(this);
        Vpu = new VpuEngine(this);
        Eup = new EupEngine(this);
        Xlu = new XluEngine(this);
        Scopes = NewTrack("kernel", "scope");
    }

    /// <summary>One slice per kernel call, named as the real kernel's named scope (e.g. RPAd-p_16-bq_1_1-bkv_2048_2048).</summary>
    public EngineTrack Scopes { get; }

    /// <summary>Marks [start, End) as one named kernel scope on the "kernel" track.</summary>
    public void MarkScope(string name, long start)
    {
        long end = End;
        if (end > start) Scopes.Occupy(start, end - start, name);
    }

    public ChipSpec Chip { get; }
    public bool Tracing { get; }

    /// <summary>Issue cursor of the scalar core, in core cycles.</summary>
    public long Now { get; internal set; }

    public ScalarCore Scalar { get; }
    public DmaEngine Dma { get; }
    public MxuArray Mxu { get; }
    public VpuEngine Vpu { get; }
    public EupEngine Eup { get; }
    public XluEngine Xlu { get; }

    public IReadOnlyList<EngineTrack> Tracks => _tracks;
    public IReadOnlyList<TraceSlice> Slices => _slices;

    // ---- counters the report is built from ----
    public long HbmBytesRead { get; internal set; }
    public long HbmBytesWritten { get; internal set; }
    public double Flops { get; internal set; }
    public long DmaCount { get; internal set; }
    public long ZeroByteDmaCount { get; internal set; }
    public long DmaBytes { get; internal set; }
    public long GridSteps { get; internal set; }
    /// <summary>Every modelled engine operation (DMA, matmul fold group, vector op, wait, step).</summary>
    public long Events { get; private set; }
    /// <summary>Cycles of host dispatch included at the start of the run (0 unless asked for).</summary>
    public long DispatchCycles { get; internal set; }

    internal void CountEvent() => Events++;

    internal void CountEvents(long n) => Events += n;

    /// <summary>The counters at this moment, to report a part of a run (one kernel call of several).</summary>
    public TimelineSnapshot Snapshot() => new(
        End, HbmBytesRead, HbmBytesWritten, Flops, DmaCount, ZeroByteDmaCount, DmaBytes, GridSteps, Events,
        _tracks.Select(t => t.BusyCycles).ToArray(), Scalar.IssueCycles, DispatchCycles);

    /// <summary>Counters into <paramref name="into"/>, in place: the snapshot a session takes without allocating.</summary>
    internal void CaptureInto(TimelineCounters into) => into.Capture(this, End, Scalar.IssueCycles);

    /// <summary>
    /// Back to cycle 0 with nothing charged and no slice kept: a session's next call runs on this timeline exactly
    /// as on a new one.
    /// </summary>
    internal void Reset()
    {
        Now = 0;
        HbmBytesRead = HbmBytesWritten = 0;
        Flops = 0;
        DmaCount = ZeroByteDmaCount = DmaBytes = GridSteps = 0;
        Events = 0;
        DispatchCycles = 0;
        _slices.Clear();
        foreach (var t in _tracks) t.Reset();
        Scalar.Reset();
        Dma.Reset();
        Mxu.Reset();
    }

    internal EngineTrack NewTrack(string name, string group)
    {
        var t = new EngineTrack(this, _tracks.Count, name, group);
        _tracks.Add(t);
        return t;
    }

    internal void AddSlice(int track, long start, long duration, string name, long bytes, double flops) =>
        _slices.Add(new TraceSlice(track, start, duration, name, bytes, flops));

    /// <summary>Cycle at which everything issued so far has finished.</summary>
    public long End
    {
        get
        {
            long end = Now;
            foreach (var t in _tracks) end = Math.Max(end, t.FreeAt);
            return Math.Max(end, Dma.LastCompletion);
        }
    }

    /// <summary>Stall the scalar core until cycle <paramref name="t"/> (a semaphore wait, a dependence).</summary>
    public void StallUntil(long t, string reason)
    {
        if (t <= Now) return;
        Scalar.WaitTrack.Occupy(Now, t - Now, reason);
        Now = t;
    }

    /// <summary>Adds the host's per-call dispatch before the kernel (only for runs that model Python-side timing).</summary>
    public void AddHostDispatch()
    {
        long c = Chip.NsToCycles(Chip.HostDispatchNs);
        Scalar.Track.Occupy(Now, c, "host dispatch");
        Now += c;
        DispatchCycles += c;
    }
}
