using HpcRpa.Kernels.RaggedPagedAttention;

namespace HpcRpa.Tests.Kernels;

/// <summary>The countdown the value passes and the layout steps share: every item waited for, the first error rethrown as itself, once.</summary>
public class PoolCountdownTests
{
    [Fact]
    public void TheFirstErrorOfAnyItemReachesTheWaiterAsItselfAndOnlyOnce()
    {
        using var c = new PoolCountdown();
        var boom = new InvalidOperationException("item 3");
        int ran = 0;
        c.Begin(6);
        for (int i = 0; i < 6; i++)
        {
            int item = i;
            ThreadPool.QueueUserWorkItem(_ =>
            {
                try
                {
                    Interlocked.Increment(ref ran);
                    if (item == 3) throw boom;
                }
                catch (Exception e) { c.Fail(e); }
                finally { c.Finished(); }
            });
        }
        c.Wait();
        Assert.Equal(6, ran);
        Assert.True(c.Failed);
        Assert.Same(boom, Assert.Throws<InvalidOperationException>(c.ThrowIfFailed));
        c.ThrowIfFailed(); // taken: nothing left to throw

        c.Begin(1);
        Assert.False(c.Failed);
        ThreadPool.QueueUserWorkItem(_ => c.Finished());
        c.Wait();
        c.ThrowIfFailed();
    }
}
