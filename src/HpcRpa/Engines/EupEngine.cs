using HpcRpa.Timeline;

namespace HpcRpa.Engines;

/// <summary>
/// The transcendental unit (exp, tanh, reciprocal). Cost: ceil(V · EupCyclesPerVreg) cycles for V vregs
/// (assumption: no public throughput; JAX classes exp/tanh as "medium" cost [S11]).
/// </summary>
public sealed class EupEngine
{
    private readonly Timeline.Timeline _tl;

    internal EupEngine(Timeline.Timeline tl)
    {
        _tl = tl;
        Track = tl.NewTrack("eup", "eup");
    }

    public EngineTrack Track { get; }

    public long Cycles(long vregs) => (long)Math.Ceiling(vregs * _tl.Chip.EupCyclesPerVreg);

    public long Run(long issue, long ready, long vregs, string label) =>
        Track.Occupy(Math.Max(issue, ready), Cycles(vregs), label);

    /// <summary>An op over <paramref name="vregs"/> vregs, priced once.</summary>
    public PricedOp Price(string label, long vregs) => new(Track, Cycles(vregs), label);
}
