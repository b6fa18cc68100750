namespace HpcRpa.Timeline;

/// <summary>
/// The counters of a timeline at one moment, like <see cref="TimelineSnapshot"/> but captured in place: a session
/// takes two per kernel call, every call, and allocates nothing for them.
/// </summary>
internal sealed class TimelineCounters
{
    public long At, HbmBytesRead, HbmBytesWritten, DmaCount, ZeroByteDmaCount, DmaBytes, GridSteps, Events, ScalarIssueCycles, DispatchCycles;
    public double Flops;
    public long[] TrackBusy = [];

    public void Capture(Timeline tl, long at, long scalarIssueCycles)
    {
        At = at;
        HbmBytesRead = tl.HbmBytesRead;
        HbmBytesWritten = tl.HbmBytesWritten;
        Flops = tl.Flops;
        DmaCount = tl.DmaCount;
        ZeroByteDmaCount = tl.ZeroByteDmaCount;
        DmaBytes = tl.DmaBytes;
        GridSteps = tl.GridSteps;
        Events = tl.Events;
        ScalarIssueCycles = scalarIssueCycles;
        DispatchCycles = tl.DispatchCycles;
        var tracks = tl.Tracks;
        if (TrackBusy.Length != tracks.Count) TrackBusy = new long[tracks.Count];
        for (int i = 0; i < tracks.Count; i++) TrackBusy[i] = tracks[i].BusyCycles;
    }

    /// <summary>The start of a run: every counter at zero.</summary>
    public void Zero(Timeline tl)
    {
        At = HbmBytesRead = HbmBytesWritten = DmaCount = ZeroByteDmaCount = DmaBytes = GridSteps = Events = ScalarIssueCycles = DispatchCycles = 0;
        Flops = 0;
        if (TrackBusy.Length != tl.Tracks.Count) TrackBusy = new long[tl.Tracks.Count];
        Array.Clear(TrackBusy);
    }

    public static TimelineCounters Of(TimelineSnapshot s) => new()
    {
        At = s.At, HbmBytesRead = s.HbmBytesRead, HbmBytesWritten = s.HbmBytesWritten, Flops = s.Flops, DmaCount = s.DmaCount,
        ZeroByteDmaCount = s.ZeroByteDmaCount, DmaBytes = s.DmaBytes, GridSteps = s.GridSteps, Events = s.Events,
        TrackBusy = s.TrackBusy, ScalarIssueCycles = s.ScalarIssueCycles, DispatchCycles = s.DispatchCycles,
    };
}
