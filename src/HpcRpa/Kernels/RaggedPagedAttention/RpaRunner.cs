using HpcRpa.Hardware;
using HpcRpa.Memory;
using HpcRpa.Numerics;
using HpcRpa.Pallas;
using HpcRpa.Timeline;

namespace HpcRpa.Kernels.RaggedPagedAttention;

/// <summary>What one RPA call ran: per case, its scope name, blocks and sequence range.</summary>
public sealed record RpaCaseRun(RpaCase Case, string Scope, RpaBlockSizes Blocks, int SeqStart, int SeqEnd, RunReport Report);

/// <summary>The outcome of an RPA run: output [T, Hq, D] in the q dtype (functional mode) and the report.</summary>
public sealed record RpaResult(byte[]? Output, RunReport Report, IReadOnlyList<RpaCaseRun> Cases, Timeline.Timeline Timeline);

/// <summary>
/// ragged_paged_attention(...) on the core model: validates everything, lays the inputs out as the wrapper
/// does (q re-layout, K/V merge), runs the decode, prefill and mixed calls back to back, and lays the output
/// back out. The KV cache is the caller's array, pinned and updated in place (zero-copy), and untouched if
/// validation fails.
/// </summary>
public static unsafe class RpaRunner
{
    public static RpaResult Run(ChipSpec chip, RpaProblem p, RpaOptions o, ExecutionMode mode = ExecutionMode.Functional, bool trace = false)
    {
        bool functional = mode == ExecutionMode.Functional;
        RpaValidation.Validate(p, o, chip, functional);
        var L = p.Layout;
        using var pl = new KernelContext(chip, mode, trace, o.VmemLimitBytes);
        fixed (byte* cachePtr = p.KvCache)
        {
            using var cacheBuf = NativeBuffer.Wrap((nint)cachePtr, p.KvCache.LongLength);
            int T = p.MaxNumTokens;
            var qHbm = pl.Hbm.Allocate("q", L.QDType, L.Hkv, T, L.Gp, L.D128);
            var outHbm = pl.Hbm.Allocate("o", L.QDType, L.Hkv, T, L.Gp, L.D128);
            var newKv = pl.Hbm.Allocate("new_kv", DType.Int32, T, L.Rows, L.D128);
            var cacheShape = new[] { p.NumPages, p.PageSize, L.Rows, L.D128 };
            var cache = functional
                ? pl.Hbm.Wrap("kv_cache", DType.Int32, cacheShape, cacheBuf)
                : pl.Hbm.Allocate("kv_cache", DType.Int32, cacheShape);
            if (functional)
            {
                RpaInputLayout.PrepareQueries(p, o, qHbm);
                qHbm.Span<byte>().CopyTo(outHbm.Span<byte>()); // the output aliases q: untouched rows keep it
                if (o.UpdateKvCache) RpaInputLayout.MergeKv(p, newKv);
            }

            var cases = new List<RpaCaseRun>();
            foreach (var c in new[] { RpaCase.Decode, RpaCase.Prefill, RpaCase.Mixed })
            {
                if (!p.HasSequences(c)) continue;
                var blocks = o.Blocks(c) ?? RpaBlockSizes.Default(c, chip, p.QDType, p.KvDType, p.NumQHeads, p.NumKvHeads, p.HeadDim, p.PageSize, p.MaxNumTokens, p.PagesPerSeq);
                var before = pl.Timeline.Snapshot();
                var k = new RpaKernel(pl, p, o, c, blocks, qHbm, newKv, cache, outHbm);
                try
                {
                    k.Run();
                }
                finally
                {
                    k.Free();
                }
                var (s0, s1) = p.Range(c);
                var caseReport = RunReport.Between(pl.Timeline, before, pl.Timeline.Snapshot(), k.ScopeName, !functional);
                cases.Add(new RpaCaseRun(c, k.ScopeName, blocks, s0, s1, caseReport));
            }
            var report = pl.Finish("ragged_paged_attention " + string.Join(" + ", cases.Select(x => x.Scope)));
            byte[]? output = functional ? RpaInputLayout.PrepareOutputs(p, outHbm) : null;
            return new RpaResult(output, report, cases, pl.Timeline);
        }
    }
}
