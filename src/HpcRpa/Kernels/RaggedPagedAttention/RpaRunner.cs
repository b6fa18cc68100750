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
/// How the host computes a functional run's values. Nothing here changes a value or a cycle: outputs, caches and
/// reports are bit-identical across every setting (tested).
/// </summary>
public sealed record RpaHostOptions
{
    /// <summary>
    /// Threads computing values; 0 (the default) takes one per core. With one, each op computes its values as it is
    /// charged, in one pass. With more, the run is a timing pass — the cycle model exactly as a timing-only run —
    /// and value passes over the q blocks spread across the threads (each q block's values depend on its own data
    /// only, and validation has ruled out the cache hazards that would make the order matter).
    /// </summary>
    public int Threads { get; init; }

    /// <summary>Functional DMAs into the KV slots bind rows to their pages instead of copying (<see cref="RowBindings"/>); off = eager copies.</summary>
    public bool CopyElision { get; init; } = true;

    public static RpaHostOptions Default { get; } = new();

    public int ResolvedThreads => Threads > 0 ? Threads : Environment.ProcessorCount;
}

/// <summary>
/// ragged_paged_attention(...) on the core model: validates everything, lays the inputs out as the wrapper
/// does (q re-layout, K/V merge), runs the decode, prefill and mixed calls back to back, and lays the output
/// back out. The KV cache is the caller's array, pinned and updated in place (zero-copy), and untouched if
/// validation fails.
/// </summary>
public static unsafe class RpaRunner
{
    private static readonly RpaCase[] Cases = [RpaCase.Decode, RpaCase.Prefill, RpaCase.Mixed];

