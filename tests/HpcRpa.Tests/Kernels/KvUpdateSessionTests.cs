using HpcRpa.Errors;
using HpcRpa.Hardware;
using HpcRpa.Kernels.KvCacheUpdate;
using HpcRpa.Memory;
using HpcRpa.Numerics;
using HpcRpa.Pallas;
using HpcRpa.Timeline;
using HpcRpa.Workloads;
using HpcRpa.Tests.Core;

namespace HpcRpa.Tests.Kernels;

/// <summary>A kept KV-update session gives, call after call, what a fresh <see cref="KvUpdateKernel.Run"/> gives.</summary>
public class KvUpdateSessionTests
{
    private const int Tokens = 128, C = 4, D = 128, P = 16, Pages = 24, NPad = 16;

    /// <summary>Random slices of the fixed shape: contiguous new tokens, each slice inside one page of its own.</summary>
    private static KvUpdateProblem Update(int seed, bool values = true)
    {
        var rng = new SplitMix64((ulong)seed * 31 + 5);
        int n = rng.NextInt(NPad + 1);
        var slices = new int[3 * NPad];
        var pages = Enumerable.Range(0, Pages).ToArray();
        for (int i = Pages - 1; i > 0; i--)
        {
            int j = rng.NextInt(i + 1);
            (pages[i], pages[j]) = (pages[j], pages[i]);
        }
        int next = 0;
        for (int i = 0; i < n; i++)
        {
            int len = 1 + rng.NextInt(Math.Min(P, (Tokens - next) / Math.Max(1, n - i)));
            int offset = rng.NextInt(P - len + 1);
            slices[i] = pages[i] * P + offset;
            slices[NPad + i] = next;
            slices[2 * NPad + i] = len;
            next += len;
        }
        for (int i = n; i < NPad; i++) slices[i] = slices[NPad + i] = slices[2 * NPad + i] = 9999; // padding: never read
        long row = (long)C * D;
        return new KvUpdateProblem
        {
            NumTokens = Tokens, Combined = C, HeadDim = D, PageSize = P, NumPages = Pages, DType = DType.BF16,
            NewKv = values ? BatchBuilder.RandomBytes(DType.BF16, Tokens * row, ref rng) : [],
            KvCache = values ? BatchBuilder.RandomBytes(DType.BF16, Pages * P * row, ref rng) : [],
            Slices = slices, NumSlices = n,
        };
    }

    /// <summary>The same update with <paramref name="array"/> and <paramref name="buffer"/> as its cache operands.</summary>
    private static KvUpdateProblem WithCache(KvUpdateProblem p, byte[] array, NativeBuffer? buffer = null) => new()
    {
        NumTokens = p.NumTokens, Combined = p.Combined, HeadDim = p.HeadDim, PageSize = p.PageSize, NumPages = p.NumPages, DType = p.DType,
        NewKv = p.NewKv, KvCache = array, KvCacheBuffer = buffer, Slices = p.Slices, NumSlices = p.NumSlices,
    };

    private static KvUpdateProblem InBuffer(KvUpdateProblem p, NativeBuffer buffer) => WithCache(p, [], buffer);

    /// <summary>A cache in native memory is written exactly as the same bytes in an array, by a kept session and by one-shot runs.</summary>
    [Fact]
    public void ACacheInNativeMemoryIsUpdatedAsTheArrayIs()
    {
        var first = Update(21);
        byte[] cache = (byte[])first.KvCache.Clone();
        using var buffer = NativeBuffer.CopyOf(cache);
        using var session = new KvUpdateSession(ChipPresets.V6e, KvUpdateShape.Of(first), KvUpdateGrid.Dynamic);
        for (int call = 0; call < 6; call++)
        {
            var u = Update(500 + call);
            session.Run(WithCache(u, cache));
            if (call % 2 == 0) session.Run(InBuffer(u, buffer));
            else KvUpdateKernel.Run(ChipPresets.V6e, InBuffer(u, buffer), KvUpdateGrid.Padded, 4);
            Assert.True(buffer.Bytes(0, cache.Length).SequenceEqual(cache), $"call {call}");
        }
        Assert.NotEqual(first.KvCache, cache);
    }

