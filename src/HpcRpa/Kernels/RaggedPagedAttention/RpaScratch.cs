using System.Runtime.InteropServices;

namespace HpcRpa.Kernels.RaggedPagedAttention;

/// <summary>
/// The host's working memory for the values of the flash step (widened q rows, logits, packed K/V panels, p·V),
/// one set per thread, grown on demand and then reused: a steady stream of calls allocates nothing, and no
/// two threads share a line. Aligned native memory, so the numerics get pointers without pinning.
/// </summary>
internal sealed unsafe class RpaScratch
{
    public const int Slots = 10;
    public const int Q = 0, Logits = 1, Pv = 2, KPanel = 3, VPanel = 4, Lo = 5, Hi = 6, MNew = 7, Sum = 8, State = 9;

    [ThreadStatic] private static RpaScratch? t_current;

    private readonly void*[] _ptr = new void*[Slots];
    private readonly long[] _bytes = new long[Slots];

    public static RpaScratch ForThisThread => t_current ??= new RpaScratch();

    /// <summary>Slot <paramref name="slot"/> with room for at least <paramref name="bytes"/>; earlier pointers to it die when it grows.</summary>
    public void* Get(int slot, long bytes)
    {
        if (_bytes[slot] < bytes)
        {
            if (_ptr[slot] != null) NativeMemory.AlignedFree(_ptr[slot]);
            long size = Math.Max(bytes, 4096);
            _ptr[slot] = NativeMemory.AlignedAlloc((nuint)size, 64);
            // Zeroed once: panels read a few padding lanes that no result depends on, and they should hold numbers.
            NativeMemory.Clear(_ptr[slot], (nuint)size);
            _bytes[slot] = size;
        }
        return _ptr[slot];
    }

    ~RpaScratch()
    {
        for (int i = 0; i < Slots; i++)
            if (_ptr[i] != null) NativeMemory.AlignedFree(_ptr[i]);
    }
}
