using HpcRpa.Memory;
using HpcRpa.Numerics;

namespace HpcRpa.Kernels.RaggedPagedAttention;

/// <summary>
/// One ragged batch for RPA v3 (rpa.md 2.1). Tensors are raw little-endian bytes of their dtype:
/// queries [T, Hq, D] (q dtype), keys/values [T, Hkv, D] (KV dtype, already quantised for fp8), and the
/// KV cache in the packed layout of <see cref="RpaLayout"/>, updated in place — in <see cref="KvCache"/> or in
/// native memory (<see cref="KvCacheBuffer"/>). Value arrays may be empty for a timing-only run; the metadata is
/// always needed.
/// </summary>
public sealed record RpaProblem
{
    public required int MaxNumTokens { get; init; }
    public required int NumQHeads { get; init; }
    public required int NumKvHeads { get; init; }
    public required int HeadDim { get; init; }
    public required int PageSize { get; init; }
    public required int NumPages { get; init; }
    public required int MaxNumSeqs { get; init; }
    public required int PagesPerSeq { get; init; }
    public required DType QDType { get; init; }
    public required DType KvDType { get; init; }
    public byte[] Queries { get; init; } = [];
    public byte[] Keys { get; init; } = [];
    public byte[] Values { get; init; } = [];
    public byte[] KvCache { get; init; } = [];

    /// <summary>
    /// The KV cache in native memory the caller owns and keeps alive, instead of <see cref="KvCache"/> (which must
    /// then be empty); updated in place the same way. A buffer from <see cref="NativeBuffer(long)"/> starts on a
    /// 64-byte line, so every token row of the cache does (its rows are multiples of 512 bytes) — which a byte[]
    /// cannot promise (its data starts 16 bytes or so past its header): on this project's Zen 5 host decode's
    /// arithmetic took ~15 % less time on line-aligned rows (docs/benchmarks.md). <see cref="NativeBuffer.Wrap"/>
    /// shares memory another owner aligned, such as a torch tensor's storage, with no copy.
    /// </summary>
    public NativeBuffer? KvCacheBuffer { get; init; }

    /// <summary>Bytes of the cache, in whichever of <see cref="KvCache"/> and <see cref="KvCacheBuffer"/> holds it.</summary>
    public long KvCacheLength => CacheOperand.Length(KvCache, KvCacheBuffer);

    /// <summary>A copy of the cache in a new array (the reference reads arrays).</summary>
    public byte[] CopyKvCache() => CacheOperand.Bytes(KvCache, KvCacheBuffer).ToArray();

    /// <summary>Writes <paramref name="cache"/> (a whole cache) over the cache, wherever it is.</summary>
    public void StoreKvCache(ReadOnlySpan<byte> cache)
    {
        if (cache.Length != KvCacheLength) throw new ArgumentException($"{cache.Length} bytes for a cache of {KvCacheLength}", nameof(cache));
        cache.CopyTo(CacheOperand.Bytes(KvCache, KvCacheBuffer));
    }
    public required int[] KvLens { get; init; }
    public required int[] PageIndices { get; init; }
    public required int[] CuQLens { get; init; }
    public required int[] Distribution { get; init; }

    public int NumSeqs => Distribution.Length == 3 ? Distribution[2] : 0;
    public int TotalQTokens => NumSeqs > 0 && CuQLens.Length > NumSeqs ? CuQLens[NumSeqs] : 0;
    public RpaLayout Layout => new(NumQHeads, NumKvHeads, HeadDim, QDType, KvDType);
    public int QLen(int seq) => CuQLens[seq + 1] - CuQLens[seq];

    /// <summary>The sequence range [start, end) of one call (rpa.md 2.6): decode [0, d0), prefill [d0, d1), mixed [d1, d2).</summary>
    public (int Start, int End) Range(RpaCase c) => c switch
    {
        RpaCase.Decode => (0, Distribution[0]),
        RpaCase.Prefill => (Distribution[0], Distribution[1]),
        _ => (Distribution[1], Distribution[2]),
    };

    public bool HasSequences(RpaCase c)
    {
        var (s, e) = Range(c);
        return e > s;
    }
}

/// <summary>Static options of the call (rpa.md 2.1 option table).</summary>
public sealed record RpaOptions
{
    public double SmScale { get; init; } = 1.0;
    public int? SlidingWindow { get; init; }
    public double? SoftCap { get; init; }
    public double? QScale { get; init; }
    public double? KScale { get; init; }
    public double? VScale { get; init; }
    public bool Causal { get; init; } = true;
    public bool UpdateKvCache { get; init; } = true;
    /// <summary>Static q_len of the prefill range; null runs that range with dynamic q_len (HpcRpa never skips it, caveat C1).</summary>
    public int? ChunkPrefillSize { get; init; }
    public RpaBlockSizes? DecodeBlocks { get; init; }
    public RpaBlockSizes? PrefillBlocks { get; init; }
    public RpaBlockSizes? MixedBlocks { get; init; }
    public long? VmemLimitBytes { get; init; }

    public RpaBlockSizes? Blocks(RpaCase c) => c switch
    {
        RpaCase.Decode => DecodeBlocks,
        RpaCase.Prefill => PrefillBlocks,
        _ => MixedBlocks,
    };
}
