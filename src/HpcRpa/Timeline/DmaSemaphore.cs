using System.Runtime.CompilerServices;
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
    // Arrivals in completion order, [_head, _count) not yet consumed (an array, not a list: a copy signals here).
    private long[] _at = new long[16], _bytes = new long[16];
    private int _head, _count;
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

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void Signal(long at, long bytes)
    {
        if (bytes == 0) return; // a zero-size copy moves nothing and satisfies a zero-size wait at once
        int n = _count;
        if (n < _at.Length && (n == _head || _at[n - 1] <= at))
        {
            // The usual case: copies on one queue of the channel complete in issue order.
            _at[n] = at;
            _bytes[n] = bytes;
            _count = n + 1;
            Pending += bytes;
            return;
        }
        Insert(at, bytes);
    }

    private void Insert(long at, long bytes)
    {
        if (_count == _at.Length)
        {
            if (_head > 0) Compact();
            else
            {
                Array.Resize(ref _at, _count * 2);
                Array.Resize(ref _bytes, _count * 2);
            }
        }
        // Keep arrivals sorted by completion cycle (copies can complete out of issue order).
        int i = _count;
        while (i > _head && _at[i - 1] > at)
        {
            _at[i] = _at[i - 1];
            _bytes[i] = _bytes[i - 1];
            i--;
        }
        _at[i] = at;
        _bytes[i] = bytes;
        _count++;
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
            if (_head >= _count) break;
            long t = _at[_head], b = _bytes[_head];
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
        if (_head == _count) _head = _count = 0;
        return at;
    }

    /// <summary>The unconsumed arrivals moved to the front.</summary>
    private void Compact()
    {
        int n = _count - _head;
        Array.Copy(_at, _head, _at, 0, n);
        Array.Copy(_bytes, _head, _bytes, 0, n);
        _head = 0;
        _count = n;
    }

    /// <summary>Back to zero with no arrival pending: a session's next call (even after one that failed mid-run) starts clean.</summary>
    internal void Reset()
    {
        _head = _count = 0;
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
