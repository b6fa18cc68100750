using HpcRpa.Errors;
using HpcRpa.Hardware;
using HpcRpa.Memory;
using HpcRpa.Pallas;
using HpcRpa.Timeline;

namespace HpcRpa.Kernels.RaggedPagedAttention;

/// <summary>
/// ragged_paged_attention(...) for a stream of calls of one shape: built once for a chip, a shape, the options and
/// the host options, it keeps what a call would otherwise build — the core's context and timeline, the kernels of
/// the three call types with their VMEM and views, the HBM arrays, the value-pass threads' cores, the report —
/// and resets it for each call. A call validates everything first (a bad batch is a typed
/// <see cref="ValidationException"/> and writes nothing), updates the KV cache in place, writes the output into
/// the caller's span and fills <see cref="Report"/>; in steady state it allocates nothing. Outputs, caches and
/// every report figure are bit-identical to <see cref="RpaRunner.Run"/>'s, which is a session used once.
/// <para>
/// One call at a time: a session is not for concurrent use, and a call that finds another one running throws
/// <see cref="InvalidOperationException"/> (use one session per thread). Calls may come from any thread.
/// </para>
/// </summary>
public sealed unsafe class RpaSession : IDisposable
{
    private static readonly RpaCase[] AllCases = [RpaCase.Decode, RpaCase.Prefill, RpaCase.Mixed];

    private readonly bool _functional, _split;
    // Block sizes per call type: the options' or the default heuristic's, worked out on first need (after validation).
    private readonly RpaBlockSizes?[] _defaultBlocks = new RpaBlockSizes?[3];
    private readonly RpaBlockSizes?[] _blocks = new RpaBlockSizes?[3];
    private readonly string?[] _kernelNames = new string?[8];
    private readonly RpaCase[] _present = new RpaCase[3];
    private readonly TimelineCounters _zero = new(), _before = new(), _after = new();
    private RpaCore? _timing;
    private RpaHbmArrays? _hbm, _valueHbm;
    private MemoryPool? _values;
    private NativeBuffer? _cache;
    private RpaValuePasses? _passes;
    private RpaLayoutThreads? _layout;
    private int _running;
    private bool _disposed;

    /// <param name="shape">The shape of every problem this session runs (<see cref="RpaShape.Of"/> of one of them).</param>
    /// <param name="mode">Functional: values and cycles; timing-only: cycles alone, no output.</param>
    /// <param name="trace">Keep every engine slice for a trace (<see cref="Timeline"/>, then <see cref="TraceExport"/>).</param>
    public RpaSession(ChipSpec chip, RpaShape shape, RpaOptions options, ExecutionMode mode = ExecutionMode.Functional, bool trace = false,
        RpaHostOptions? host = null)
    {
        host ??= RpaHostOptions.Default;
        if (host.Threads < 0)
            throw new ValidationException("host.threads", null, host.Threads.ToString(), "must be 0 (one per core) or a positive thread count");
        if (host.LayoutSplitBytes < 0)
            throw new ValidationException("host.layout_split_bytes", null, host.LayoutSplitBytes.ToString(), "must be 0 (always split) or a positive byte count");
        Chip = chip;
        Shape = shape;
        Options = options;
        Mode = mode;
        Trace = trace;
        Host = host;
        _functional = mode == ExecutionMode.Functional;
        _split = _functional && host.ResolvedThreads > 1;
    }

    public ChipSpec Chip { get; }
    public RpaShape Shape { get; }
    public RpaOptions Options { get; }
    public ExecutionMode Mode { get; }
    public bool Trace { get; }
    public RpaHostOptions Host { get; }

    /// <summary>
    /// Told of each call type's kernel when the session first builds it (its compiled variant): the dispatcher
    /// records and logs it. Once per call type per session, never in steady state.
    /// </summary>
    internal Action<RpaCase, RpaProblem, RpaBlockSizes>? Compiled { get; init; }

