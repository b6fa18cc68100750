using System.CommandLine;
using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Text.Json;
using HpcRpa.Hardware;
using HpcRpa.Kernels.RaggedPagedAttention;
using HpcRpa.Memory;
using HpcRpa.Numerics;
using HpcRpa.Pallas;
using HpcRpa.TorchSharp.Compare;
using HpcRpa.TorchSharp.Reference;
using HpcRpa.TorchSharp.Tensors;
using HpcRpa.Workloads;
using static TorchSharp.torch;

namespace HpcRpa.Cli.Commands;

/// <summary>
/// Host speed against the host's own limits, all measured in one process: a STREAM-like read and an FMA loop
/// (the limits), functional RPA decode (KV bytes per second) and prefill (FLOP/s) against them and against
/// TorchSharp on the same data, two-thread scaling, and the timing-only simulator's rate.
/// </summary>
internal static class BenchCommand
{

    public static Command Create()
    {
        var json = new Option<bool>("--json") { Description = "print one JSON object" };
        var quick = new Option<bool>("--quick") { Description = "smaller problems (a smoke run, not the targets' shapes)" };
        var cmd = new Command("bench", "Measure host limits and HpcRpa's speed against them and against TorchSharp.");
        cmd.Options.Add(json);
        cmd.Options.Add(quick);
        cmd.SetAction(r =>
        {
            bool q = r.GetValue(quick);
            WarmSeconds = q ? 1.0 : 2.0;
            var log = r.GetValue(json) ? TextWriter.Null : Console.Out;
            var res = new Dictionary<string, object?>();
            // HpcRpa is measured first and TorchSharp last: libtorch's worker threads keep spinning for a while after
            // each op, and would take cores from whatever ran next. The host limits are measured at both ends (the
            // machine is shared; the better reading is the limit).
            long readBytes = q ? 256 << 20 : 1 << 30;
            double readBw = ReadBandwidth(readBytes);
            double fma1 = FmaPeak(1), fma2 = FmaPeak(2);

            int threads = Environment.ProcessorCount;
            var host = new RpaHostOptions { Threads = threads };
            res["threads"] = threads;

            // Decode: 64 x 2048 (32 q heads, 8 KV heads, head_dim 128, page 16, bf16), values on every core.
            var dec = BatchBuilder.Build(ModelPreset.Llama3_8B, [new(SegmentKind.Decode, q ? 8 : 64, 1, 2048)], 16, DType.BF16, seed: 1);
            long kvBytes = dec.Problem.KvLens.Sum(x => (long)x) * dec.Problem.Layout.TokenBytes;
            // The cache in native memory, where a serving loop keeps a real one (a byte[] stops short of 2 GiB): its
            // token rows start on 64-byte lines, where a byte[]'s data starts 24 bytes past one on this host. The same
            // batch on the array is measured beside it.
            using var decCache = NativeBuffer.CopyOf(dec.Problem.KvCache);
            var decNative = dec.Problem with { KvCache = [], KvCacheBuffer = decCache };
            // What decode's arithmetic leaves of the read bandwidth on this host, with none of decode's other costs: a
            // 64-byte line of the cache holds 16 K and 16 V words of one head, each vector used by the G query rows.
            int decodeFmasPerLine = 2 * dec.Problem.NumQHeads / dec.Problem.NumKvHeads;
            double densityBw = ReadBandwidth(readBytes, decodeFmasPerLine);
            // And what the cache's own layout allows: the batch's pages read with no compute at all, with 1 to 8 pages
            // of a sequence in flight per core (decode's q·k has four); the best of them.
            int[] inFlight = [1, 2, 4, 8];
            double[] layoutBws = inFlight.Select(n => LayoutReadBandwidth(decNative, n)).ToArray();
            // And what one core reads of it alone (eight pages in flight): whether a core could stream the cache while
            // the other computes, or both must overlap their arithmetic with their own reads.
            double layoutOneCore = LayoutReadBandwidth(decNative, 8, threads: 1);
            // Every RPA figure is a steady-state call, as a serving loop makes it: a kept session (buffers, kernels and
            // worker cores built once), the output written into the caller's array.
            double tDec = TimeSession(ChipPresets.Tpu7x, decNative, dec.Options, ExecutionMode.Functional, host, 5);
            double tDecArray = TimeSession(ChipPresets.Tpu7x, dec.Problem, dec.Options, ExecutionMode.Functional, host, 5);
            // Decode's arithmetic alone: the same batch with every sequence reading the same few pages (256 KiB, so the
            // host's L2 holds them) — the same work, the KV from cache instead of memory. The cache is not updated:
            // sequences sharing pages would all write them (validation refuses that), and the update is one token each.
            var inCache = InCache(decNative, 256 * 1024);
            double tDecCache = TimeSession(ChipPresets.Tpu7x, inCache, dec.Options with { UpdateKvCache = false }, ExecutionMode.Functional, host, 5);

            // Prefill: one sequence of 2048 tokens, causal, f32, same heads.
            int T = q ? 512 : 2048;
            var pre = BatchBuilder.Build(ModelPreset.Llama3_8B, [new(SegmentKind.Prefill, 1, T, 0)], 16, DType.F32, DType.F32, seed: 2);
            double flops = 4.0 * 32 * 128 * (T * (T + 1.0) / 2);
            // f32 doubles the buffers: the heuristic's (512, 1024, 256, 512) does not fit tpu7x's 64 MiB, half the q block does.
            var preOptions = pre.Options with { PrefillBlocks = new RpaBlockSizes(256, 1024, 256, 512) };
            double tPre = TimeSession(ChipPresets.Tpu7x, pre.Problem, preOptions, ExecutionMode.Functional, host, 5);

            // Cores: one mixed batch (chunked prefills and decodes) on one thread, then on every core.
            var mixed = BatchBuilder.Build(ModelPreset.Llama3_8B, [new(SegmentKind.Mixed, 4, 128, 1024), new(SegmentKind.Decode, 16, 1, 1024)], 16, DType.BF16, seed: 3);
            // The two sides alternate call by call, so both meet the same moments of a shared machine (measured one after
            // the other, a neighbour busy during one side only decided the ratio).
            var (tOne, tAll) = TimeSessionPair(ChipPresets.Tpu7x, mixed.Problem, mixed.Options, new RpaHostOptions { Threads = 1 }, host, 5);

            // Timing-only: events per second, and a Llama-3-8B decode step (32 layers of 256 x 4K, page 64, tpu7x).
            var tdec = BatchBuilder.Build(ModelPreset.Llama3_8B, [new(SegmentKind.Decode, 64, 1, 2048)], 16, DType.BF16, seed: 5, values: false);
            long events = 0;
            double tEv;
            using (var s = new RpaSession(ChipPresets.Tpu7x, RpaShape.Of(tdec.Problem), tdec.Options, ExecutionMode.TimingOnly))
                tEv = Time(() => events = s.Run(tdec.Problem).Total.Events, 3);
            var step = BatchBuilder.Build(ModelPreset.Llama3_8B, [new(SegmentKind.Decode, q ? 32 : 256, 1, 4096)], 64, DType.BF16, seed: 6, values: false);
            // The 32 layers are 32 independent kernel calls, each modelled in full on its own timeline (a session keeps
            // buffers between calls, never results); they run on every core, one session per core, each core taking
            // the next layer when it is done with one (a core slowed by a neighbour then takes fewer).
            var layerSessions = Enumerable.Range(0, threads)
                .Select(_ => new RpaSession(ChipPresets.Tpu7x, RpaShape.Of(step.Problem), step.Options, ExecutionMode.TimingOnly)).ToArray();
            double tStep;
            var nextLayer = new int[1];
            try
            {
                tStep = Time(() =>
                {
                    nextLayer[0] = 0;
                    Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, c =>
                    {
                        while (Interlocked.Increment(ref nextLayer[0]) <= 32) layerSessions[c].Run(step.Problem);
                    });
                }, 5);
            }
            finally
            {
                foreach (var ls in layerSessions) ls.Dispose();
            }
            readBw = Math.Max(readBw, ReadBandwidth(readBytes));
            densityBw = Math.Max(densityBw, ReadBandwidth(readBytes, decodeFmasPerLine));
            for (int i = 0; i < inFlight.Length; i++) layoutBws[i] = Math.Max(layoutBws[i], LayoutReadBandwidth(decNative, inFlight[i]));
            double layoutBw = layoutBws.Max();
            fma1 = Math.Max(fma1, FmaPeak(1));
            fma2 = Math.Max(fma2, FmaPeak(2));

            // TorchSharp on the same data. The decode side gets its pages as bf16 tensors prepared outside the timed
            // region, and runs the batch the way a serving engine's fallback would: one gather of every sequence's
            // pages, grouped matmuls, softmax.
            var (kPages, vPages) = TorchComparison.DecodePages(dec.Problem, dec.Problem.KvCache);
            kPages = kPages.to(ScalarType.BFloat16);
            vPages = vPages.to(ScalarType.BFloat16);
            var qDec = TensorBridge.FromBytes(dec.Problem.Queries, dec.Problem.QDType, dec.Problem.MaxNumTokens, dec.Problem.NumQHeads, dec.Problem.HeadDim).to(ScalarType.BFloat16);
            double tTorchDec = Time(() => TorchDecodeBatched(dec.Problem, dec.Options, qDec, kPages, vPages), 2);
            double tTorchPre = Time(() => TorchPrefill(pre.Problem), 3);

            res["host_read_gb_s"] = readBw / 1e9;
            res["host_fma_gflop_s_1_thread"] = fma1 / 1e9;
            res["host_fma_gflop_s_2_threads"] = fma2 / 1e9;
            log.WriteLine($"host limits: memory read {readBw / 1e9:0.0} GB/s, fp32 FMA {fma1 / 1e9:0} GFLOP/s (1 thread), {fma2 / 1e9:0} GFLOP/s (2 threads)");
            // A plain sequential read slower than the read of the cache's scattered pages is not this host's limit: both
            // of its readings caught the memory busy from outside (a shared machine), and every fraction of it reads
            // high (measured: 28–46 GB/s in such runs against 60–67 in quiet ones, while decode slowed by 10–20 %).
            bool readSuspect = layoutBw > readBw;
            res["host_read_below_layout_read"] = readSuspect;
            if (readSuspect)
                log.WriteLine($"  warning: the plain read ({readBw / 1e9:0.0} GB/s) came out below the read of the decode batch's pages ({layoutBw / 1e9:0.0} GB/s): the memory was busy from outside; the fractions of read bandwidth below are not this host's");
            res["decode_seconds"] = tDec;
            res["decode_kv_gb_s"] = kvBytes / tDec / 1e9;
            res["decode_bw_fraction"] = kvBytes / tDec / readBw;
            res["decode_array_cache_seconds"] = tDecArray;
            res["decode_array_cache_bw_fraction"] = kvBytes / tDecArray / readBw;
            res["torch_decode_seconds"] = tTorchDec;
            res["decode_vs_torch"] = tTorchDec / tDec;
            res["decode_in_cache_seconds"] = tDecCache;
            res["decode_in_cache_kv_gb_s"] = kvBytes / tDecCache / 1e9;
            res["read_with_decode_fmas_gb_s"] = densityBw / 1e9;
            res["read_with_decode_fmas_fraction"] = densityBw / readBw;
            log.WriteLine($"{dec.Segments[0]}: {tDec * 1e3:0} ms = {kvBytes / tDec / 1e9:0.00} GB/s of KV = {kvBytes / tDec / readBw:P1} of read bandwidth; TorchSharp {tTorchDec * 1e3:0} ms -> {tTorchDec / tDec:0.00}x");
            log.WriteLine($"  the cache in a byte[] instead of native memory: {tDecArray * 1e3:0} ms = {kvBytes / tDecArray / 1e9:0.00} GB/s of KV = {kvBytes / tDecArray / readBw:P1} of read bandwidth");
            // Decode's arithmetic against the time the 80 % target allows the whole call: at 1 or more no overlap of
            // compute with memory, however good, meets it; below 1, the rest is the overlap the kernel must achieve.
            double targetSeconds = kvBytes / (0.8 * readBw);
            res["decode_in_cache_share_of_target_time"] = tDecCache / targetSeconds;
            log.WriteLine($"  arithmetic alone: the same batch with its KV in cache (every sequence reads the same {inCache.PageIndices.Distinct().Count()} pages) {tDecCache * 1e3:0.0} ms = {kvBytes / tDecCache / 1e9:0.00} GB/s of KV;"
                + $" 80 % of read bandwidth needs the whole call in {targetSeconds * 1e3:0.0} ms (the arithmetic alone takes {tDecCache / targetSeconds:P0} of it)");
            log.WriteLine($"  ceiling: the same read doing decode's {decodeFmasPerLine} FMAs per 64-byte line runs at {densityBw / 1e9:0.0} GB/s = {densityBw / readBw:P1} of read bandwidth");
            res["decode_layout_read_gb_s"] = layoutBw / 1e9;
            res["decode_layout_read_fraction"] = layoutBw / readBw;
            res["decode_layout_read_one_core_gb_s"] = layoutOneCore / 1e9;
            res["decode_layout_read_gb_s_by_pages_in_flight"] = inFlight.Zip(layoutBws).ToDictionary(x => x.First.ToString(), x => x.Second / 1e9);
            // The decode fraction a kernel would reach if its arithmetic (as measured in cache) ran entirely under its
            // read of the layout (as measured alone): the call in max(arithmetic, read) instead of anything more.
            double overlapBound = kvBytes / Math.Max(tDecCache, kvBytes / layoutBw) / readBw;
            res["decode_perfect_overlap_bw_fraction"] = overlapBound;
            log.WriteLine($"  perfect overlap of that arithmetic with the layout read below would give {overlapBound:P1} of read bandwidth");
            log.WriteLine($"  ceiling: reading the batch's KV pages alone (no compute) runs at {layoutBw / 1e9:0.0} GB/s = {layoutBw / readBw:P1} of read bandwidth"
                + $" (best of {string.Join(", ", inFlight.Zip(layoutBws).Select(x => $"{x.Second / 1e9:0.0}"))} GB/s with {string.Join(", ", inFlight)} pages in flight per core);"
                + $" one core alone {layoutOneCore / 1e9:0.0} GB/s");
            double fmaAll = threads > 1 ? fma2 : fma1;
            res["prefill_gflop_s"] = flops / tPre / 1e9;
            res["prefill_peak_fraction"] = flops / tPre / fmaAll;
            res["torch_prefill_gflop_s"] = flops / tTorchPre / 1e9;
            res["prefill_vs_torch"] = tTorchPre / tPre;
            log.WriteLine($"prefill 1x{T} causal f32: {flops / tPre / 1e9:0.0} GFLOP/s = {flops / tPre / fmaAll:P1} of the {Math.Min(threads, 2)}-thread FMA peak; TorchSharp SDPA {flops / tTorchPre / 1e9:0.0} GFLOP/s -> {tTorchPre / tPre:0.00}x");
            res["cores_scaling"] = tOne / tAll;
            log.WriteLine($"one mixed batch ({string.Join(", ", mixed.Segments)}): one thread {tOne * 1e3:0} ms, {threads} threads {tAll * 1e3:0} ms -> {tOne / tAll:0.00}x");
            res["timing_only_events_per_s"] = events / tEv;
            res["timing_only_step_ms"] = tStep * 1e3;
            log.WriteLine($"timing-only: {events / tEv / 1e6:0.00} M modelled events/s; Llama-3-8B decode step ({step.Segments[0]}, 32 layers) {tStep * 1e3:0} ms");
            res["quick"] = q;
            res["cpu"] = RuntimeInformation.ProcessArchitecture.ToString();
            res["cores"] = Environment.ProcessorCount;
            res["simd"] = SimdPaths.Best.ToString();
            if (r.GetValue(json)) Console.WriteLine(JsonSerializer.Serialize(res));
            return 0;
        });
        return cmd;
    }

    /// <summary>
    /// <paramref name="p"/> with every sequence's page table pointing at sequence 0's first pages, as many as fit in
    /// <paramref name="bytes"/> (at least one), in turn: the same metadata and work, with a working set the host's
    /// cache holds.
    /// </summary>
    private static RpaProblem InCache(RpaProblem p, long bytes)
    {
        int pages = (int)Math.Clamp(bytes / (p.PageSize * p.Layout.TokenBytes), 1, p.PagesPerSeq);
        var indices = new int[p.PageIndices.Length];
        for (int i = 0; i < indices.Length; i++) indices[i] = p.PageIndices[i % p.PagesPerSeq % pages];
        return p with { PageIndices = indices };
    }

    /// <summary>Best of <paramref name="runs"/> steady-state calls on a kept session, after <see cref="WarmSeconds"/> of calls.</summary>
    private static double TimeSession(ChipSpec chip, RpaProblem p, RpaOptions o, ExecutionMode mode, RpaHostOptions host, int runs)
    {
        using var session = new RpaSession(chip, RpaShape.Of(p), o, mode, host: host);
        var output = new byte[session.OutputBytes];
        return Time(() => session.Run(p, output), runs);
    }

    /// <summary>Best of <paramref name="runs"/> steady-state functional calls on each of two kept sessions, their calls alternated.</summary>
    private static (double A, double B) TimeSessionPair(ChipSpec chip, RpaProblem p, RpaOptions o, RpaHostOptions hostA, RpaHostOptions hostB, int runs)
    {
        using var a = new RpaSession(chip, RpaShape.Of(p), o, ExecutionMode.Functional, host: hostA);
        using var b = new RpaSession(chip, RpaShape.Of(p), o, ExecutionMode.Functional, host: hostB);
        var output = new byte[a.OutputBytes];
        Action runA = () => a.Run(p, output), runB = () => b.Run(p, output);
        Warm(() => { runA(); runB(); });
        double bestA = double.MaxValue, bestB = double.MaxValue;
        for (int i = 0; i < runs; i++)
        {
            bestA = Math.Min(bestA, Seconds(runA));
            bestB = Math.Min(bestB, Seconds(runB));
        }
        return (bestA, bestB);
    }

    /// <summary>Best of <paramref name="runs"/> wall-clock runs after the warm-up.</summary>
    private static double Time(Action a, int runs)
    {
        Warm(a);
        double best = double.MaxValue;
        for (int i = 0; i < runs; i++) best = Math.Min(best, Seconds(a));
        return best;
    }

    /// <summary>
    /// Seconds of calls before a figure is timed. A call's first runs execute code the JIT has not optimised yet:
    /// tiered compilation starts a method unoptimised and replaces it in the background once it has run often and
    /// the process has stopped meeting new methods. Measured in a fresh process, decode with its KV in cache took
    /// 17–24 ms a call for its first ~40 calls (about a second) and 11–12 ms from ~65 calls on (10–12 ms from the
    /// second call with tiering off, DOTNET_TieredCompilation=0); one warm-up call, as before, timed the unoptimised
    /// code. <c>--quick</c> (a smoke run) warms for half of it.
    /// </summary>
    private static double WarmSeconds = 2.0;

    /// <summary>Calls <paramref name="a"/> until <see cref="WarmSeconds"/> have passed (at least once).</summary>
    private static void Warm(Action a)
    {
        var sw = Stopwatch.StartNew();
        do a(); while (sw.Elapsed.TotalSeconds < WarmSeconds);
    }

    private static double Seconds(Action a)
    {
        var sw = Stopwatch.StartNew();
        a();
        return sw.Elapsed.TotalSeconds;
    }

    /// <summary>
    /// STREAM-like read: sum a large array on all cores with vector loads; best of 3 passes. With
    /// <paramref name="fmasPerLine"/> (even) each 64-byte line also feeds that many independent FMAs, as decode's
    /// arithmetic does (G = 4 query rows: four q·k and four p·V FMAs per line of packed K/V words): what this host
    /// reads while doing that much work, on the best access pattern (one sequential stream per core).
    /// </summary>
    private static unsafe double ReadBandwidth(long bytes, int fmasPerLine = 0)
    {
        long n = bytes / 4;
        int rounds = fmasPerLine / 2; // a round is two FMAs per line (eight over the four lines of a step)
        float* p = (float*)NativeMemory.AlignedAlloc((nuint)bytes, 64);
        try
        {
            new Span<byte>(p, (int)Math.Min(bytes, int.MaxValue)).Fill(1);
            if (bytes > int.MaxValue) new Span<byte>((byte*)p + int.MaxValue, (int)(bytes - int.MaxValue)).Fill(1);
            int threads = Environment.ProcessorCount;
            var sums = new float[threads];
            return BestReadRate(t =>
            {
                long lo = n * t / threads, hi = n * (t + 1) / threads;
                var a0 = Vector512<float>.Zero; var a1 = a0; var a2 = a0; var a3 = a0;
                var f0 = a0; var f1 = a0; var f2 = a0; var f3 = a0; var f4 = a0; var f5 = a0; var f6 = a0; var f7 = a0;
                var m = Vector512.Create(0.999f);
                long i = lo;
                for (; i + 64 <= hi; i += 64)
                {
                    var x0 = Vector512.Load(p + i); var x1 = Vector512.Load(p + i + 16);
                    var x2 = Vector512.Load(p + i + 32); var x3 = Vector512.Load(p + i + 48);
                    for (int k = 0; k < rounds; k++)
                    {
                        f0 = Vector512.FusedMultiplyAdd(x0, m, f0); f1 = Vector512.FusedMultiplyAdd(x1, m, f1);
                        f2 = Vector512.FusedMultiplyAdd(x2, m, f2); f3 = Vector512.FusedMultiplyAdd(x3, m, f3);
                        f4 = Vector512.FusedMultiplyAdd(x0, m, f4); f5 = Vector512.FusedMultiplyAdd(x1, m, f5);
                        f6 = Vector512.FusedMultiplyAdd(x2, m, f6); f7 = Vector512.FusedMultiplyAdd(x3, m, f7);
                    }
                    a0 += x0; a1 += x1; a2 += x2; a3 += x3;
                }
                sums[t] = Vector512.Sum(a0 + a1 + a2 + a3 + f0 + f1 + f2 + f3 + f4 + f5 + f6 + f7);
                return (hi - lo) * 4;
            });
        }
        finally { NativeMemory.AlignedFree(p); }
    }

    /// <summary>
    /// The decode batch's KV cache read with no compute, in the order decode's q·k reads it: each core takes whole
    /// sequences; a sequence's pages <paramref name="inFlight"/> at a time, row by row, 512 bytes (one KV head's
    /// words) of each of those pages' rows in turn (the kernel's order has four). What the layout itself allows —
    /// token rows in pages scattered over the cache — before any arithmetic. Best of 3 passes, bytes read per second.
    /// </summary>
    private static unsafe double LayoutReadBandwidth(RpaProblem p, int inFlight, int threads = 0)
    {
        int seqs = p.NumSeqs, pps = p.PagesPerSeq, P = p.PageSize;
        long rowBytes = p.Layout.TokenBytes, pageBytes = P * rowBytes;
        if (rowBytes % 512 != 0) return 0; // the bench's shapes have whole 512-byte head rows
        var sums = new float[Environment.ProcessorCount];
        fixed (byte* cache = p.KvCache)
        {
            nint basePtr = p.KvCacheBuffer?.Pointer ?? (nint)cache;
            int next = -1;
            return BestReadRate(threads: threads, beforePass: () => next = -1, work: t =>
            {
                var a = Vector512<float>.Zero;
                long bytes = 0;
                byte** pg = stackalloc byte*[inFlight];
                long* rows = stackalloc long[inFlight];
                for (int s = Interlocked.Increment(ref next); s < seqs; s = Interlocked.Increment(ref next))
                {
                    int len = p.KvLens[s];
                    for (int g = 0; g * P < len; g += inFlight)
                    {
                        int n = 0;
                        for (; n < inFlight && (g + n) * P < len; n++)
                        {
                            pg[n] = (byte*)basePtr + p.PageIndices[s * pps + g + n] * pageBytes;
                            rows[n] = Math.Min(P, len - (g + n) * P);
                        }
                        for (long r = 0; r < P; r++)
                            for (long h = r * rowBytes; h < (r + 1) * rowBytes; h += 512)
                                for (int j = 0; j < n; j++)
                                    if (r < rows[j]) a += Read512(pg[j] + h);
                        for (int j = 0; j < n; j++) bytes += rows[j] * rowBytes;
                    }
                }
                sums[t] = Vector512.Sum(a);
                return bytes;
            });
        }
    }

    /// <summary>
    /// Bytes per second of <paramref name="work"/> on every core (or <paramref name="threads"/>), the best of passes 2 to 4 (the first warms pages,
    /// caches and code). <c>work(t)</c> reads core t's share and returns the bytes it read; it leaves its sum in an
    /// array its caller keeps, so the reads cannot be dropped.
    /// </summary>
    private static double BestReadRate(Func<int, long> work, Action? beforePass = null, int threads = 0)
    {
        if (threads <= 0) threads = Environment.ProcessorCount;
        double best = 0;
        for (int pass = 0; pass < 4; pass++)
        {
            beforePass?.Invoke();
            long total = 0;
            var sw = Stopwatch.StartNew();
            Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, t => Interlocked.Add(ref total, work(t)));
            double sec = sw.Elapsed.TotalSeconds;
            if (pass > 0) best = Math.Max(best, total / sec);
        }
        return best;
    }

    /// <summary>The sum of 512 bytes as 512-bit vectors (eight loads).</summary>
    private static unsafe Vector512<float> Read512(byte* b)
    {
        float* f = (float*)b;
        return (Vector512.Load(f) + Vector512.Load(f + 16)) + (Vector512.Load(f + 32) + Vector512.Load(f + 48))
            + ((Vector512.Load(f + 64) + Vector512.Load(f + 80)) + (Vector512.Load(f + 96) + Vector512.Load(f + 112)));
    }

    /// <summary>Independent FMA chains on 512-bit vectors (the width this host runs best): FLOP/s on <paramref name="threads"/> threads.</summary>
    private static double FmaPeak(int threads)
    {
        const long iters = 20_000_000;
        double best = 0;
        for (int pass = 0; pass < 3; pass++)
        {
            var sw = Stopwatch.StartNew();
            var sink = new float[threads];
            Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, t =>
            {
                var m = Vector512.Create(0.999999f); var c = Vector512.Create(1e-7f);
                var a0 = Vector512.Create(1f); var a1 = a0 + c; var a2 = a1 + c; var a3 = a2 + c; var a4 = a3 + c; var a5 = a4 + c;
                var a6 = a5 + c; var a7 = a6 + c; var a8 = a7 + c; var a9 = a8 + c; var a10 = a9 + c; var a11 = a10 + c;
                for (long i = 0; i < iters; i++)
                {
                    a0 = Vector512.FusedMultiplyAdd(a0, m, c); a1 = Vector512.FusedMultiplyAdd(a1, m, c); a2 = Vector512.FusedMultiplyAdd(a2, m, c);
                    a3 = Vector512.FusedMultiplyAdd(a3, m, c); a4 = Vector512.FusedMultiplyAdd(a4, m, c); a5 = Vector512.FusedMultiplyAdd(a5, m, c);
                    a6 = Vector512.FusedMultiplyAdd(a6, m, c); a7 = Vector512.FusedMultiplyAdd(a7, m, c); a8 = Vector512.FusedMultiplyAdd(a8, m, c);
                    a9 = Vector512.FusedMultiplyAdd(a9, m, c); a10 = Vector512.FusedMultiplyAdd(a10, m, c); a11 = Vector512.FusedMultiplyAdd(a11, m, c);
                }
                sink[t] = Vector512.Sum(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11);
            });
            double s = sw.Elapsed.TotalSeconds;
            best = Math.Max(best, threads * iters * 12.0 * 16 * 2 / s);
            GC.KeepAlive(sink);
        }
        return best;
    }

    /// <summary>
    /// Decode in torch as a batch: gather every sequence's pages at once ([S, T, Hkv, D]), q·Kᵀ as one grouped matmul
    /// per KV head, softmax, p·V. The bench batch has equal context lengths, so no mask is needed.
    /// </summary>
    private static void TorchDecodeBatched(RpaProblem p, RpaOptions o, Tensor q, Tensor kPages, Tensor vPages)
    {
        using var scope = NewDisposeScope();
        int S = p.NumSeqs, pps = p.PagesPerSeq, T = p.KvLens[0], hkv = p.NumKvHeads, g = p.NumQHeads / hkv, d = p.HeadDim;
        if (p.KvLens.Take(S).Any(x => x != T)) throw new InvalidOperationException("the batched torch decode expects equal context lengths");
        var idx = tensor(p.PageIndices.Take(S * pps).Select(x => (long)x).ToArray());
        Tensor Gather(Tensor pages) => pages.index_select(0, idx).reshape(S, pps * p.PageSize, hkv, d).narrow(1, 0, T).permute(0, 2, 1, 3);
        var k = Gather(kPages);
        var v = Gather(vPages);
        var qs = q.narrow(0, 0, S).reshape(S, hkv, g, d);
        var scores = matmul(qs, k.transpose(-1, -2)) * o.SmScale;
        var probs = nn.functional.softmax(scores, -1);
        matmul(probs, v);
    }

    private static void TorchPrefill(RpaProblem p)
    {
        using var scope = NewDisposeScope();
        int T = p.TotalQTokens, hq = p.NumQHeads, hkv = p.NumKvHeads, d = p.HeadDim;
        var q = TensorBridge.FromBytes(p.Queries, DType.F32, p.MaxNumTokens, hq, d).narrow(0, 0, T).permute(1, 0, 2).unsqueeze(0);
        var k = TensorBridge.FromBytes(p.Keys, DType.F32, p.MaxNumTokens, hkv, d).narrow(0, 0, T).repeat_interleave(hq / hkv, dim: 1).permute(1, 0, 2).unsqueeze(0);
        var v = TensorBridge.FromBytes(p.Values, DType.F32, p.MaxNumTokens, hkv, d).narrow(0, 0, T).repeat_interleave(hq / hkv, dim: 1).permute(1, 0, 2).unsqueeze(0);
        nn.functional.scaled_dot_product_attention(q, k, v, is_casual: true);
    }
}
