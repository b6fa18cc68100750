using HpcRpa.Timeline;

namespace HpcRpa.Engines;

/// <summary>
/// The single-threaded scalar core that fetches and dispatches every instruction [S7]. Cost formulas:
/// one op or DMA descriptor = <c>ScalarIssueCycles</c> (at most one DMA issue per cycle per core [S7]);
/// one pallas_call grid step = <c>GridStepOverheadNs</c> (v5e-derived, spec 3.1); one SMEM scalar read =
/// <c>SmemReadCycles</c> (assumption: SMEM latency is unknown, spec 4).
/// </summary>
public sealed class ScalarCore
{
    private readonly Timeline.Timeline _tl;

    internal ScalarCore(Timeline.Timeline tl)
    {
        _tl = tl;
        Track = tl.NewTrack("scalar", "scalar");
        WaitTrack = tl.NewTrack("scalar-wait", "wait");
        _issueCycles = tl.Chip.ScalarIssueCycles;
    }

    private readonly int _issueCycles;

    public EngineTrack Track { get; }
    /// <summary>Stalls (semaphore waits, dependences) get their own track so "busy" means issuing.</summary>
    public EngineTrack WaitTrack { get; }

    public long IssueCycles { get; private set; }

    public long StepOverheadCycles => _tl.Chip.NsToCycles(_tl.Chip.GridStepOverheadNs);

    internal void Reset() => IssueCycles = 0;

    /// <summary>Cycles one op or DMA descriptor takes to issue.</summary>
    public long CyclesPerIssue => _issueCycles;

    /// <summary>Issues made elsewhere (a run modelled in locals): the cursor now at <paramref name="now"/>, <paramref name="cycles"/> spent issuing.</summary>
    internal void Issued(long now, long cycles)
    {
        _tl.Now = now;
        IssueCycles += cycles;
    }

    /// <summary>Issue <paramref name="ops"/> ops; returns the cycle the last one leaves the scalar core.</summary>
    public long Issue(int ops = 1)
    {
        long c = (long)ops * _issueCycles;
        _tl.Now += c;
        IssueCycles += c;
        return _tl.Now;
    }

    /// <summary>Pipeline bookkeeping of one grid step (index maps, slot rotation, semaphore checks).</summary>
    public void GridStep()
    {
        long c = StepOverheadCycles;
        long start = Math.Max(_tl.Now, Track.FreeAt);
        _tl.Now = Track.Occupy(start, c, "grid step");
        _tl.GridSteps++;
    }

    /// <summary>Scalar reads of SMEM values (prefetched metadata); <c>SmemReadCycles</c> each (assumption).</summary>
    public void SmemRead(int count = 1)
    {
        long c = (long)count * _tl.Chip.SmemReadCycles;
        _tl.Now += c;
        IssueCycles += c;
    }
}
