using HpcRpa.Kernels.RaggedPagedAttention;
using HpcRpa.Numerics;

namespace HpcRpa.Dispatch;

/// <summary>
/// What makes a compiled RPA variant distinct (the static arguments of a jitted pallas_call): chip, case,
/// shapes, dtypes, block sizes and the static options. Hashed with <see cref="HashCode"/>.
/// </summary>
public readonly record struct RpaVariantKey(
    string Chip, RpaCase Case, int NumQHeads, int NumKvHeads, int HeadDim, int PageSize, int MaxNumTokens, int PagesPerSeq,
    DType QDType, DType KvDType, RpaBlockSizes Blocks, int? SlidingWindow, bool SoftCap, bool Causal, bool UpdateKvCache, int? StaticQLen)
{
    public override int GetHashCode()
    {
        var h = new HashCode();
        h.Add(Chip, StringComparer.Ordinal);
        h.Add(Case);
        h.Add(NumQHeads);
        h.Add(NumKvHeads);
        h.Add(HeadDim);
        h.Add(PageSize);
        h.Add(MaxNumTokens);
        h.Add(PagesPerSeq);
        h.Add(QDType);
        h.Add(KvDType);
        h.Add(Blocks);
        h.Add(SlidingWindow);
        h.Add(SoftCap);
        h.Add(Causal);
        h.Add(UpdateKvCache);
        h.Add(StaticQLen);
        return h.ToHashCode();
    }

    public static RpaVariantKey For(string chip, RpaCase c, RpaProblem p, RpaOptions o, RpaBlockSizes blocks) =>
        new(chip, c, p.NumQHeads, p.NumKvHeads, p.HeadDim, p.PageSize, p.MaxNumTokens, p.PagesPerSeq, p.QDType, p.KvDType, blocks,
            o.SlidingWindow, o.SoftCap is not null, o.Causal && c != RpaCase.Decode, o.UpdateKvCache,
            c switch { RpaCase.Decode => 1, RpaCase.Prefill => o.ChunkPrefillSize, _ => null });
}

/// <summary>A "compiled" variant: the static facts checked once (block rules, VMEM fit) and its scope name.</summary>
public sealed record CompiledRpaVariant(RpaVariantKey Key, string Scope, long VmemBytes);

/// <summary>Compiled variants by key; thread-safe; counts hits and misses like a jit cache.</summary>
public sealed class RpaVariantCache
{
    private readonly System.Collections.Concurrent.ConcurrentDictionary<RpaVariantKey, CompiledRpaVariant> _map = new();
    private long _hits, _misses;

    public int Count => _map.Count;
    public long Hits => Interlocked.Read(ref _hits);
    public long Misses => Interlocked.Read(ref _misses);

    public CompiledRpaVariant GetOrCompile(RpaVariantKey key, Func<RpaVariantKey, CompiledRpaVariant> compile, out bool hit)
    {
        if (_map.TryGetValue(key, out var v))
        {
            Interlocked.Increment(ref _hits);
            hit = true;
            return v;
        }
        Interlocked.Increment(ref _misses);
        hit = false;
        return _map.GetOrAdd(key, compile);
    }
}
