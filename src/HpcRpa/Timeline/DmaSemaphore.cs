using HpcRpa.Errors;

namespace HpcRpa.Timeline;

/// <summary>
/// A DMA semaphore as the JAX docs describe it [S15]: a byte counter that copies increment as their data
/// lands; a wait blocks until the counter reaches the waited size, then subtracts it. Waiting for bytes that
/// never arrive hangs on hardware (here: <see cref="SemaphoreException"/>); a kernel must end with every
/// semaphore at zero.
/// </summary>
public sealed class DmaSemaphore
{
    // Arrivals in completion order; consumed from the front.
    private readonly List<(long At, long Bytes)> _arrivals = [];
    private int _head;
    private long _headConsumed;

    public DmaSemaphore(string name)
    {
        Name = name;
        WaitLabel = "wait " + name;
    }

    public string Name { get; }

    /// <summary>Trace label of a wait on this semaphore (built once: waits are on the hot path).</summary>
    public string WaitLabel { get; }

    /// <summary>Bytes signalled and not yet consumed by a wait.</summary>
    public long Pending { get; private set; }

    internal void Signal(long at, long bytes)
    {
        if (bytes == 0) return; // a zero-size copy moves nothing and satisfies a zero-size wait at once
        // Keep arrivals sorted by completion cycle (copies can complete out of issue order).
        int i = _arrivals.Count;
        while (i > _head && _arrivals[i - 1].At > at) i--;
        _arrivals.Insert(i, (at, bytes));
        Pending += bytes;
    }

    /// <summary>Consumes <paramref name="bytes"/>; returns the cycle at which the counter reached them.</summary>
    internal long Consume(long bytes)
    {
        if (bytes > Pending)
            throw new SemaphoreException($"semaphore '{Name}': waiting for {bytes:N0} bytes but only {Pending:N0} will ever arrive (the kernel would hang)");
        if (bytes == 0) return 0;
        long need = bytes, at = 0;
        while (need > 0)
        {
            if (_head >= _arrivals.Count) break;
            var (t, b) = _arrivals[_head];
            at = Math.Max(at, t);
            long avail = b - _headConsumed;
            if (avail > need)
            {
                _headConsumed += need;
                need = 0;
                break;
            }
            need -= avail;
            _head++;
            _headConsumed = 0;
        }
        Pending -= bytes;
        if (_head > 64 && _head * 2 > _arrivals.Count)
        {
            _arrivals.RemoveRange(0, _head);
            _head = 0;
        }
        return at;
    }

    /// <summary>Back to zero with no arrival pending: a session's next call (even after one that failed mid-run) starts clean.</summary>
    internal void Reset()
    {
        _arrivals.Clear();
        _head = 0;
        _headConsumed = 0;
        Pending = 0;
    }

    /// <summary>Hardware requires every semaphore at zero when the kernel exits.</summary>
    public void CheckZero()
    {
        if (Pending != 0)
            throw new SemaphoreException($"semaphore '{Name}' holds {Pending:N0} unconsumed bytes at kernel exit (the kernel would crash)");
    }
}
