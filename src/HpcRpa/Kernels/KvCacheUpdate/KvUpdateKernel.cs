using HpcRpa.Hardware;
using HpcRpa.Memory;
using HpcRpa.Numerics;
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
public static unsafe class KvUpdateKernel
{
    public static KvUpdateResult Run(ChipSpec chip, KvUpdateProblem p, KvUpdateGrid grid, int? slicesPerBlock = null,
        ExecutionMode mode = ExecutionMode.Functional, bool trace = false)
    {
        bool functional = mode == ExecutionMode.Functional;
        int nb = slicesPerBlock ?? KvUpdateProblem.AutoSlicesPerBlock(p.PageSize, p.Combined, p.HeadDim, p.DType);
        KvUpdateValidation.Validate(p, nb, chip, functional);
        using var pl = new KernelContext(chip, mode, trace);
        fixed (byte* cachePtr = p.KvCache)
        fixed (byte* newPtr = p.NewKv)
        {
            using var cacheBuf = NativeBuffer.Wrap((nint)cachePtr, p.KvCache.LongLength);
            using var newBuf = NativeBuffer.Wrap((nint)newPtr, p.NewKv.LongLength);
            int[] rowShape = [p.Combined, p.HeadDim];
            var cache = functional ? pl.Hbm.Wrap("kv_cache", p.DType, [p.CacheTokens, .. rowShape], cacheBuf) : pl.Hbm.Allocate("kv_cache", p.DType, [p.CacheTokens, .. rowShape]);
            var newKv = functional ? pl.Hbm.Wrap("new_kv", p.DType, [p.NumTokens, .. rowShape], newBuf) : pl.Hbm.Allocate("new_kv", p.DType, [p.NumTokens, .. rowShape]);

            // Scalar prefetch: the slot mapping and num_slices land in SMEM before the grid starts.
            var slicesHbm = pl.Hbm.Allocate("slices", DType.Int32, 3, p.PaddedSlices);
            var slicesSmem = pl.Smem.Allocate("slices", DType.Int32, 3, p.PaddedSlices);
            if (functional) p.Slices.AsSpan().CopyTo(slicesHbm.Span<int>());
            pl.SyncCopy(slicesHbm, slicesSmem, "scalar prefetch slices");

            var scratch = pl.Vmem.Allocate("scratch", p.DType, nb, p.PageSize, p.Combined, p.HeadDim);
            var sem = pl.Semaphore("sem");
            int programs = grid == KvUpdateGrid.Padded
                ? (p.PaddedSlices + nb - 1) / nb
                : (p.NumSlices + nb - 1) / nb;
            string scope = $"kv_cache_update-{grid.ToString().ToLowerInvariant()}-nb_{nb}-p_{p.PageSize}";
            long scopeStart = pl.Timeline.Now;
            var reads = new AsyncCopy[nb];
            var writes = new AsyncCopy[nb];
            for (int b = 0; b < programs; b++)
            {
                pl.Timeline.Scalar.GridStep();
                for (int i = 0; i < nb; i++)
                {
                    int idx = b * nb + i;
                    bool real = idx < p.NumSlices;
                    pl.Timeline.Scalar.SmemRead(2);
                    int start = real ? p.NewStart(idx) : 0, len = real ? p.Length(idx) : 0;
                    reads[i] = pl.MakeAsyncCopy(newKv.Slice(0, start, len), scratch[i].Slice(0, 0, len), sem, real ? "new_kv -> scratch" : "trivial copy");
                    reads[i].Start();
                }
                foreach (var c in reads) c.Wait();
                for (int i = 0; i < nb; i++)
                {
                    int idx = b * nb + i;
                    bool real = idx < p.NumSlices;
                    pl.Timeline.Scalar.SmemRead(2);
                    int start = real ? p.CacheStart(idx) : 0, len = real ? p.Length(idx) : 0;
                    writes[i] = pl.MakeAsyncCopy(scratch[i].Slice(0, 0, len), cache.Slice(0, start, len), sem, real ? "scratch -> kv_cache" : "trivial copy");
                    writes[i].Start();
                }
                foreach (var c in writes) c.Wait();
            }
            pl.Timeline.MarkScope(scope, scopeStart);
            var report = pl.Finish(scope);
            return new KvUpdateResult(report, programs, nb, grid, pl.Timeline);
        }
    }
}
