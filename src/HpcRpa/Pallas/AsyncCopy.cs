using HpcRpa.Memory;
using HpcRpa.Timeline;

namespace HpcRpa.Pallas;

/// <summary>
/// An async copy descriptor (pltpu.make_async_copy): Start() issues it on the DMA engine and, in functional
/// mode, moves the bytes; Wait() stalls the scalar core until the semaphore has counted this copy's bytes.
/// </summary>
public readonly struct AsyncCopy
{
    private readonly KernelContext _ctx;
    public Ref Source { get; }
    public Ref Destination { get; }
    public DmaSemaphore Semaphore { get; }
    private readonly string _label;

    internal AsyncCopy(KernelContext ctx, Ref src, Ref dst, DmaSemaphore sem, string? label)
    {
        RefCopy.Check(src, dst);
        _ctx = ctx;
        Source = src;
        Destination = dst;
        Semaphore = sem;
        _label = label ?? sem.Name;
    }

    public long Bytes => Source.Bytes;

    public void Start()
    {
        _ctx.IssueDma(Source.Bytes, Source.Space, Destination.Space, Source.Root, Semaphore, _label);
        if (_ctx.Functional) _ctx.MoveValues(Source, Destination);
    }

    public void Wait() => WaitBytes(_ctx, Semaphore, Source.Bytes);

    /// <summary>A wait for an arbitrary byte count on a semaphore (the RPA kernel waits once for several page copies).</summary>
    public static void WaitBytes(KernelContext ctx, DmaSemaphore sem, long bytes)
    {
        var tl = ctx.Timeline;
        tl.Scalar.Issue();
        long at = sem.Consume(bytes);
        tl.StallUntil(at, sem.WaitLabel);
    }
}
