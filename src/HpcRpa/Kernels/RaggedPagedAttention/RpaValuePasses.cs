using System.Runtime.InteropServices;
using HpcRpa.Hardware;
using HpcRpa.Pallas;

namespace HpcRpa.Kernels.RaggedPagedAttention;

/// <summary>
/// The values of every q block of every call, spread over host threads while the calling thread runs the timing
/// pass: each thread runs the same kernels on its own core (VMEM scratch, semaphores; its cycles are not the
/// run's) for the q blocks it takes, largest first, from one shared list. The threads are work items queued on
/// the thread pool, built once with their cores and reused, so a call allocates nothing for them (Task.Run and
/// Parallel.For would).
/// </summary>
internal sealed class RpaValuePasses : IDisposable
{
    /// <summary>One q block to compute: its call (an <see cref="RpaCase"/>), index and host work (for balancing).</summary>
    private readonly record struct QBlockWork(int Case, int QBlock, long Work);

    private readonly ChipSpec _chip;
    private readonly RpaOptions _o;
    private readonly RpaHostOptions _host;
    private readonly RpaBlockSizes?[] _blocks;
    private readonly List<QBlockWork> _work = [];
    private readonly Worker?[] _workers;
    private readonly PoolCountdown _done = new();
    private RpaProblem? _p;
    private RpaHbmArrays? _hbm;
    private int _next;
    private bool _started;

    /// <param name="blocks">Block sizes per call type, filled by the session before each <see cref="Start"/>.</param>
    public RpaValuePasses(ChipSpec chip, RpaOptions o, RpaHostOptions host, RpaBlockSizes?[] blocks)
    {
        _chip = chip;
        _o = o;
        _host = host;
        _blocks = blocks;
        _workers = new Worker?[host.ResolvedThreads];
    }

    /// <summary>
    /// Queues the value passes of one call: the q blocks of the calls the timing core's kernels planned (bound to
    /// <paramref name="p"/>), on the value arrays <paramref name="hbm"/>. <see cref="Wait"/> must follow, also
    /// when the timing pass fails: the passes use memory the session owns.
    /// </summary>
    public void Start(RpaProblem p, RpaHbmArrays hbm, RpaCore timing, ReadOnlySpan<RpaCase> cases)
    {
        _p = p;
        _hbm = hbm;
        _work.Clear();
        foreach (var c in cases)
        {
            var k = timing.Kernel(c, p, _o, _blocks[(int)c]!, hbm);
            for (int qi = 0; qi < k.QBlockCount; qi++) _work.Add(new QBlockWork((int)c, qi, k.QBlockWork(qi)));
        }
        // Calls in order, each call's q blocks largest first: a thread holds one call's kernel (and its VMEM) at a
        // time, as the core does, and moves on to the next call when the current one has no q block left.
        CollectionsMarshal.AsSpan(_work).Sort(static (a, b) =>
            a.Case != b.Case ? a.Case.CompareTo(b.Case) : b.Work != a.Work ? b.Work.CompareTo(a.Work) : a.QBlock.CompareTo(b.QBlock));
        if (_work.Count == 0) return;
        int threads = Math.Min(_workers.Length, _work.Count);
        // Every core first: nothing is queued unless all the threads can start.
        for (int i = 0; i < threads; i++)
            _workers[i] ??= new Worker(this, new RpaCore(new KernelContext(_chip, ExecutionMode.Functional, false, _o.VmemLimitBytes) { CopyElision = _host.CopyElision }));
        _next = -1;
        _done.Begin(threads);
        _started = true;
        for (int i = 0; i < threads; i++) ThreadPool.UnsafeQueueUserWorkItem(_workers[i]!, preferLocal: false);
    }

    /// <summary>Until every pass has finished; a typed error from a thread (a VMEM overflow, a semaphore that would hang) reaches the caller as itself.</summary>
    public void Wait()
    {
        if (!_started) return;
        _done.Wait();
        _started = false;
        _p = null;
        _hbm = null;
        _done.ThrowIfFailed();
    }

    private void Run(RpaCore core)
    {
        var p = _p!;
        var hbm = _hbm!;
        RpaKernel? k = null;
        int kCase = -1;
        try
        {
            core.Begin();
            for (int i = Interlocked.Increment(ref _next); i < _work.Count && !_done.Failed; i = Interlocked.Increment(ref _next))
            {
                var w = _work[i];
                if (w.Case != kCase)
                {
                    k?.Release();
                    k = core.Kernel((RpaCase)w.Case, p, _o, _blocks[w.Case]!, hbm);
                    kCase = w.Case;
                    k.Reclaim();
                    k.Bind(p);
                }
                k!.Run(w.QBlock, w.QBlock + 1);
            }
        }
        catch (Exception e)
        {
            _done.Fail(e);
        }
        finally
        {
            k?.Release();
            core.Unbind();
            _done.Finished();
        }
    }

    public void Dispose()
    {
        foreach (var w in _workers) w?.Core.Dispose();
        _done.Dispose();
    }

    /// <summary>One host thread's share: a work item the pool runs, with the core it computes on.</summary>
    private sealed class Worker(RpaValuePasses owner, RpaCore core) : IThreadPoolWorkItem
    {
        public RpaCore Core { get; } = core;

        public void Execute() => owner.Run(Core);
    }
}
