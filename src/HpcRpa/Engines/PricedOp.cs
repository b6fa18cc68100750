using HpcRpa.Timeline;

namespace HpcRpa.Engines;

/// <summary>
/// One op on a single-track engine (VPU, EUP, XLU) priced by that engine's formula for its shape: what a compiler
/// knows of a bundle before it runs. A kernel that issues the same shape many times (every head, every block) prices
/// it once and charges it each time; the charge still occupies the track, waits for inputs and counts as an event.
/// </summary>
public readonly struct PricedOp
{
    internal PricedOp(EngineTrack track, long cycles, string label)
    {
        Track = track;
        Cycles = cycles;
        Label = label;
    }

    public EngineTrack Track { get; }
    public long Cycles { get; }
    public string Label { get; }
}
