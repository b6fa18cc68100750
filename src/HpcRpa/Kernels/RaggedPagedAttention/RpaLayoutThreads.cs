namespace HpcRpa.Kernels.RaggedPagedAttention;

/// <summary>
/// The wrapper's layout steps (q in, merged new tokens in, output out: rpa.md 2.3) split by tokens over the host
/// threads a session computes values on. They are row copies, memory-bound and independent per token, and on one
/// thread they would be the part of a large call no other thread shares. The calling thread takes the first range;
/// the rest are work items queued on the thread pool, built once and reused, so a call allocates nothing.
/// </summary>
internal sealed unsafe class RpaLayoutThreads : IDisposable
{
    private readonly Range[] _ranges;
    private readonly long _splitBytes;
    private readonly PoolCountdown _done = new();
    private RpaProblem? _p;
    private RpaOptions? _o;
    private RpaHbmArrays? _hbm;
    private byte* _output;
    private bool _outputs;

    /// <param name="splitBytes">Calls whose q is smaller copy on the calling thread (<see cref="RpaHostOptions.LayoutSplitBytes"/>).</param>
    public RpaLayoutThreads(int threads, long splitBytes)
    {
        _splitBytes = splitBytes;
        _ranges = new Range[Math.Max(1, threads)];
        for (int i = 0; i < _ranges.Length; i++) _ranges[i] = new Range(this, i);
    }

    /// <summary>q and the merged new tokens into <paramref name="hbm"/> (<see cref="RpaHbmArrays.Prepare"/>), split by tokens.</summary>
    public void Prepare(RpaProblem p, RpaOptions o, RpaHbmArrays hbm)
    {
        if (p.Layout.QueryBytes(p.MaxNumTokens) < _splitBytes) { hbm.Prepare(p, o); return; }
        _p = p; _o = o; _hbm = hbm; _outputs = false;
        RunAll();
    }

    /// <summary>The output [T, Hq, D] out of <paramref name="hbm"/> into <paramref name="output"/>, split by tokens.</summary>
    public void Outputs(RpaProblem p, RpaHbmArrays hbm, Span<byte> output)
    {
        if (p.Layout.QueryBytes(p.MaxNumTokens) < _splitBytes) { RpaInputLayout.PrepareOutputs(p, hbm.Out, hbm.Q, output); return; }
        RpaInputLayout.CheckOutput(p, output);
        fixed (byte* o = output)
        {
            _p = p; _hbm = hbm; _output = o; _outputs = true;
            RunAll();
        }
    }

    private void RunAll()
    {
        int n = _ranges.Length;
        _done.Begin(n);
        try
        {
            for (int i = 1; i < n; i++) ThreadPool.UnsafeQueueUserWorkItem(_ranges[i], preferLocal: false);
            _ranges[0].Execute();
            _done.Wait();
        }
        finally
        {
            _p = null; _o = null; _hbm = null; _output = null;
        }
        _done.ThrowIfFailed();
    }

    private void Run(int index)
    {
        try
        {
            var p = _p!;
            int T = p.MaxNumTokens, n = _ranges.Length;
            int t0 = (int)((long)T * index / n), t1 = (int)((long)T * (index + 1) / n);
            var hbm = _hbm!;
            if (_outputs) RpaInputLayout.PrepareOutputs(p, hbm.Out, hbm.Q, _output, t0, t1);
            else hbm.Prepare(p, _o!, t0, t1);
        }
        catch (Exception e)
        {
            _done.Fail(e);
        }
        finally
        {
            _done.Finished();
        }
    }

    public void Dispose() => _done.Dispose();

    /// <summary>One thread's tokens: a work item the pool runs (or the caller, for the first).</summary>
    private sealed class Range(RpaLayoutThreads owner, int index) : IThreadPoolWorkItem
    {
        public void Execute() => owner.Run(index);
    }
}
