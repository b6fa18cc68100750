namespace HpcRpa.Timeline;

/// <summary>Counters of a timeline at one moment; two of them bound a part of a run.</summary>
public sealed record TimelineSnapshot(
    long At, long HbmBytesRead, long HbmBytesWritten, double Flops, long DmaCount, long ZeroByteDmaCount, long DmaBytes,
    long GridSteps, long Events, long[] TrackBusy, long ScalarIssueCycles, long DispatchCycles);
