namespace HpcRpa.Timeline;

/// <summary>One busy interval of one engine, kept only when a trace was asked for.</summary>
public readonly record struct TraceSlice(int Track, long Start, long Duration, string Name, long Bytes, double Flops);
