namespace HpcRpa.Tests.Core;

/// <summary>
/// Whether calls on this thread reach a state where they allocate nothing. A call that allocates does so in every
/// round; a one-off allocation on the thread that is not the call's own (seen once, in a full test run on a loaded
/// machine, and never alone) passes in the next round. Each round's bytes are in the failure message.
/// </summary>
internal static class SteadyAllocation
{
    public static void AssertNone(Action call, int callsPerRound = 6, int rounds = 4)
    {
        var bytes = new List<long>();
        for (int r = 0; r < rounds; r++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < callsPerRound; i++) call();
            bytes.Add(GC.GetAllocatedBytesForCurrentThread() - before);
            if (bytes[^1] == 0) return;
        }
        Assert.Fail($"bytes allocated per round of {callsPerRound} calls: {string.Join(", ", bytes)}");
    }
}