    [Fact]
    public void ANativeCacheThatIsNotTheOneCacheOfTheRightLengthIsATypedError()
    {
        var u = Update(22);
        var before = (byte[])u.KvCache.Clone();
        using var session = new KvUpdateSession(ChipPresets.V6e, KvUpdateShape.Of(u), KvUpdateGrid.Dynamic);
        using var buffer = NativeBuffer.CopyOf(before);
        var both = Assert.Throws<ValidationException>(() => session.Run(WithCache(u, u.KvCache, buffer)));
        Assert.Equal(("kv_cache", $"length {before.Length}"), (both.Field, both.Value));
        using var shortBuffer = NativeBuffer.CopyOf(before.AsSpan(0, before.Length - 256));
        var shortOne = Assert.Throws<ValidationException>(() => session.Run(InBuffer(u, shortBuffer)));
        Assert.Equal(("kv_cache_buffer", $"length {before.Length - 256}"), (shortOne.Field, shortOne.Value));
        var disposed = NativeBuffer.CopyOf(before);
        disposed.Dispose();
        var gone = Assert.Throws<ValidationException>(() => session.Run(InBuffer(u, disposed)));
        Assert.Equal(("kv_cache_buffer", "disposed"), (gone.Field, gone.Value));
        Assert.Equal(before, u.KvCache);
        Assert.True(buffer.Bytes(0, before.Length).SequenceEqual(before));
    }

    [Theory]
    [InlineData(KvUpdateGrid.Dynamic, ExecutionMode.Functional, null, true)]
    [InlineData(KvUpdateGrid.Padded, ExecutionMode.Functional, 4, false)]
    [InlineData(KvUpdateGrid.Padded, ExecutionMode.TimingOnly, 8, true)]
    public void AKeptSessionGivesWhatAFreshRunGivesCallAfterCall(KvUpdateGrid grid, ExecutionMode mode, int? nb, bool trace)
    {
        bool functional = mode == ExecutionMode.Functional;
        var first = Update(1, functional);
        using var session = new KvUpdateSession(ChipPresets.V6e, KvUpdateShape.Of(first), grid, nb, mode, trace);
        for (int call = 0; call < 8; call++)
        {
            var p = Update(10 + call, functional);
            if (call == 3)
            {
                // Overlapping cache intervals: a typed error, nothing written, the session still usable.
                var bad = Update(10 + call, functional);
                bad.Slices[1] = bad.Slices[0];
                bad.Slices[2 * NPad] = bad.Slices[2 * NPad + 1] = 1;
                var before = (byte[])bad.KvCache.Clone();
                if (bad.NumSlices >= 2) Assert.Throws<ValidationException>(() => session.Run(bad));
                Assert.Equal(before, bad.KvCache);
            }
            var freshCache = (byte[])p.KvCache.Clone();
            var fresh = KvUpdateKernel.Run(ChipPresets.V6e, new KvUpdateProblem
            {
                NumTokens = p.NumTokens, Combined = p.Combined, HeadDim = p.HeadDim, PageSize = p.PageSize, NumPages = p.NumPages, DType = p.DType,
                NewKv = p.NewKv, KvCache = freshCache, Slices = p.Slices, NumSlices = p.NumSlices,
            }, grid, nb, mode, trace);
            var got = session.Run(p).ToReport();
            Assert.Equal(freshCache, p.KvCache);
            Assert.Equal(fresh.Report, got with { Engines = fresh.Report.Engines, EngineBusyCycles = fresh.Report.EngineBusyCycles });
            Assert.Equal(fresh.Report.Engines, got.Engines);
            Assert.Equal(fresh.Report.EngineBusyCycles, got.EngineBusyCycles);
            Assert.Equal(fresh.Programs, session.Programs);
            Assert.Equal(fresh.Timeline.Slices, session.Timeline.Slices);
        }
    }

    [Fact]
    public void AnUpdateOfAnotherShapeIsATypedError()
    {
        var p = Update(2);
        using var session = new KvUpdateSession(ChipPresets.V6e, KvUpdateShape.Of(p), KvUpdateGrid.Dynamic);
        var other = Update(3);
        var wide = new KvUpdateProblem
        {
            NumTokens = Tokens, Combined = C, HeadDim = D, PageSize = P, NumPages = Pages, DType = DType.BF16,
            NewKv = other.NewKv, KvCache = other.KvCache, Slices = new int[3 * (NPad + 1)], NumSlices = 0,
        };
        var e = Assert.Throws<ValidationException>(() => session.Run(wide));
        Assert.Equal("slices", e.Field);
    }

    /// <summary>One thread does all the work, so its allocation count is exact: nothing per steady call.</summary>
    [Theory]
    [InlineData(ExecutionMode.Functional)]
    [InlineData(ExecutionMode.TimingOnly)]
    public void ASteadyCallAllocatesNothing(ExecutionMode mode)
    {
        var updates = Enumerable.Range(0, 3).Select(i => Update(50 + i, mode == ExecutionMode.Functional)).ToArray();
        using var session = new KvUpdateSession(ChipPresets.V6e, KvUpdateShape.Of(updates[0]), KvUpdateGrid.Dynamic, mode: mode);
        for (int i = 0; i < 6; i++) session.Run(updates[i % 3]);
        int n = 0;
        SteadyAllocation.AssertNone(() => session.Run(updates[n++ % 3]));
    }
}
