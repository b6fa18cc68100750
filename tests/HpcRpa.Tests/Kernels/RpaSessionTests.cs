using HpcRpa.Errors;
using HpcRpa.Hardware;
using HpcRpa.Kernels.KvCacheUpdate;
using HpcRpa.Kernels.RaggedPagedAttention;
using HpcRpa.Memory;
using HpcRpa.Numerics;
using HpcRpa.Pallas;
using HpcRpa.Timeline;
using HpcRpa.Workloads;
using HpcRpa.Tests.Core;

namespace HpcRpa.Tests.Kernels;

/// <summary>
/// A session kept across calls gives, call after call, exactly what a fresh <see cref="RpaRunner.Run"/> gives on
/// the same batch — output, updated cache, every report figure of the run and of each kernel call, the trace —
/// whatever the data, the ragged metadata, the host threads or the mode, and also after a call that failed
/// validation (which wrote nothing).
/// </summary>
public class RpaSessionTests
{
    // One shape for every batch: T 256 tokens, 8 sequence slots, 12 pages of 16 per sequence, 100 pages.
    private const int T = 256, S = 8, Pps = 12, P = 16, Pages = 100, Hq = 8, Hkv = 2, D = 128;

    /// <summary>A random ragged batch of the fixed shape: any mix of decode, prefill and mixed sequences, pages scattered.</summary>
    private static RpaProblem Batch(int seed, DType q, DType kv, bool values = true)
    {
        var rng = new SplitMix64((ulong)seed * 7919 + 3);
        int n = 1 + rng.NextInt(S);
        int d0 = rng.NextInt(n + 1), d1 = d0 + rng.NextInt(n - d0 + 1);
        var kvLens = new int[S];
        var cu = new int[S + 1];
        var pages = new int[S * Pps];
        for (int i = 0; i < pages.Length; i++) pages[i] = 100_000 + rng.NextInt(1000); // padding: never read
        var perm = Enumerable.Range(0, Pages).ToArray();
        for (int i = Pages - 1; i > 0; i--)
        {
            int j = rng.NextInt(i + 1);
            (perm[i], perm[j]) = (perm[j], perm[i]);
        }
        int next = 0;
        for (int s = 0; s < n; s++)
        {
            int ql = s < d0 ? 1 : rng.NextInt(31); // 8 sequences of at most 30 tokens fit T; 0 is a sequence with nothing new
            int kl = Math.Max(ql, rng.NextInt(Pps * P + 1));
            kvLens[s] = kl;
            cu[s + 1] = cu[s] + ql;
            for (int i = 0; i < (kl + P - 1) / P; i++) pages[s * Pps + i] = perm[next++];
        }
        for (int s = n; s < S; s++) { cu[s + 1] = cu[s]; kvLens[s] = 7777; } // past num_seqs: garbage
        var layout = new RpaLayout(Hq, Hkv, D, q, kv);
        byte[] Random(DType t, long count) => values ? BatchBuilder.RandomBytes(t, count, ref rng) : [];
        return new RpaProblem
        {
            MaxNumTokens = T, NumQHeads = Hq, NumKvHeads = Hkv, HeadDim = D, PageSize = P, NumPages = Pages, MaxNumSeqs = S, PagesPerSeq = Pps,
            QDType = q, KvDType = kv,
            Queries = Random(q, (long)T * Hq * D), Keys = Random(kv, (long)T * Hkv * D), Values = Random(kv, (long)T * Hkv * D),
            KvCache = Random(kv, layout.CacheBytes(Pages, P) / kv.Bytes()),
            KvLens = kvLens, PageIndices = pages, CuQLens = cu, Distribution = [d0, d1, n],
        };
    }

