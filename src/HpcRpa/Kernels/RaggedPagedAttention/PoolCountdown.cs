using System.Runtime.ExceptionServices;

namespace HpcRpa.Kernels.RaggedPagedAttention;

/// <summary>
/// Work items a call hands to host threads and then waits for: how many are still running, and the first error any
/// of them raised, rethrown to the waiting caller as itself. Reused call after call, so waiting allocates nothing.
/// </summary>
internal sealed class PoolCountdown : IDisposable
{
    private readonly CountdownEvent _done = new(0);
    private Exception? _error;

    /// <summary>Whether an item has failed (the others may stop early).</summary>
    public bool Failed => Volatile.Read(ref _error) is not null;

    /// <summary>Before the items are handed out: <paramref name="items"/> of them, no error yet.</summary>
    public void Begin(int items)
    {
        _error = null;
        _done.Reset(items);
    }

    /// <summary>An item's error; the first one is kept.</summary>
    public void Fail(Exception e) => Interlocked.CompareExchange(ref _error, e, null);

    /// <summary>An item is done (also when it failed).</summary>
    public void Finished() => _done.Signal();

    /// <summary>Until every item has finished.</summary>
    public void Wait() => _done.Wait();

    /// <summary>The first error of the items, thrown as itself (after <see cref="Wait"/>).</summary>
    public void ThrowIfFailed()
    {
        if (_error is not { } e) return;
        _error = null;
        ExceptionDispatchInfo.Throw(e);
    }

    public void Dispose() => _done.Dispose();
}
