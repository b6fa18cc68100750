using HpcRpa.Errors;

namespace HpcRpa.Memory;

/// <summary>
/// A kernel's KV cache as the caller hands it over: a byte[] or a <see cref="NativeBuffer"/>, exactly one of them
/// (the other empty / null). Checked once at the API boundary; afterwards the kernels see only its address.
/// </summary>
internal static class CacheOperand
{
    /// <summary>Bytes of the cache, in whichever holds it.</summary>
    public static long Length(byte[] array, NativeBuffer? buffer) => buffer?.Length ?? array.LongLength;

    /// <summary>
    /// The field that holds the cache ("kv_cache" or "kv_cache_buffer") and its length, for the caller's length
    /// check; a <see cref="ValidationException"/> if both hold one or the buffer is disposed.
    /// </summary>
    public static (string Field, long Length) Check(byte[] array, NativeBuffer? buffer)
    {
        if (buffer is null) return ("kv_cache", array.LongLength);
        if (array.Length != 0)
            throw new ValidationException("kv_cache", null, $"length {array.LongLength}", "must be empty when kv_cache_buffer holds the cache (one cache per call)");
        if (buffer.Pointer == 0 && buffer.Length > 0)
            throw new ValidationException("kv_cache_buffer", null, "disposed", "must be a live buffer");
        return ("kv_cache_buffer", buffer.Length);
    }

    /// <summary>
    /// The whole cache as bytes, in whichever holds it: a span, so at most 2 GiB (the reference and its checks read
    /// caches this way; the kernels do not). A larger buffer is a <see cref="ValidationException"/>.
    /// </summary>
    public static Span<byte> Bytes(byte[] array, NativeBuffer? buffer)
    {
        if (buffer is null) return array;
        if (buffer.Length > int.MaxValue)
            throw new ValidationException("kv_cache_buffer", null, $"length {buffer.Length}", $"the reference path reads a cache of at most {int.MaxValue} bytes");
        return buffer.Bytes(0, (int)buffer.Length);
    }

    /// <summary>Where the cache starts: the buffer, or the array (pinned by the caller for the call).</summary>
    public static unsafe nint Address(byte* pinnedArray, NativeBuffer? buffer) => buffer?.Pointer ?? (nint)pinnedArray;
}
