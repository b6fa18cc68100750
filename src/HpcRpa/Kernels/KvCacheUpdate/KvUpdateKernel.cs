using HpcRpa.Hardware;
using HpcRpa.Pallas;
using HpcRpa.Timeline;

namespace HpcRpa.Kernels.KvCacheUpdate;

/// <summary>The outcome of a KV update run.</summary>
public sealed record KvUpdateResult(RunReport Report, int Programs, int SlicesPerBlock, KvUpdateGrid Grid, Timeline.Timeline Timeline);

/// <summary>
/// The KV-cache-update kernel (rpa.md 4.2): scalar-prefetched slot mapping in SMEM, a VMEM scratch of
/// [N_b, P, C, D128] and one DMA semaphore. Program b handles slice indices b·N_b + i: it starts N_b reads
/// new_kv -> scratch, waits for all, starts N_b writes scratch -> cache, waits for all. Indices past
/// num_slices issue zero-length ("trivial") copies. The padded grid runs over every padded column; the
/// dynamic grid stops at cdiv(num_slices, N_b).
/// </summary>
public static class KvUpdateKernel
{
    /// <summary>One update; a <see cref="KvUpdateSession"/> used once (keep a session for a stream of them).</summary>
    public static KvUpdateResult Run(ChipSpec chip, KvUpdateProblem p, KvUpdateGrid grid, int? slicesPerBlock = null,
        ExecutionMode mode = ExecutionMode.Functional, bool trace = false)
    {
        using var session = new KvUpdateSession(chip, KvUpdateShape.Of(p), grid, slicesPerBlock, mode, trace);
        var report = session.Run(p);
        return new KvUpdateResult(report.ToReport(), session.Programs, session.SlicesPerBlock, grid, session.Timeline);
    }

    /// <summary>The kernel body on <paramref name="x"/>, after validation; returns the programs (grid size) it ran.</summary>
    internal static int Body(KernelContext pl, KvUpdateProblem p, KvUpdateGrid grid, int nb, KvUpdateOperands x, string scope)
    {
        // Scalar prefetch: the slot mapping and num_slices land in SMEM before the grid starts.
        if (pl.Functional) p.Slices.AsSpan().CopyTo(x.SlicesHbm.Span<int>());
        pl.SyncCopy(x.SlicesHbm, x.SlicesSmem, "scalar prefetch slices");

        int programs = grid == KvUpdateGrid.Padded
            ? (p.PaddedSlices + nb - 1) / nb
            : (p.NumSlices + nb - 1) / nb;
        long scopeStart = pl.Timeline.Now;
        var reads = x.Reads;
        var writes = x.Writes;
        for (int b = 0; b < programs; b++)
        {
            pl.Timeline.Scalar.GridStep();
            for (int i = 0; i < nb; i++)
            {
                int idx = b * nb + i;
                bool real = idx < p.NumSlices;
                pl.Timeline.Scalar.SmemRead(2);
                int start = real ? p.NewStart(idx) : 0, len = real ? p.Length(idx) : 0;
                reads[i] = pl.MakeAsyncCopy(x.NewKvSlot[i].Slice(0, start, len), x.ScratchSlot[i].Slice(0, 0, len), x.Semaphore, real ? "new_kv -> scratch" : "trivial copy");
                reads[i].Start();
            }
            foreach (var c in reads) c.Wait();
            for (int i = 0; i < nb; i++)
            {
                int idx = b * nb + i;
                bool real = idx < p.NumSlices;
                pl.Timeline.Scalar.SmemRead(2);
                int start = real ? p.CacheStart(idx) : 0, len = real ? p.Length(idx) : 0;
                writes[i] = pl.MakeAsyncCopy(x.ScratchSlot[i].Slice(0, 0, len), x.CacheSlot[i].Slice(0, start, len), x.Semaphore, real ? "scratch -> kv_cache" : "trivial copy");
                writes[i].Start();
            }
            foreach (var c in writes) c.Wait();
        }
        pl.Timeline.MarkScope(scope, scopeStart);
        return programs;
    }
}
