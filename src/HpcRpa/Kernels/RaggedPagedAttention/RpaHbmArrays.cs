using HpcRpa.Memory;
using HpcRpa.Numerics;

namespace HpcRpa.Kernels.RaggedPagedAttention;

/// <summary>The kernel's HBM operands: q and the output in kernel layout, the merged new tokens, the cache.</summary>
internal sealed record RpaHbmArrays(Ref Q, Ref Out, Ref NewKv, Ref Cache)
{
    public static RpaHbmArrays Allocate(MemoryPool pool, RpaProblem p, NativeBuffer? cache)
    {
        var L = p.Layout;
        int T = p.MaxNumTokens;
        var cacheShape = new[] { p.NumPages, p.PageSize, L.Rows, L.D128 };
        return new RpaHbmArrays(
            pool.Allocate("q", L.QDType, L.Hkv, T, L.Gp, L.D128),
            pool.Allocate("o", L.QDType, L.Hkv, T, L.Gp, L.D128),
            pool.Allocate("new_kv", DType.Int32, T, L.Rows, L.D128),
            cache is not null ? pool.Wrap("kv_cache", DType.Int32, cacheShape, cache) : pool.Allocate("kv_cache", DType.Int32, cacheShape));
    }

    /// <summary>
    /// The wrapper's layout steps (the output aliases q; <see cref="RpaInputLayout.PrepareOutputs(RpaProblem, Ref, Ref, Span{byte})"/>
    /// reads the rows no q block writes from q). Every call writes the same elements, so the zero padding a fresh
    /// array starts with is what a reused one still holds.
    /// </summary>
    public void Prepare(RpaProblem p, RpaOptions o) => Prepare(p, o, 0, p.MaxNumTokens);

    /// <summary>The layout steps for tokens [t0, t1) (one host thread's share).</summary>
    public void Prepare(RpaProblem p, RpaOptions o, int t0, int t1)
    {
        RpaInputLayout.PrepareQueries(p, o, Q, t0, t1);
        if (o.UpdateKvCache) RpaInputLayout.MergeKv(p, NewKv, t0, t1);
    }
}
