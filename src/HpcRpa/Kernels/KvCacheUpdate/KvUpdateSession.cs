using HpcRpa.Errors;
using HpcRpa.Hardware;
using HpcRpa.Memory;
using HpcRpa.Numerics;
using HpcRpa.Pallas;
using HpcRpa.Timeline;

namespace HpcRpa.Kernels.KvCacheUpdate;

/// <summary>
/// The KV-cache update for a stream of calls of one shape: built once for a chip, a shape, a grid and N_b, it keeps
/// the core's context and timeline, the HBM, SMEM and VMEM operands, the views and the report, and resets them for
/// each call. A call validates everything first (nothing is written if it fails), updates the cache in place and
/// fills <see cref="Report"/>; in steady state it allocates nothing. Results are bit-identical to
/// <see cref="KvUpdateKernel.Run"/>'s, which is a session used once. One call at a time, as for
/// <see cref="RaggedPagedAttention.RpaSession"/>: a call that finds another one running throws.
/// </summary>
public sealed unsafe class KvUpdateSession : IDisposable
{
    private readonly bool _functional;
    private readonly string _scope;
    private readonly TimelineCounters _zero = new(), _now = new();
    private KernelContext? _pl;
    private KvUpdateOperands? _x;
    private NativeBuffer? _cache, _newKv;
    private int _running;
    private bool _disposed;

    /// <param name="slicesPerBlock">N_b; null picks it as tpu-inference does (<see cref="KvUpdateProblem.AutoSlicesPerBlock"/>).</param>
    public KvUpdateSession(ChipSpec chip, KvUpdateShape shape, KvUpdateGrid grid, int? slicesPerBlock = null,
        ExecutionMode mode = ExecutionMode.Functional, bool trace = false)
    {
        Chip = chip;
        Shape = shape;
        Grid = grid;
        Mode = mode;
        Trace = trace;
        SlicesPerBlock = slicesPerBlock ?? KvUpdateProblem.AutoSlicesPerBlock(shape.PageSize, shape.Combined, shape.HeadDim, shape.DType);
        _functional = mode == ExecutionMode.Functional;
        _scope = $"kv_cache_update-{grid.ToString().ToLowerInvariant()}-nb_{SlicesPerBlock}-p_{shape.PageSize}";
    }

    public ChipSpec Chip { get; }
    public KvUpdateShape Shape { get; }
    public KvUpdateGrid Grid { get; }
    public ExecutionMode Mode { get; }
    public bool Trace { get; }
    public int SlicesPerBlock { get; }

    /// <summary>The last call's report, filled in place by every call.</summary>
    public RunStats Report { get; } = new();

    /// <summary>The last call's grid size (programs run).</summary>
    public int Programs { get; private set; }

    /// <summary>The last call's timeline (reset by the next call).</summary>
    public Timeline.Timeline Timeline => _pl?.Timeline ?? throw new InvalidOperationException("no call has run on this session yet");

    /// <summary>Runs one update of the session's shape: validates it (nothing is written if it fails), updates its cache in place, returns <see cref="Report"/>.</summary>
    public RunStats Run(KvUpdateProblem p)
    {
        if (Interlocked.CompareExchange(ref _running, 1, 0) != 0)
            throw new InvalidOperationException("KvUpdateSession: a call is already running on this session (one call at a time; use one session per thread)");
        try
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            Shape.Check(p);
            KvUpdateValidation.Validate(p, SlicesPerBlock, Chip, _functional);
            Build();
            fixed (byte* cache = p.KvCache)
            fixed (byte* newKv = p.NewKv)
            {
                _cache?.Repoint(CacheOperand.Address(cache, p.KvCacheBuffer));
                _newKv?.Repoint((nint)newKv);
                try
                {
                    var pl = _pl!;
                    pl.ResetForReuse();
                    _x!.Reset();
                    Programs = KvUpdateKernel.Body(pl, p, Grid, SlicesPerBlock, _x, _scope);
                    pl.CheckSemaphores();
                    _zero.Zero(pl.Timeline);
                    pl.Timeline.CaptureInto(_now);
                    Report.Fill(pl.Timeline, _zero, _now, _scope, timingOnly: !_functional, pl.Vmem.Peak);
                }
                finally
                {
                    // The arrays are pinned only while the call runs.
                    _cache?.Repoint(0);
                    _newKv?.Repoint(0);
                }
            }
            return Report;
        }
        finally
        {
            Volatile.Write(ref _running, 0);
        }
    }

    /// <summary>What the first call builds, after its validation.</summary>
    private void Build()
    {
        if (_pl is not null) return;
        var pl = new KernelContext(Chip, Mode, Trace);
        try
        {
            var s = Shape;
            long rowBytes = (long)s.Combined * s.HeadDim * s.DType.Bytes();
            if (_functional)
            {
                _cache = NativeBuffer.Unpinned((long)s.NumPages * s.PageSize * rowBytes);
                _newKv = NativeBuffer.Unpinned(s.NumTokens * rowBytes);
            }
            _x = new KvUpdateOperands(pl, s, SlicesPerBlock, _cache, _newKv);
        }
        catch
        {
            pl.Dispose();
            throw;
        }
        _pl = pl;
    }

    public void Dispose()
    {
        if (Interlocked.CompareExchange(ref _running, 1, 0) != 0)
            throw new InvalidOperationException("KvUpdateSession: cannot dispose while a call is running");
        try
        {
            if (_disposed) return;
            _disposed = true;
            _pl?.Dispose();
        }
        finally
        {
            Volatile.Write(ref _running, 0);
        }
    }
}
