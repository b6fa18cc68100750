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

    /// <summary>
    /// A paged copy as a kernel issues it: <paramref name="pages"/> copies of min(max(total − i·pageBytes, 0), pageBytes)
    /// bytes (whole pages, the partial one, then zero-size ones), each issued by the scalar core in turn and signalling
    /// <paramref name="sem"/> — every copy modelled exactly as <see cref="Start"/> models one (the tests hold the two
    /// equal), with the tracks' state kept in locals across the run. Returns the bytes the copies move.
    /// </summary>
    public long StartPaged(int pages, long total, long pageBytes, MemorySpace src, MemorySpace dst, DmaSemaphore sem, string label)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(pages);
        ArgumentOutOfRangeException.ThrowIfNegative(total);
        ArgumentOutOfRangeException.ThrowIfNegative(pageBytes);
        var scalar = _tl.Scalar;
        if (_tl.Tracing || _queues.Length != 4)
        {
            long sum = 0;
            for (int i = 0; i < pages; i++)
            {
                long b = Math.Clamp(total - i * pageBytes, 0, pageBytes);
                long d = Start(scalar.Issue(), 0, b, src, dst, label);
                sem.Signal(d, b);
                sum += b;
            }
            return sum;
        }
        // Four queues (every preset's count), their free cycles in registers: choosing the first free queue is the
        // run's critical path, and through memory it would wait on a store every copy.
        long f0 = _queues[0].FreeAt, f1 = _queues[1].FreeAt, f2 = _queues[2].FreeAt, f3 = _queues[3].FreeAt;
        long n0 = 0, n1 = 0, n2 = 0, n3 = 0;
        long chFree = Channel.FreeAt, chBusy = 0, chOps = 0;
        long read = 0, written = 0, moved = 0, zero = 0, last = LastCompletion;
        long issueCycles = scalar.CyclesPerIssue, now = _tl.Now, desc = DescriptorCycles, latency = LatencyCycles;
        bool fromHbm = src == MemorySpace.Hbm, toHbm = dst == MemorySpace.Hbm;
        for (int i = 0; i < pages; i++)
        {
            long bytes = Math.Clamp(total - i * pageBytes, 0, pageBytes);
            now += issueCycles;
            // The first queue with the least free cycle, as Start picks it.
            long descEnd;
            if (f0 <= f1 && f0 <= f2 && f0 <= f3) { descEnd = Math.Max(now, f0) + desc; f0 = descEnd; n0++; }
            else if (f1 <= f2 && f1 <= f3) { descEnd = Math.Max(now, f1) + desc; f1 = descEnd; n1++; }
            else if (f2 <= f3) { descEnd = Math.Max(now, f2) + desc; f2 = descEnd; n2++; }
            else { descEnd = Math.Max(now, f3) + desc; f3 = descEnd; n3++; }
            long hbm = (fromHbm ? bytes : 0) + (toHbm ? bytes : 0);
            long done;
            if (hbm > 0)
            {
                long cycles = TransferCyclesOfRun(hbm);
                chFree = Math.Max(descEnd, chFree) + cycles;
                chBusy += cycles;
                chOps++;
                done = chFree + latency;
            }
            else done = descEnd + (long)Math.Ceiling(bytes / _tl.Chip.LocalCopyBytesPerCycle);
            if (fromHbm) read += bytes;
            if (toHbm) written += bytes;
            moved += bytes;
            if (bytes == 0) zero++;
            if (done > last) last = done;
            sem.Signal(done, bytes);
        }
        _queues[0].Advance(f0, n0 * desc, n0);
        _queues[1].Advance(f1, n1 * desc, n1);
        _queues[2].Advance(f2, n2 * desc, n2);
        _queues[3].Advance(f3, n3 * desc, n3);
        Channel.Advance(chFree, chBusy, chOps);
        scalar.Issued(now, (long)pages * issueCycles);
        _tl.CountEvents(pages + chOps);
        _tl.HbmBytesRead += read;
        _tl.HbmBytesWritten += written;
        _tl.DmaCount += pages;
        _tl.DmaBytes += moved;
        _tl.ZeroByteDmaCount += zero;
        LastCompletion = last;
        return moved;
    }

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
