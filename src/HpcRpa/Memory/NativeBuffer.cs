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
    private readonly bool _owned;

    public long Length { get; }

    public NativeBuffer(long bytes, bool zero = true)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        Length = bytes;
        _ptr = (byte*)NativeMemory.AlignedAlloc((nuint)Math.Max(bytes, 1), Alignment);
        if (zero) NativeMemory.Clear(_ptr, (nuint)bytes);
        _owned = true;
    }

    private NativeBuffer(byte* ptr, long bytes)
    {
        _ptr = ptr;
        Length = bytes;
        _owned = false;
    }

    /// <summary>Wraps memory the caller keeps alive (pinned array, torch tensor storage) for the buffer's lifetime.</summary>
    public static NativeBuffer Wrap(nint pointer, long bytes)
    {
        if (pointer == 0 && bytes > 0) throw new ArgumentNullException(nameof(pointer));
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        return new NativeBuffer((byte*)pointer, bytes);
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
        if (_owned && _ptr != null) NativeMemory.AlignedFree(_ptr);
        _ptr = null;
    }
}