    public static IEnumerable<object[]> Configs()
    {
        yield return ["bf16, one thread", DType.BF16, DType.BF16, new RpaOptions { SmScale = 0.088 }, ExecutionMode.Functional, 1, true, false];
        yield return ["bf16, two threads, trace", DType.BF16, DType.BF16, new RpaOptions { SmScale = 0.088 }, ExecutionMode.Functional, 2, true, true];
        // A window shorter than a sequence's new tokens, small blocks: new tokens in blocks no q block visits go straight to the cache (sync copies).
        yield return ["f32, short window, small blocks, three threads, eager copies", DType.F32, DType.F32, SmallBlocks with { SlidingWindow = 12 }, ExecutionMode.Functional, 3, false, false];
        yield return ["fp8 e4m3, scales, soft cap, one thread", DType.BF16, DType.Fp8E4M3, new RpaOptions { KScale = 0.5, VScale = 2, SoftCap = 30 }, ExecutionMode.Functional, 1, true, false];
        yield return ["bf16, no cache update, window, two threads", DType.BF16, DType.BF16, new RpaOptions { UpdateKvCache = false, SlidingWindow = 70 }, ExecutionMode.Functional, 2, true, false];
        yield return ["timing-only, window, trace", DType.BF16, DType.BF16, new RpaOptions { SlidingWindow = 40 }, ExecutionMode.TimingOnly, 0, true, true];
        yield return ["timing-only, short window, small blocks", DType.BF16, DType.BF16, SmallBlocks with { SlidingWindow = 12 }, ExecutionMode.TimingOnly, 0, true, false];
    }

    private static readonly RpaOptions SmallBlocks = new() { PrefillBlocks = new(8, 32, 8, 16), MixedBlocks = new(8, 32, 8, 16) };

    [Theory]
    [MemberData(nameof(Configs))]
    public void AKeptSessionGivesWhatAFreshRunGivesCallAfterCall(string name, DType q, DType kv, RpaOptions o, ExecutionMode mode, int threads, bool elision, bool trace)
    {
        _ = name;
        var chip = ChipPresets.Tpu7x;
        var host = new RpaHostOptions { Threads = threads, CopyElision = elision };
        bool functional = mode == ExecutionMode.Functional;
        var first = Batch(1, q, kv, functional);
        using var session = new RpaSession(chip, RpaShape.Of(first), o, mode, trace, host);
        var output = new byte[session.OutputBytes];
        byte[] cache = first.KvCache; // the serving loop's cache, updated in place by every call
        for (int call = 0; call < 9; call++)
        {
            var b = Batch(100 + call, q, kv, functional) with { KvCache = cache };
            if (call == 4)
            {
                // A call that fails validation writes nothing — cache, output — and leaves the session usable.
                var bad = b with { KvLens = (int[])b.KvLens.Clone() };
                bad.KvLens[0] = Pps * P + 1;
                var cacheBefore = (byte[])cache.Clone();
                var outBefore = (byte[])output.Clone();
                var e = Assert.Throws<ValidationException>(() => session.Run(bad, output));
                Assert.Equal("kv_lens", e.Field);
                Assert.Equal((Pps * P + 1).ToString(), e.Value);
                Assert.Equal(cacheBefore, cache);
                Assert.Equal(outBefore, output);
            }
            // Every third call brings another array (the session pins whatever it is given, call by call).
            if (call % 3 == 2) b = b with { KvCache = (byte[])cache.Clone() };
            var fresh = RpaRunner.Run(chip, b with { KvCache = (byte[])b.KvCache.Clone() }, o, mode, trace, host);
            var got = session.Run(b, output);
            cache = b.KvCache;
            if (functional)
            {
                Assert.Equal(fresh.Output, output);
            }
            AssertSameReport(fresh.Report, got.Total.ToReport());
            Assert.Equal(fresh.Cases.Count, got.Cases.Count);
            for (int i = 0; i < fresh.Cases.Count; i++)
            {
                var (f, s) = (fresh.Cases[i], got.Cases[i].ToCaseRun());
                Assert.Equal((f.Case, f.Scope, f.Blocks, f.SeqStart, f.SeqEnd), (s.Case, s.Scope, s.Blocks, s.SeqStart, s.SeqEnd));
                AssertSameReport(f.Report, s.Report);
            }
            Assert.Equal(fresh.Timeline.Slices, session.Timeline.Slices);
            Assert.Equal(fresh.Report.BoundReason, got.Total.BoundReason);
        }
    }