    /// <summary>The last call's report, filled in place by every call.</summary>
    public RpaCallReport Report { get; } = new();

    /// <summary>The last call's timeline (reset by the next call); for a trace, build the session with trace on.</summary>
    public Timeline.Timeline Timeline => _timing?.Context.Timeline ?? throw new InvalidOperationException("no call has run on this session yet");

    /// <summary>Bytes of the output span a functional call needs: [max_num_tokens, Hq, D] in the q dtype.</summary>
    public long OutputBytes => _functional ? new RpaLayout(Shape.NumQHeads, Shape.NumKvHeads, Shape.HeadDim, Shape.QDType, Shape.KvDType).QueryBytes(Shape.MaxNumTokens) : 0;

    /// <summary>
    /// Runs one batch of the session's shape: validates it (nothing is written if it fails), updates its KV cache
    /// in place, writes the output [T, Hq, D] into <paramref name="output"/> (exactly <see cref="OutputBytes"/>
    /// bytes; empty for a timing-only session) and returns <see cref="Report"/>, filled for this call.
    /// </summary>
    public RpaCallReport Run(RpaProblem problem, Span<byte> output) => Run(problem, output, allocateOutput: false, out _);

    /// <summary>A timing-only call (no output).</summary>
    public RpaCallReport Run(RpaProblem problem) => Run(problem, default, allocateOutput: false, out _);

