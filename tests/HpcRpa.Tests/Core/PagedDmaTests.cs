using HpcRpa.Hardware;
using HpcRpa.Memory;
using HpcRpa.Pallas;
using HpcRpa.Timeline;

namespace HpcRpa.Tests.Core;

/// <summary>
/// A paged copy modelled as a run (<see cref="Engines.DmaEngine.StartPaged"/>) is the same as its copies issued one
/// by one: every track, counter, the scalar cursor and every wait on the semaphore come out equal.
/// </summary>
public class PagedDmaTests
{
    public static IEnumerable<object[]> Cases()
    {
        foreach (var chip in new[] { "tpu7x", "v5e", "v5e/3 queues" })
            foreach (var (pages, pageBytes, total) in new[] { (64, 65536L, 64 * 65536L), (16, 4096L, 10 * 4096L + 100), (8, 4096L, 0L), (5, 1000L, 1L) })
                foreach (var (src, dst) in new[] { (MemorySpace.Hbm, MemorySpace.Vmem), (MemorySpace.Vmem, MemorySpace.Hbm), (MemorySpace.Vmem, MemorySpace.Vmem) })
                    yield return [chip, pages, pageBytes, total, src, dst];
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void ARunEqualsItsCopiesOneByOne(string chipName, int pages, long pageBytes, long total, MemorySpace src, MemorySpace dst)
    {
        // Four queues take the run's fast path; another count takes the copy-by-copy one.
        var chip = chipName.EndsWith("/3 queues") ? ChipPresets.V5e with { DmaQueues = 3 } : ChipPresets.Get(chipName);
        (Timeline.Timeline Tl, long Issued, long[] Waits) Run(bool paged)
        {
            var ctx = new KernelContext(chip, ExecutionMode.TimingOnly);
            var tl = ctx.Timeline;
            var sem = ctx.Semaphore("s");
            // Something in flight first, so queues and the channel are not all idle.
            ctx.IssueDma(123_456, MemorySpace.Hbm, MemorySpace.Vmem, null, sem, "before");
            tl.Scalar.Issue(7);
            long issued = 0;
            for (int round = 0; round < 3; round++)
            {
                if (paged) issued += ctx.IssuePagedDma(pages, total, pageBytes, src, dst, sem, "page");
                else
                    for (int i = 0; i < pages; i++)
                    {
                        long b = Math.Clamp(total - i * pageBytes, 0, pageBytes);
                        ctx.IssueDma(b, src, dst, null, sem, "page");
                        issued += b;
                    }
            }
            // Waits in pieces: each returns when the counter reaches its bytes.
            var waits = new List<long>();
            long left = issued + 123_456;
            foreach (long part in new[] { 100_000L, 1L, left / 3 })
            {
                if (part > left) continue;
                waits.Add(sem.Consume(part));
                left -= part;
            }
            waits.Add(sem.Consume(left));
            return (tl, issued, waits.ToArray());
        }

        var (a, issuedA, waitsA) = Run(paged: false);
        var (b, issuedB, waitsB) = Run(paged: true);
        Assert.Equal(issuedA, issuedB);
        Assert.Equal(waitsA, waitsB);
        Assert.Equal(a.Now, b.Now);
        Assert.Equal(a.Scalar.IssueCycles, b.Scalar.IssueCycles);
        Assert.Equal(a.Events, b.Events);
        Assert.Equal(a.End, b.End);
        Assert.Equal(a.Dma.LastCompletion, b.Dma.LastCompletion);
        Assert.Equal(a.HbmBytesRead, b.HbmBytesRead);
        Assert.Equal(a.HbmBytesWritten, b.HbmBytesWritten);
        Assert.Equal(a.DmaCount, b.DmaCount);
        Assert.Equal(a.DmaBytes, b.DmaBytes);
        Assert.Equal(a.ZeroByteDmaCount, b.ZeroByteDmaCount);
        for (int i = 0; i < a.Tracks.Count; i++)
        {
            Assert.Equal(a.Tracks[i].FreeAt, b.Tracks[i].FreeAt);
            Assert.Equal(a.Tracks[i].BusyCycles, b.Tracks[i].BusyCycles);
            Assert.Equal(a.Tracks[i].Ops, b.Tracks[i].Ops);
        }
    }

    [Fact]
    public void NegativeSizesAreArgumentErrors()
    {
        using var ctx = new KernelContext(ChipPresets.Tpu7x, ExecutionMode.TimingOnly);
        var sem = ctx.Semaphore("s");
        Assert.Equal("pages", Assert.Throws<ArgumentOutOfRangeException>(() => ctx.IssuePagedDma(-1, 0, 64, MemorySpace.Hbm, MemorySpace.Vmem, sem, "p")).ParamName);
        Assert.Equal("total", Assert.Throws<ArgumentOutOfRangeException>(() => ctx.IssuePagedDma(1, -5, 64, MemorySpace.Hbm, MemorySpace.Vmem, sem, "p")).ParamName);
        Assert.Equal("pageBytes", Assert.Throws<ArgumentOutOfRangeException>(() => ctx.IssuePagedDma(1, 0, -64, MemorySpace.Hbm, MemorySpace.Vmem, sem, "p")).ParamName);
        Assert.Equal(0, ctx.Timeline.Events);
    }
}
