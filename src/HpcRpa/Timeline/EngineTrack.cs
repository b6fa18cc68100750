namespace HpcRpa.Timeline;

/// <summary>
/// One in-order hardware resource on the timeline (an MXU, the VPU, a DMA queue, the HBM channel...):
/// it is busy from an op's start to its end and takes the next op no earlier than that. Slices on one track
/// never overlap, which is what the trace export relies on.
/// </summary>
public sealed class EngineTrack
{
    private readonly Timeline _owner;
    private readonly bool _tracing;

    internal EngineTrack(Timeline owner, int id, string name, string group)
    {
        _owner = owner;
        _tracing = owner.Tracing;
        Id = id;
        Name = name;
        Group = group;
    }

    public int Id { get; }
    public string Name { get; }
    /// <summary>Report group: all MXUs report as "mxu", all DMA queues as "dma".</summary>
    public string Group { get; }
    public long FreeAt { get; internal set; }
    public long BusyCycles { get; private set; }
    public long Ops { get; private set; }
    public bool HasRun => Ops > 0;

    /// <summary>Occupies the track for [start, start+duration); start must be at or after <see cref="FreeAt"/>.</summary>
    public long Occupy(long start, long duration, string label, long bytes = 0, double flops = 0)
    {
        if (start < FreeAt) start = FreeAt;
        long end = start + duration;
        FreeAt = end;
        BusyCycles += duration;
        Ops++;
        _owner.CountEvent();
        if (_tracing && duration > 0) _owner.AddSlice(Id, start, duration, label, bytes, flops);
        return end;
    }

    /// <summary>The state after ops occupied this track elsewhere (a run modelled in locals): free from <paramref name="freeAt"/>.</summary>
    internal void Advance(long freeAt, long busy, long ops)
    {
        if (ops == 0) return;
        FreeAt = freeAt;
        BusyCycles += busy;
        Ops += ops;
    }

    internal void Reset()
    {
        FreeAt = 0;
        BusyCycles = 0;
        Ops = 0;
    }
}
