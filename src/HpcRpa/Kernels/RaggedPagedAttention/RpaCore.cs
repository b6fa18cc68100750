using HpcRpa.Pallas;

namespace HpcRpa.Kernels.RaggedPagedAttention;

/// <summary>
/// One emulated core as a session keeps it between calls: its context and, per call type (decode, prefill,
/// mixed), the kernel built for it — VMEM buffers, semaphores, views. A kernel holds its VMEM only while it runs
/// (<see cref="RpaKernel.Reclaim"/> … <see cref="RpaKernel.Release"/>), as each pallas_call does on the TPU.
/// </summary>
internal sealed class RpaCore(KernelContext context) : IDisposable
{
    private readonly RpaKernel?[] _kernels = new RpaKernel?[3];

    public KernelContext Context { get; } = context;

    /// <summary>The kernel of call type <paramref name="c"/>, built on first use and released (its VMEM is taken back by a run).</summary>
    public RpaKernel Kernel(RpaCase c, RpaProblem p, RpaOptions o, RpaBlockSizes blocks, RpaHbmArrays hbm)
    {
        var k = _kernels[(int)c];
        if (k is not null) return k;
        k = new RpaKernel(Context, p, o, c, blocks, hbm.Q, hbm.NewKv, hbm.Cache, hbm.Out);
        k.Release();
        return _kernels[(int)c] = k;
    }

    /// <summary>Before a call: every kernel's VMEM released (a failed call may have left one holding it) and the context as new.</summary>
    public void Begin()
    {
        foreach (var k in _kernels) k?.Release();
        Context.ResetForReuse();
    }

    /// <summary>After a call: no kernel keeps the caller's arrays alive until the next one.</summary>
    public void Unbind()
    {
        foreach (var k in _kernels) k?.Unbind();
    }

    public void Dispose() => Context.Dispose();
}
