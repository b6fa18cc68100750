using HpcRpa.Timeline;

namespace HpcRpa.Engines;

/// <summary>
/// The cross-lane units (lane reductions, transposes), modelled as one track shared by XluCount units.
/// Cost: ceil(V · cyclesPerVreg / XluCount) with XluReduceCyclesPerVreg or XluTransposeCyclesPerVreg
/// (assumptions: "slow and fairly expensive" [S7], no cycle count published).
/// </summary>
public sealed class XluEngine
{
    private readonly Timeline.Timeline _tl;

    internal XluEngine(Timeline.Timeline tl)
    {
        _tl = tl;
        Track = tl.NewTrack("xlu", "xlu");
    }

    public EngineTrack Track { get; }

    public long ReduceCycles(long vregs) => (long)Math.Ceiling(vregs * _tl.Chip.XluReduceCyclesPerVreg / _tl.Chip.XluCount);

    public long TransposeCycles(long vregs) => (long)Math.Ceiling(vregs * _tl.Chip.XluTransposeCyclesPerVreg / _tl.Chip.XluCount);

    public long Reduce(long issue, long ready, long vregs, string label) =>
        Track.Occupy(Math.Max(issue, ready), ReduceCycles(vregs), label);

    /// <summary>A lane reduction over <paramref name="vregs"/> vregs, priced once.</summary>
    public PricedOp PriceReduce(string label, long vregs) => new(Track, ReduceCycles(vregs), label);

    public long Transpose(long issue, long ready, long vregs, string label) =>
        Track.Occupy(Math.Max(issue, ready), TransposeCycles(vregs), label);
}
