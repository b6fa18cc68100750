using HpcRpa.Memory;
using HpcRpa.Timeline;

namespace HpcRpa.Engines;

/// <summary>
/// The DMA engines of one core and the HBM channel they share. Cost formula of one copy of B bytes:
/// <code>
///   descriptor: DmaDescriptorNs on the first free of DmaQueues queues, from max(issue, source ready)
///   transfer:   (B read from HBM + B written to HBM) / HbmBandwidthPerCore, FIFO on the one HBM channel,
///               from max(descriptor end, channel free)  — so copies in flight share the bandwidth
///   completion: transfer end + DmaLatencyNs (pipelined: many copies overlap their latencies)
/// </code>
/// VMEM/SMEM-local copies skip the HBM channel and move <c>LocalCopyBytesPerCycle</c> per cycle (assumption: one 4 KiB vreg).
/// An HBM-to-HBM copy crosses the channel twice (read + write), as real HBM traffic does.
/// </summary>
public sealed class DmaEngine
{
    private readonly Timeline.Timeline _tl;
    private readonly EngineTrack[] _queues;

    internal DmaEngine(Timeline.Timeline tl)
    {
        _tl = tl;
        _queues = new EngineTrack[tl.Chip.DmaQueues];
        for (int i = 0; i < _queues.Length; i++) _queues[i] = tl.NewTrack($"dma-q{i}", "dma-queue");
        Channel = tl.NewTrack("hbm", "hbm");
        DescriptorCycles = tl.Chip.NsToCycles(tl.Chip.DmaDescriptorNs);
        LatencyCycles = tl.Chip.NsToCycles(tl.Chip.DmaLatencyNs);
        _hbmBytesPerCycle = tl.Chip.HbmBytesPerCycle; // a derived figure: computed once, not per copy

    }

    /// <summary>The HBM channel: its busy time is the memory-bound time of the run.</summary>
    public EngineTrack Channel { get; }
    public IReadOnlyList<EngineTrack> Queues => _queues;
    public long DescriptorCycles { get; }
    public long LatencyCycles { get; }
    public long LastCompletion { get; private set; }

    internal void Reset() => LastCompletion = 0;

    /// <summary>Cycles a transfer occupies the HBM channel.</summary>
    public long TransferCycles(long hbmBytes) => hbmBytes <= 0 ? 0 : (long)Math.Ceiling(hbmBytes / _hbmBytesPerCycle);

    // Copies come in runs of one size (a KV block's pages): the last size's price is kept.
    private long _lastBytes = -1, _lastCycles;

    private long TransferCyclesOfRun(long hbmBytes)
    {
        if (hbmBytes != _lastBytes)
        {
            _lastCycles = TransferCycles(hbmBytes);
            _lastBytes = hbmBytes;
        }
        return _lastCycles;
    }

    private readonly double _hbmBytesPerCycle;

    /// <summary>Starts one copy; returns the cycle at which its bytes have all arrived.</summary>
    public long Start(long issue, long sourceReady, long bytes, MemorySpace src, MemorySpace dst, string label)
    {
        var queues = _queues;
        var q = queues[0];
        long qFree = q.FreeAt;
        for (int i = 1; i < queues.Length; i++)
        {
            long f = queues[i].FreeAt;
            if (f < qFree) { q = queues[i]; qFree = f; }
        }
        long descStart = Math.Max(Math.Max(issue, sourceReady), qFree);
        long descEnd = q.Occupy(descStart, DescriptorCycles, label, bytes);

        long read = src == MemorySpace.Hbm ? bytes : 0;
        long written = dst == MemorySpace.Hbm ? bytes : 0;
        long done;
        if (read + written > 0)
        {
            long xferStart = Math.Max(descEnd, Channel.FreeAt);
            long xferEnd = Channel.Occupy(xferStart, TransferCyclesOfRun(read + written), label, read + written);
            done = xferEnd + LatencyCycles;
        }
        else
        {
            done = descEnd + (long)Math.Ceiling(bytes / _tl.Chip.LocalCopyBytesPerCycle);
        }

        _tl.HbmBytesRead += read;
        _tl.HbmBytesWritten += written;
        _tl.DmaCount++;
        _tl.DmaBytes += bytes;
        if (bytes == 0) _tl.ZeroByteDmaCount++;
        LastCompletion = Math.Max(LastCompletion, done);
        return done;
    }
}
