using System.Runtime.InteropServices;

namespace HpcRpa.Memory;

/// <summary>
/// Aligned native memory backing an emulated HBM/VMEM/SMEM allocation, or a view of caller memory
/// (zero-copy, e.g. a torch tensor) that this object does not own.
/// </summary>
public sealed unsafe class NativeBuffer : IDisposable
{
    public const int Alignment = 64;

    private byte* _ptr;
    private readonly void* _block; // what was allocated (the aligned pointer lies inside it)
    private readonly bool _owned;

    public long Length { get; }

    /// <summary>
    /// Zeroed memory, zeroed lazily: large blocks come from the allocator as fresh pages the OS zeroes on first
    /// touch, so a VMEM block that copy elision never writes costs no time and no resident memory.
    /// </summary>
    public NativeBuffer(long bytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        Length = bytes;
        _block = NativeMemory.AllocZeroed((nuint)(Math.Max(bytes, 1) + Alignment));
        _ptr = (byte*)(((nint)_block + Alignment - 1) & ~(nint)(Alignment - 1));
        _owned = true;
    }

    private NativeBuffer(byte* ptr, long bytes)
    {
        _ptr = ptr;
        Length = bytes;
        _owned = false;
    }

    /// <summary>New owned memory (64-byte aligned) holding a copy of <paramref name="bytes"/>.</summary>
    public static NativeBuffer CopyOf(ReadOnlySpan<byte> bytes)
    {
        var b = new NativeBuffer(bytes.Length);
        bytes.CopyTo(new Span<byte>(b._ptr, bytes.Length));
        return b;
    }

    /// <summary>Wraps memory the caller keeps alive (pinned array, torch tensor storage) for the buffer's lifetime.</summary>
    public static NativeBuffer Wrap(nint pointer, long bytes)
    {
        if (pointer == 0 && bytes > 0) throw new ArgumentNullException(nameof(pointer));
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        return new NativeBuffer((byte*)pointer, bytes);
    }

    /// <summary>
    /// A view of caller memory whose address changes from call to call (a session's KV cache, pinned only while a
    /// call runs): it points nowhere until <see cref="Repoint"/>, and should point nowhere again between calls.
    /// </summary>
    internal static NativeBuffer Unpinned(long bytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        return new NativeBuffer(null, bytes);
    }

    /// <summary>Points a view of caller memory (never an owned block) at <paramref name="pointer"/>, or at nothing with 0.</summary>
    internal void Repoint(nint pointer)
    {
        if (_owned) throw new InvalidOperationException("an owned buffer cannot be repointed");
        _ptr = (byte*)pointer;
    }

    public nint Pointer => (nint)_ptr;

    public byte* Data => _ptr;

    public Span<byte> Bytes(long offset, int count)
    {
        if ((ulong)offset + (ulong)count > (ulong)Length) throw new ArgumentOutOfRangeException(nameof(count), $"[{offset}, {offset + count}) outside buffer of {Length} bytes");
        return new Span<byte>(_ptr + offset, count);
    }

    public Span<T> AsSpan<T>(long byteOffset, int count) where T : unmanaged
    {
        if ((ulong)byteOffset + (ulong)count * (ulong)sizeof(T) > (ulong)Length)
            throw new ArgumentOutOfRangeException(nameof(count), $"[{byteOffset}, +{count}x{sizeof(T)}) outside buffer of {Length} bytes");
        return new Span<T>(_ptr + byteOffset, count);
    }

    public void Dispose()
    {
        if (_owned && _ptr != null) NativeMemory.Free(_block);
        _ptr = null;
    }
}