    /// <summary>The fresh run's cache after each call is the session's: checked on one stream, both updating their own copy.</summary>
    [Fact]
    public void TheCacheEvolvesAsUnderFreshRuns()
    {
        var chip = ChipPresets.V6e;
        var o = new RpaOptions { SlidingWindow = 50 };
        var first = Batch(7, DType.BF16, DType.BF16);
        byte[] freshCache = (byte[])first.KvCache.Clone(), sessionCache = (byte[])first.KvCache.Clone();
        using var session = new RpaSession(chip, RpaShape.Of(first), o, host: new RpaHostOptions { Threads = 2 });
        var output = new byte[session.OutputBytes];
        for (int call = 0; call < 6; call++)
        {
            var b = Batch(200 + call, DType.BF16, DType.BF16);
            var fresh = RpaRunner.Run(chip, b with { KvCache = freshCache }, o, host: new RpaHostOptions { Threads = 1 });
            session.Run(b with { KvCache = sessionCache }, output);
            Assert.Equal(freshCache, sessionCache);
            Assert.Equal(fresh.Output, output);
        }
    }

    [Fact]
    public void AProblemOfAnotherShapeOrAWrongOutputIsATypedErrorThatWritesNothing()
    {
        var b = Batch(3, DType.BF16, DType.BF16);
        using var session = new RpaSession(ChipPresets.Tpu7x, RpaShape.Of(b), new RpaOptions(), host: new RpaHostOptions { Threads = 1 });
        var cache = (byte[])b.KvCache.Clone();
        var other = b with { NumPages = Pages - 1, KvCache = cache };
        var e = Assert.Throws<ValidationException>(() => session.Run(other, new byte[session.OutputBytes]));
        Assert.Equal("num_pages", e.Field);
        Assert.Equal((Pages - 1).ToString(), e.Value);
        var e2 = Assert.Throws<ValidationException>(() => session.Run(b with { KvCache = cache }, new byte[session.OutputBytes - 2]));
        Assert.Equal("output", e2.Field);
        Assert.Equal(b.KvCache, cache);
        var e3 = Assert.Throws<ValidationException>(() => session.Run(b with { KvCache = cache }));
        Assert.Equal("output", e3.Field);
        Assert.Throws<InvalidOperationException>(() => session.Timeline); // no call has run
        session.Run(b with { KvCache = cache }, new byte[session.OutputBytes]);
        Assert.NotEqual(b.KvCache, cache);
    }

    /// <summary>A second call while one runs is refused, not raced (the flag is what a concurrent caller would find).</summary>
    [Fact]
    public void ACallWhileAnotherRunsIsRefusedAndADisposedSessionRunsNothing()
    {
        var b = Batch(4, DType.BF16, DType.BF16, values: false);
        var session = new RpaSession(ChipPresets.Tpu7x, RpaShape.Of(b), new RpaOptions(), ExecutionMode.TimingOnly);
        var running = typeof(RpaSession).GetField("_running", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance)!;
        running.SetValue(session, 1);
        Assert.Throws<InvalidOperationException>(() => session.Run(b));
        Assert.Throws<InvalidOperationException>(() => session.Dispose());
        running.SetValue(session, 0);
        Assert.True(session.Run(b).Total.Cycles > 0);
        session.Dispose();
        Assert.Throws<ObjectDisposedException>(() => session.Run(b));
    }

    /// <summary>
    /// In steady state a call allocates nothing: on one host thread every byte a call allocates is this thread's,
    /// so the count is exact (the benchmarks measure every thread: RpaSessionBenchmarks).
    /// </summary>
    [Theory]
    [InlineData(ExecutionMode.Functional)]
    [InlineData(ExecutionMode.TimingOnly)]
    public void ASteadyCallAllocatesNothing(ExecutionMode mode)
    {
        bool functional = mode == ExecutionMode.Functional;
        var batches = Enumerable.Range(0, 3).Select(i => Batch(300 + i, DType.BF16, DType.BF16, functional)).ToArray();
        using var session = new RpaSession(ChipPresets.Tpu7x, RpaShape.Of(batches[0]), new RpaOptions { SlidingWindow = 64 }, mode,
            host: new RpaHostOptions { Threads = 1 });
        var output = new byte[session.OutputBytes];
        for (int i = 0; i < 6; i++) session.Run(batches[i % 3], output); // the first calls build what the session keeps
        int n = 0;
        SteadyAllocation.AssertNone(() => session.Run(batches[n++ % 3], output));
        if (!functional) return;
        // The same with the cache in native memory.
        using var buffer = NativeBuffer.CopyOf(batches[0].KvCache);
        var native = batches.Select(b => b with { KvCache = [], KvCacheBuffer = buffer }).ToArray();
        for (int i = 0; i < 3; i++) session.Run(native[i], output);
        SteadyAllocation.AssertNone(() => session.Run(native[n++ % 3], output));
    }

