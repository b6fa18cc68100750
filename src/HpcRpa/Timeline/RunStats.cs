namespace HpcRpa.Timeline;

/// <summary>
/// The figures of a <see cref="RunReport"/>, filled in place: a session reports every call into the same object
/// and allocates nothing for it (the bound's reason is worded when read). <see cref="ToReport"/> takes the
/// immutable record. <see cref="RunReport.Between"/> is built from this, so the two never differ.
/// </summary>
public sealed class RunStats
{
    private readonly SortedDictionary<string, double> _engines = new(StringComparer.Ordinal);
    private readonly SortedDictionary<string, long> _busy = new(StringComparer.Ordinal);
    // Report groups of the timeline last filled from (tracks never change after a timeline is built).
    private Timeline? _groupsOf;
    private string[] _groups = [];
    private int[] _groupOfTrack = [];
    private long[] _groupSum = [];
    private int[] _groupCount = [];
    private BoundDecision _bound;

    public string Chip { get; private set; } = "";
    public string Kernel { get; private set; } = "";
    public string Mode { get; private set; } = "";
    public long Cycles { get; private set; }
    public double Seconds { get; private set; }
    public double ClockHz { get; private set; }
    public long HbmBytesRead { get; private set; }
    public long HbmBytesWritten { get; private set; }
    public long HbmBytes => HbmBytesRead + HbmBytesWritten;
    public double Flops { get; private set; }
    public double Mfu { get; private set; }
    public double Mbu { get; private set; }
    public Bound Bound => _bound.Bound;
    /// <summary>Why the bound was chosen, in words (formatted on each read).</summary>
    public string BoundReason => _bound.Reason;
    /// <summary>Busy fraction per engine group; updated in place by the next fill.</summary>
    public IReadOnlyDictionary<string, double> Engines => _engines;
    /// <summary>Busy cycles per engine group; updated in place by the next fill.</summary>
    public IReadOnlyDictionary<string, long> EngineBusyCycles => _busy;
    public long DmaCount { get; private set; }
    public long ZeroByteDmaCount { get; private set; }
    public long DmaBytes { get; private set; }
    public long GridSteps { get; private set; }
    public long Events { get; private set; }
    public long StallCycles { get; private set; }
    public long DispatchCycles { get; private set; }
    public long VmemPeakBytes { get; private set; }

    /// <summary>The part of a run on <paramref name="tl"/> between two moments (the whole run from zeroed counters).</summary>
    internal void Fill(Timeline tl, TimelineCounters a, TimelineCounters b, string kernel, bool timingOnly, long vmemPeak = 0)
    {
        long cycles = Math.Max(b.At - a.At, 1);
        var chip = tl.Chip;
        double seconds = cycles / chip.ClockHz;
        Groups(tl);
        Array.Clear(_groupSum);
        var tracks = tl.Tracks;
        for (int t = 0; t < tracks.Count; t++)
            if (_groupOfTrack[t] >= 0) _groupSum[_groupOfTrack[t]] += b.TrackBusy[t] - a.TrackBusy[t];
        for (int g = 0; g < _groups.Length; g++)
        {
            long sum = _groupSum[g];
            int n = _groupCount[g];
            _busy[_groups[g]] = sum / n;
            _engines[_groups[g]] = sum / (double)n / cycles;
        }
        long scalarBusy = (b.ScalarIssueCycles - a.ScalarIssueCycles) + (b.TrackBusy[tl.Scalar.Track.Id] - a.TrackBusy[tl.Scalar.Track.Id]);
        _engines["scalar"] = scalarBusy / (double)cycles;
        _busy["scalar"] = scalarBusy;
        long read = b.HbmBytesRead - a.HbmBytesRead, written = b.HbmBytesWritten - a.HbmBytesWritten;
        double flops = b.Flops - a.Flops;

        Chip = chip.Name;
        Kernel = kernel;
        Mode = timingOnly ? "timing-only" : "functional";
        Cycles = cycles;
        Seconds = seconds;
        ClockHz = chip.ClockHz;
        HbmBytesRead = read;
        HbmBytesWritten = written;
        Flops = flops;
        Mfu = flops / (seconds * chip.PeakBf16FlopsPerCore);
        Mbu = (read + written) / (seconds * chip.HbmBandwidthPerCore);
        _bound = BoundDecision.Of(_engines);
        DmaCount = b.DmaCount - a.DmaCount;
        ZeroByteDmaCount = b.ZeroByteDmaCount - a.ZeroByteDmaCount;
        DmaBytes = b.DmaBytes - a.DmaBytes;
        GridSteps = b.GridSteps - a.GridSteps;
        Events = b.Events - a.Events;
        StallCycles = b.TrackBusy[tl.Scalar.WaitTrack.Id] - a.TrackBusy[tl.Scalar.WaitTrack.Id];
        DispatchCycles = b.DispatchCycles - a.DispatchCycles;
        VmemPeakBytes = vmemPeak;
    }

    /// <summary>Report groups as <c>GroupBy(track.Group)</c> gives them, stalls and kernel scopes left out; once per timeline.</summary>
    private void Groups(Timeline tl)
    {
        if (_groupsOf == tl) return;
        var names = new List<string>();
        var tracks = tl.Tracks;
        _groupOfTrack = new int[tracks.Count];
        for (int t = 0; t < tracks.Count; t++)
        {
            string g = tracks[t].Group;
            if (g is "wait" or "scope") { _groupOfTrack[t] = -1; continue; }
            int i = names.IndexOf(g);
            if (i < 0) { i = names.Count; names.Add(g); }
            _groupOfTrack[t] = i;
        }
        _groups = [.. names];
        _groupSum = new long[_groups.Length];
        _groupCount = new int[_groups.Length];
        foreach (int i in _groupOfTrack)
            if (i >= 0) _groupCount[i]++;
        // A timeline with other groups than the last one's: no key of the old one may linger.
        _engines.Clear();
        _busy.Clear();
        _groupsOf = tl;
    }

    /// <summary>The immutable report of these figures.</summary>
    public RunReport ToReport() => new()
    {
        Chip = Chip,
        Kernel = Kernel,
        Mode = Mode,
        Cycles = Cycles,
        Seconds = Seconds,
        ClockHz = ClockHz,
        HbmBytesRead = HbmBytesRead,
        HbmBytesWritten = HbmBytesWritten,
        Flops = Flops,
        Mfu = Mfu,
        Mbu = Mbu,
        Bound = Bound,
        BoundReason = BoundReason,
        Engines = new SortedDictionary<string, double>(_engines, StringComparer.Ordinal),
        EngineBusyCycles = new SortedDictionary<string, long>(_busy, StringComparer.Ordinal),
        DmaCount = DmaCount,
        ZeroByteDmaCount = ZeroByteDmaCount,
        DmaBytes = DmaBytes,
        GridSteps = GridSteps,
        Events = Events,
        StallCycles = StallCycles,
        DispatchCycles = DispatchCycles,
        VmemPeakBytes = VmemPeakBytes,
    };
}