    /// <summary>The call, with the output in a new array when <paramref name="allocateOutput"/> (the one-shot <see cref="RpaRunner.Run"/>).</summary>
    internal RpaCallReport Run(RpaProblem p, Span<byte> output, bool allocateOutput, out byte[]? allocated)
    {
        if (Interlocked.CompareExchange(ref _running, 1, 0) != 0)
            throw new InvalidOperationException("RpaSession: a call is already running on this session (one call at a time; use one session per thread)");
        try
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            allocated = null;
            Shape.Check(p);
            RpaValidation.Validate(p, Options, Chip, _functional, defaultBlocksMustFit: true, _defaultBlocks);
            if (_functional)
            {
                long need = OutputBytes;
                if (allocateOutput) output = allocated = new byte[need];
                else if (output.Length != need)
                    throw new ValidationException("output", null, $"length {output.Length}", $"must have {need} bytes ([T, Hq, D] of the q dtype)");
            }
            else if (output.Length != 0)
                throw new ValidationException("output", null, $"length {output.Length}", "must be empty: a timing-only call computes no values");
            Build(p);
            fixed (byte* cache = p.KvCache)
            {
                _cache?.Repoint(CacheOperand.Address(cache, p.KvCacheBuffer));
                try
                {
                    Execute(p, output);
                }
                finally
                {
                    _cache?.Repoint(0); // the array is pinned only while the call runs
                }
            }
            return Report;
        }
        finally
        {
            Volatile.Write(ref _running, 0);
        }
    }

    /// <summary>What the first call builds (after its validation, so a bad first batch fails as a one-shot run would).</summary>
    private void Build(RpaProblem p)
    {
        if (_timing is not null) return;
        // The timing pass: the only pass of a timing-only run or of a one-thread functional run (which computes
        // values as it goes); beside value passes otherwise.
        var ctx = new KernelContext(Chip, _split ? ExecutionMode.TimingOnly : Mode, Trace, Options.VmemLimitBytes) { CopyElision = Host.CopyElision };
        try
        {
            if (_functional) _cache = NativeBuffer.Unpinned(p.KvCacheLength);
            _hbm = RpaHbmArrays.Allocate(ctx.Hbm, p, _split ? null : _cache);
            if (_split)
            {
                _values = new MemoryPool(MemorySpace.Hbm, long.MaxValue, holdsValues: true);
                _valueHbm = RpaHbmArrays.Allocate(_values, p, _cache);
                _passes = new RpaValuePasses(Chip, Options, Host, _blocks);
                _layout = new RpaLayoutThreads(Host.ResolvedThreads, Host.LayoutSplitBytes);
            }
            else if (_functional) _valueHbm = _hbm;
        }
        catch
        {
            ctx.Dispose();
            _values?.Dispose();
            throw;
        }
        _timing = new RpaCore(ctx);
    }

    private void Execute(RpaProblem p, Span<byte> output)
    {
        var core = _timing!;
        var ctx = core.Context;
        var tl = ctx.Timeline;
        int n = 0, mask = 0;
        foreach (var c in AllCases)
        {
            if (!p.HasSequences(c)) continue;
            if (_blocks[(int)c] is null)
            {
                var b = _blocks[(int)c] = Options.Blocks(c) ?? _defaultBlocks[(int)c]
                    ?? RpaBlockSizes.Default(c, Chip, p.QDType, p.KvDType, p.NumQHeads, p.NumKvHeads, p.HeadDim, p.PageSize, p.MaxNumTokens, p.PagesPerSeq);
                Compiled?.Invoke(c, p, b);
            }
            core.Kernel(c, p, Options, _blocks[(int)c]!, _hbm!); // built (and released) before the context is reset
            _present[n++] = c;
            mask |= 1 << (int)c;
        }
        var cases = _present.AsSpan(0, n);
        core.Begin();
        Report.Clear();
        if (_layout is not null) _layout.Prepare(p, Options, _valueHbm!);
        else if (_functional) _valueHbm!.Prepare(p, Options);
        foreach (var c in cases) core.Kernel(c, p, Options, _blocks[(int)c]!, _hbm!).Bind(p);
        // The value passes need nothing from the timing pass: they run beside it.
        if (_split) _passes!.Start(p, _valueHbm!, core, cases);
        try
        {
            foreach (var c in cases)
            {
                var k = core.Kernel(c, p, Options, _blocks[(int)c]!, _hbm!);
                tl.CaptureInto(_before);
                k.Reclaim();
                try
                {
                    k.Run();
                }
                finally
                {
                    k.Release();
                }
                tl.CaptureInto(_after);
                var stats = Report.Add(c);
                stats.Scope = k.ScopeName;
                stats.Blocks = _blocks[(int)c]!;
                (stats.SeqStart, stats.SeqEnd) = p.Range(c);
                stats.Report.Fill(tl, _before, _after, k.ScopeName, timingOnly: !_functional);
            }
        }
        finally
        {
            // Also when the timing pass throws: the value passes use memory this session owns.
            try
            {
                _passes?.Wait();
            }
            finally
            {
                core.Unbind();
            }
        }
        ctx.CheckSemaphores();
        _zero.Zero(tl);
        tl.CaptureInto(_after);
        Report.Total.Fill(tl, _zero, _after, KernelName(mask, cases), timingOnly: !_functional, ctx.Vmem.Peak);
        if (_layout is not null) _layout.Outputs(p, _valueHbm!, output);
        else if (_functional) RpaInputLayout.PrepareOutputs(p, _valueHbm!.Out, _valueHbm.Q, output);
    }

    /// <summary>The run's name, one per set of calls (built once each: the scopes are fixed by the shape and options).</summary>
    private string KernelName(int mask, ReadOnlySpan<RpaCase> cases)
    {
        if (_kernelNames[mask] is { } name) return name;
        var scopes = new string[cases.Length];
        for (int i = 0; i < cases.Length; i++) scopes[i] = Report.Cases[i].Scope;
        return _kernelNames[mask] = "ragged_paged_attention " + string.Join(" + ", scopes);
    }

    public void Dispose()
    {
        if (Interlocked.CompareExchange(ref _running, 1, 0) != 0)
            throw new InvalidOperationException("RpaSession: cannot dispose while a call is running");
        try
        {
            if (_disposed) return;
            _disposed = true;
            _passes?.Dispose();
            _layout?.Dispose();
            _timing?.Dispose();
            _values?.Dispose();
        }
        finally
        {
            Volatile.Write(ref _running, 0);
        }
    }
}