    public static IEnumerable<object[]> NativeCacheConfigs()
    {
        yield return ["bf16, two threads", DType.BF16, DType.BF16, new RpaOptions { SmScale = 0.088 }, 2];
        yield return ["fp8 e5m2, scales, one thread", DType.BF16, DType.Fp8E5M2, new RpaOptions { KScale = 0.5, VScale = 2 }, 1];
        yield return ["f32, short window, small blocks, three threads", DType.F32, DType.F32, SmallBlocks with { SlidingWindow = 12 }, 3];
    }

    /// <summary>
    /// The cache in native memory (<see cref="RpaProblem.KvCacheBuffer"/>) is read and updated exactly as the same
    /// bytes in an array: output and cache equal call after call, on a kept session switching between the two and
    /// on a one-shot run.
    /// </summary>
    [Theory]
    [MemberData(nameof(NativeCacheConfigs))]
    public void ACacheInNativeMemoryGivesWhatTheArrayGives(string name, DType q, DType kv, RpaOptions o, int threads)
    {
        _ = name;
        var chip = ChipPresets.Tpu7x;
        var host = new RpaHostOptions { Threads = threads };
        var first = Batch(11, q, kv);
        byte[] cache = (byte[])first.KvCache.Clone();
        using var buffer = NativeBuffer.CopyOf(first.KvCache);
        Assert.Equal(0, buffer.Pointer % NativeBuffer.Alignment);
        using var session = new RpaSession(chip, RpaShape.Of(first), o, host: host);
        byte[] outArray = new byte[session.OutputBytes], outNative = new byte[session.OutputBytes];
        for (int call = 0; call < 5; call++)
        {
            var b = Batch(400 + call, q, kv);
            var native = b with { KvCache = [], KvCacheBuffer = buffer };
            // The session meets the native cache first on even calls, the array first on odd ones.
            if (call % 2 == 0) session.Run(native, outNative);
            session.Run(b with { KvCache = cache }, outArray);
            if (call % 2 == 1) session.Run(native, outNative);
            Assert.Equal(outArray, outNative);
            Assert.True(buffer.Bytes(0, cache.Length).SequenceEqual(cache), $"call {call}: the caches differ");
            if (call == 4)
            {
                var one = RpaRunner.Run(chip, native, o, host: host);
                var want = RpaRunner.Run(chip, b with { KvCache = cache }, o, host: host);
                Assert.Equal(want.Output, one.Output);
                Assert.True(buffer.Bytes(0, cache.Length).SequenceEqual(cache));
            }
        }
        Assert.NotEqual(first.KvCache, cache); // the calls did update the cache
        // The KV-update kernel built from the batch (as the model backend runs it) writes the same cache too.
        var last = Batch(499, q, kv);
        KvUpdateKernel.Run(chip, RpaKvUpdate.For(last with { KvCache = [], KvCacheBuffer = buffer }), KvUpdateGrid.Dynamic);
        KvUpdateKernel.Run(chip, RpaKvUpdate.For(last with { KvCache = cache }), KvUpdateGrid.Dynamic);
        Assert.True(buffer.Bytes(0, cache.Length).SequenceEqual(cache));
    }

