using HpcRpa.Memory;
using HpcRpa.Numerics;

namespace HpcRpa.Kernels.KvCacheUpdate;

/// <summary>How the KV-update grid is sized (rpa.md 4.5).</summary>
public enum KvUpdateGrid
{
    /// <summary>Before vLLM #20235: grid = N_pad / N_b over the padded slot mapping; padded columns issue zero-length copies.</summary>
    Padded,
    /// <summary>vLLM #20235 / tpu-inference #87: grid = cdiv(num_slices, N_b), read from a device scalar.</summary>
    Dynamic,
}

/// <summary>
/// One KV-cache update (rpa.md 4.1): new_kv [N_tok, C, D128] rows into the flattened cache
/// [num_pages·P, C, D128] through a slot mapping [3, N_pad] (row 0 cache starts, row 1 new-KV starts,
/// row 2 lengths; columns ≥ num_slices are padding). Byte arrays hold elements of <see cref="DType"/>;
/// the cache is updated in place, in <see cref="KvCache"/> or in native memory (<see cref="KvCacheBuffer"/>).
/// </summary>
public sealed class KvUpdateProblem
{
    public required int NumTokens { get; init; }
    /// <summary>Combined heads C (= 2·Hkv, K and V interleaved).</summary>
    public required int Combined { get; init; }
    /// <summary>Padded head dim (a multiple of 128).</summary>
    public required int HeadDim { get; init; }
    public required int PageSize { get; init; }
    public required int NumPages { get; init; }
    public required DType DType { get; init; }
    public byte[] NewKv { get; init; } = [];
    public byte[] KvCache { get; init; } = [];

    /// <summary>The cache in native memory instead of <see cref="KvCache"/> (then empty), as RpaProblem.KvCacheBuffer: the same cache both kernels use.</summary>
    public NativeBuffer? KvCacheBuffer { get; init; }

    /// <summary>Bytes of the cache, in whichever of <see cref="KvCache"/> and <see cref="KvCacheBuffer"/> holds it.</summary>
    public long KvCacheLength => CacheOperand.Length(KvCache, KvCacheBuffer);
    public required int[] Slices { get; init; }
    public required int NumSlices { get; init; }

    public int PaddedSlices => Slices.Length / 3;
    public long RowBytes => (long)Combined * HeadDim * DType.Bytes();
    public int CacheTokens => NumPages * PageSize;
    public int CacheStart(int i) => Slices[i];
    public int NewStart(int i) => Slices[PaddedSlices + i];
    public int Length(int i) => Slices[2 * PaddedSlices + i];

    /// <summary>
    /// num_slices_per_block as tpu-inference HEAD picks it (rpa.md 4.4): prev_pow2((vmem_limit − 1 MiB) / page_bytes),
    /// capped at 64 (128 regressed on v6e), vmem_limit 40 MiB by default.
    /// </summary>
    public static int AutoSlicesPerBlock(int pageSize, int combined, int headDim, DType dtype, long vmemLimit = 40L << 20)
    {
        long pageBytes = (long)pageSize * combined * headDim * dtype.Bytes();
        long fit = ((vmemLimit - (1L << 20)) / pageBytes);
        if (fit <= 0) return 0;
        long p = 1;
        while (p * 2 <= fit) p *= 2;
        return (int)Math.Min(p, 64);
    }
}
