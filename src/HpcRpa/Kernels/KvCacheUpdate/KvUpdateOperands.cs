using HpcRpa.Memory;
using HpcRpa.Numerics;
using HpcRpa.Pallas;
using HpcRpa.Timeline;

namespace HpcRpa.Kernels.KvCacheUpdate;

/// <summary>
/// What the KV-update kernel works on, built once per session: the cache and new tokens in HBM (the caller's
/// arrays, pinned call by call), the slot mapping in HBM and SMEM, the VMEM scratch and its semaphore, and per
/// scratch slot the views its copies slice. Each slot has cursors of its own, as a slot's copy keeps its views
/// until its wait.
/// </summary>
internal sealed class KvUpdateOperands
{
    public KvUpdateOperands(KernelContext pl, KvUpdateShape s, int nb, NativeBuffer? cache, NativeBuffer? newKv)
    {
        int[] rowShape = [s.Combined, s.HeadDim];
        int cacheTokens = s.NumPages * s.PageSize;
        Cache = cache is not null ? pl.Hbm.Wrap("kv_cache", s.DType, [cacheTokens, .. rowShape], cache) : pl.Hbm.Allocate("kv_cache", s.DType, [cacheTokens, .. rowShape]);
        NewKv = newKv is not null ? pl.Hbm.Wrap("new_kv", s.DType, [s.NumTokens, .. rowShape], newKv) : pl.Hbm.Allocate("new_kv", s.DType, [s.NumTokens, .. rowShape]);
        SlicesHbm = pl.Hbm.Allocate("slices", DType.Int32, 3, s.PaddedSlices);
        SlicesSmem = pl.Smem.Allocate("slices", DType.Int32, 3, s.PaddedSlices);
        Scratch = pl.Vmem.Allocate("scratch", s.DType, nb, s.PageSize, s.Combined, s.HeadDim);
        Semaphore = pl.Semaphore("sem");
        NewKvSlot = new ViewCursor[nb];
        ScratchSlot = new ViewCursor[nb];
        CacheSlot = new ViewCursor[nb];
        for (int i = 0; i < nb; i++)
        {
            NewKvSlot[i] = new ViewCursor(NewKv);
            ScratchSlot[i] = new ViewCursor(Scratch[i]);
            CacheSlot[i] = new ViewCursor(Cache);
        }
        Reads = new AsyncCopy[nb];
        Writes = new AsyncCopy[nb];
    }

    public Ref Cache { get; }
    public Ref NewKv { get; }
    public Ref SlicesHbm { get; }
    public Ref SlicesSmem { get; }
    public Ref Scratch { get; }
    public DmaSemaphore Semaphore { get; }
    public ViewCursor[] NewKvSlot { get; }
    public ViewCursor[] ScratchSlot { get; }
    public ViewCursor[] CacheSlot { get; }
    public AsyncCopy[] Reads { get; }
    public AsyncCopy[] Writes { get; }

    /// <summary>Every operand ready at cycle 0 again, as freshly allocated ones are.</summary>
    public void Reset()
    {
        Cache.Root.ReadyAt = NewKv.Root.ReadyAt = SlicesHbm.Root.ReadyAt = SlicesSmem.Root.ReadyAt = Scratch.Root.ReadyAt = 0;
        Array.Clear(Reads);
        Array.Clear(Writes);
    }
}