    /// <summary>
    /// A cache past 2 GiB, which no byte[] can hold: the batch's pages placed at its far end give the output and
    /// page updates the same batch gives on a small array. (The buffer's untouched pages are never backed by memory.)
    /// </summary>
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void ACacheOverTwoGiBInNativeMemoryWorksAsASmallOne(int threads)
    {
        var p = RpaTestData.Build([(1, 40), (1, 33), (9, 50)], 8, 2, 128, DType.BF16, DType.BF16, pageSize: 16, numPages: 16, distribution: [2, 2, 3]);
        long pageBytes = p.KvCache.LongLength / p.NumPages;
        int bigPages = checked((int)((3L << 30) / pageBytes)); // 3 GiB
        using var big = new NativeBuffer(bigPages * pageBytes);
        long Far(int page) => (bigPages - 1 - page) * pageBytes;
        for (int i = 0; i < p.NumPages; i++) p.KvCache.AsSpan((int)(i * pageBytes), (int)pageBytes).CopyTo(big.Bytes(Far(i), (int)pageBytes));
        var far = p with { NumPages = bigPages, KvCache = [], KvCacheBuffer = big, PageIndices = p.PageIndices.Select(x => x < p.NumPages ? bigPages - 1 - x : x).ToArray() };
        var o = new RpaOptions { SmScale = 0.1 };
        var host = new RpaHostOptions { Threads = threads };
        var want = RpaRunner.Run(ChipPresets.Tpu7x, p, o, host: host);
        var got = RpaRunner.Run(ChipPresets.Tpu7x, far, o, host: host);
        Assert.Equal(want.Output, got.Output);
        for (int i = 0; i < p.NumPages; i++)
            Assert.True(big.Bytes(Far(i), (int)pageBytes).SequenceEqual(p.KvCache.AsSpan((int)(i * pageBytes), (int)pageBytes)), $"page {i}");
        // The reference reads caches as arrays: past 2 GiB it is a typed error, not an overflow.
        var e = Assert.Throws<ValidationException>(() => far.CopyKvCache());
        Assert.Equal(("kv_cache_buffer", $"length {big.Length}"), (e.Field, e.Value));
    }

    /// <summary>A native cache is validated like an array, and a bad one writes nothing: output, array, buffer.</summary>
    [Fact]
    public void ANativeCacheThatIsNotTheOneCacheOfTheRightLengthIsATypedError()
    {
        var b = Batch(12, DType.BF16, DType.BF16);
        using var session = new RpaSession(ChipPresets.Tpu7x, RpaShape.Of(b), new RpaOptions(), host: new RpaHostOptions { Threads = 2 });
        var output = new byte[session.OutputBytes];
        using var buffer = NativeBuffer.CopyOf(b.KvCache);
        var arrayBefore = (byte[])b.KvCache.Clone();

        var both = Assert.Throws<ValidationException>(() => session.Run(b with { KvCacheBuffer = buffer }, output));
        Assert.Equal(("kv_cache", $"length {arrayBefore.Length}"), (both.Field, both.Value));

        using var shortBuffer = NativeBuffer.CopyOf(b.KvCache.AsSpan(0, b.KvCache.Length - 512));
        var shortOne = Assert.Throws<ValidationException>(() => session.Run(b with { KvCache = [], KvCacheBuffer = shortBuffer }, output));
        Assert.Equal(("kv_cache_buffer", $"length {b.KvCache.Length - 512}"), (shortOne.Field, shortOne.Value));

        var disposed = NativeBuffer.CopyOf(b.KvCache);
        disposed.Dispose();
        var gone = Assert.Throws<ValidationException>(() => session.Run(b with { KvCache = [], KvCacheBuffer = disposed }, output));
        Assert.Equal(("kv_cache_buffer", "disposed"), (gone.Field, gone.Value));

        Assert.All(output, x => Assert.Equal(0, x));
        Assert.Equal(arrayBefore, b.KvCache);
        Assert.True(buffer.Bytes(0, arrayBefore.Length).SequenceEqual(arrayBefore));
        Assert.True(shortBuffer.Bytes(0, arrayBefore.Length - 512).SequenceEqual(arrayBefore.AsSpan(0, arrayBefore.Length - 512)));
        // The session is still usable, with the native cache.
        session.Run(b with { KvCache = [], KvCacheBuffer = buffer }, output);
        Assert.False(buffer.Bytes(0, arrayBefore.Length).SequenceEqual(arrayBefore));
    }

    private static void AssertSameReport(RunReport want, RunReport got)
    {
        Assert.Equal(want, got with { Engines = want.Engines, EngineBusyCycles = want.EngineBusyCycles });
        Assert.Equal(want.Engines, got.Engines);
        Assert.Equal(want.EngineBusyCycles, got.EngineBusyCycles);
    }
}
