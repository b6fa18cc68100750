using HpcRpa.Errors;
using HpcRpa.Timeline;

namespace HpcRpa.Tests.Core;

/// <summary>
/// The semaphore's arrival bookkeeping (arrays, an in-order fast path, growth and compaction) against its
/// definition: a wait for B bytes returns the completion cycle of the arrival that brings the counter to B, with
/// arrivals taken in completion order.
/// </summary>
public class DmaSemaphoreTests
{
    /// <summary>The definition, spelled out on a list: sort by completion (stable), consume from the front.</summary>
    private sealed class Reference
    {
        private readonly List<(long At, long Bytes)> _a = [];
        private long _consumedOfHead;

        public void Signal(long at, long bytes)
        {
            if (bytes == 0) return;
            int i = _a.Count;
            while (i > 0 && _a[i - 1].At > at) i--;
            _a.Insert(i, (at, bytes));
        }

        public long Consume(long bytes)
        {
            long at = 0;
            while (bytes > 0)
            {
                var (t, b) = _a[0];
                at = Math.Max(at, t);
                long avail = b - _consumedOfHead;
                if (avail > bytes) { _consumedOfHead += bytes; break; }
                bytes -= avail;
                _a.RemoveAt(0);
                _consumedOfHead = 0;
            }
            return at;
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void WaitsReturnWhatTheDefinitionGivesThroughGrowthAndCompaction(int seed)
    {
        var rng = new Random(seed);
        var sem = new DmaSemaphore("s");
        var reference = new Reference();
        long pending = 0, clock = 0;
        for (int step = 0; step < 5000; step++)
        {
            if (pending == 0 || rng.Next(3) != 0)
            {
                // Mostly in order, sometimes earlier than the last (a copy on a less busy queue), sometimes zero-size.
                clock += rng.Next(0, 50);
                long at = rng.Next(5) == 0 ? Math.Max(0, clock - rng.Next(0, 400)) : clock;
                long bytes = rng.Next(6) == 0 ? 0 : rng.Next(1, 5000);
                sem.Signal(at, bytes);
                reference.Signal(at, bytes);
                pending += bytes;
            }
            else
            {
                long want = rng.Next(3) == 0 ? pending : rng.NextInt64(1, pending + 1);
                Assert.Equal(reference.Consume(want), sem.Consume(want));
                pending -= want;
            }
            Assert.Equal(pending, sem.Pending);
        }
    }

    [Fact]
    public void AWaitForMoreThanWillArriveIsTheHangError()
    {
        var sem = new DmaSemaphore("s");
        sem.Signal(10, 100);
        Assert.Throws<SemaphoreException>(() => sem.Consume(101));
        Assert.Equal(10, sem.Consume(100));
        sem.CheckZero();
    }
}