    public static RpaResult Run(ChipSpec chip, RpaProblem p, RpaOptions o, ExecutionMode mode = ExecutionMode.Functional, bool trace = false,
        RpaHostOptions? host = null)
    {
        host ??= RpaHostOptions.Default;
        if (host.Threads < 0)
            throw new Errors.ValidationException("host.threads", null, host.Threads.ToString(), "must be 0 (one per core) or a positive thread count");
        bool functional = mode == ExecutionMode.Functional;
        RpaValidation.Validate(p, o, chip, functional);
        bool split = functional && host.ResolvedThreads > 1;
        // The timing pass: the only pass of a timing-only run or of a one-thread functional run (which computes
        // values as it goes); beside value passes otherwise.
        using var pl = new KernelContext(chip, split ? ExecutionMode.TimingOnly : mode, trace, o.VmemLimitBytes) { CopyElision = host.CopyElision };
        fixed (byte* cachePtr = p.KvCache)
        {
            using var cacheBuf = NativeBuffer.Wrap((nint)cachePtr, p.KvCache.LongLength);
            using var values = functional ? new MemoryPool(MemorySpace.Hbm, long.MaxValue, holdsValues: true) : null;
            var hbm = split ? HbmArrays.Allocate(pl.Hbm, p, null) : HbmArrays.Allocate(pl.Hbm, p, functional ? cacheBuf : null);
            var valueHbm = split ? HbmArrays.Allocate(values!, p, cacheBuf) : hbm;
            if (functional) valueHbm.Prepare(p, o);
            // The value passes need nothing from the timing pass: they run beside it.
            var valuePasses = split ? Task.Run(() => ValuePasses(chip, p, o, host, valueHbm)) : null;

            var cases = new List<RpaCaseRun>();
            try
            {
                foreach (var c in Cases)
                {
                    if (!p.HasSequences(c)) continue;
                    var blocks = BlocksOf(c, chip, p, o);
                    var before = pl.Timeline.Snapshot();
                    var k = new RpaKernel(pl, p, o, c, blocks, hbm.Q, hbm.NewKv, hbm.Cache, hbm.Out);
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
            }
            finally
            {
                // Also when the timing pass throws: the value passes use memory this method owns.
                valuePasses?.GetAwaiter().GetResult();
            }
            var report = pl.Finish("ragged_paged_attention " + string.Join(" + ", cases.Select(x => x.Scope)), valuesComputed: functional);
            byte[]? output = functional ? RpaInputLayout.PrepareOutputs(p, valueHbm.Out, valueHbm.Q) : null;
            return new RpaResult(output, report, cases, pl.Timeline);
        }
    }

    private static RpaBlockSizes BlocksOf(RpaCase c, ChipSpec chip, RpaProblem p, RpaOptions o) =>
        o.Blocks(c) ?? RpaBlockSizes.Default(c, chip, p.QDType, p.KvDType, p.NumQHeads, p.NumKvHeads, p.HeadDim, p.PageSize, p.MaxNumTokens, p.PagesPerSeq);

    /// <summary>The kernel's HBM operands: q and the output in kernel layout, the merged new tokens, the cache.</summary>
    private sealed record HbmArrays(Ref Q, Ref Out, Ref NewKv, Ref Cache)
    {
        public static HbmArrays Allocate(MemoryPool pool, RpaProblem p, NativeBuffer? cache)
        {
            var L = p.Layout;
            int T = p.MaxNumTokens;
            var cacheShape = new[] { p.NumPages, p.PageSize, L.Rows, L.D128 };
            return new HbmArrays(
                pool.Allocate("q", L.QDType, L.Hkv, T, L.Gp, L.D128),
                pool.Allocate("o", L.QDType, L.Hkv, T, L.Gp, L.D128),
                pool.Allocate("new_kv", DType.Int32, T, L.Rows, L.D128),
                cache is not null ? pool.Wrap("kv_cache", DType.Int32, cacheShape, cache) : pool.Allocate("kv_cache", DType.Int32, cacheShape));
        }

        /// <summary>The wrapper's layout steps (the output aliases q; <see cref="RpaInputLayout.PrepareOutputs"/> reads the rows no q block writes from q).</summary>
        public void Prepare(RpaProblem p, RpaOptions o)
        {
            RpaInputLayout.PrepareQueries(p, o, Q);
            if (o.UpdateKvCache) RpaInputLayout.MergeKv(p, NewKv);
        }
    }

    /// <summary>
    /// The values of every q block of every call, spread over host threads: each thread runs the same kernels on its
    /// own core context (VMEM scratch, semaphores; its cycles are not the run's) for the q blocks it takes, largest
    /// first, from one shared list.
    /// </summary>
    private static void ValuePasses(ChipSpec chip, RpaProblem p, RpaOptions o, RpaHostOptions host, HbmArrays hbm)
    {
        var work = new List<(int Case, int QBlock, long Work)>();
        var planner = new KernelContext(chip, ExecutionMode.TimingOnly, false, o.VmemLimitBytes);
        try
        {
            for (int c = 0; c < Cases.Length; c++)
            {
                if (!p.HasSequences(Cases[c])) continue;
                var k = new RpaKernel(planner, p, o, Cases[c], BlocksOf(Cases[c], chip, p, o), hbm.Q, hbm.NewKv, hbm.Cache, hbm.Out);
                for (int qi = 0; qi < k.QBlockCount; qi++) work.Add((c, qi, k.QBlockWork(qi)));
                k.Free();
            }
        }
        finally
        {
            planner.Dispose();
        }
        // Calls in order, each call's q blocks largest first: a thread holds one call's kernel (and its VMEM) at a
        // time, as the core does, and moves on to the next call when the current one has no q block left.
        work.Sort((a, b) => a.Case != b.Case ? a.Case.CompareTo(b.Case) : b.Work != a.Work ? b.Work.CompareTo(a.Work) : a.QBlock.CompareTo(b.QBlock));
        if (work.Count == 0) return;
        int next = -1;
        int threads = Math.Min(host.ResolvedThreads, work.Count);
        try
        {
            Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, Worker);
        }
        catch (AggregateException e) when (e.InnerExceptions.Count >= 1)
        {
            // A typed error from a thread (a VMEM overflow, a semaphore that would hang) reaches the caller as itself.
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e.InnerExceptions[0]).Throw();
        }

        void Worker(int _)
        {
            using var ctx = new KernelContext(chip, ExecutionMode.Functional, false, o.VmemLimitBytes) { CopyElision = host.CopyElision };
            RpaKernel? k = null;
            int kCase = -1;
            try
            {
                for (int i = Interlocked.Increment(ref next); i < work.Count; i = Interlocked.Increment(ref next))
                {
                    var (c, qi, _) = work[i];
                    if (c != kCase)
                    {
                        k?.Free();
                        k = null;
                        k = new RpaKernel(ctx, p, o, Cases[c], BlocksOf(Cases[c], chip, p, o), hbm.Q, hbm.NewKv, hbm.Cache, hbm.Out);
                        kCase = c;
                    }
                    k!.Run(qi, qi + 1);
                }
            }
            finally
            {
                k?.Free();
            }
        }
    }
}
