using HpcRpa.Errors;
using HpcRpa.Numerics;

namespace HpcRpa.Kernels.RaggedPagedAttention;

/// <summary>
/// The static shape of an RPA call — every dimension and dtype of <see cref="RpaProblem"/>, none of its data or
/// metadata. With the options it fixes the compiled variants (as jit's static arguments do), so an
/// <see cref="RpaSession"/> is built for one shape and runs any batch of it.
/// </summary>
public readonly record struct RpaShape(
    int MaxNumTokens, int NumQHeads, int NumKvHeads, int HeadDim, int PageSize, int NumPages, int MaxNumSeqs, int PagesPerSeq,
    DType QDType, DType KvDType)
{
    public static RpaShape Of(RpaProblem p) => new(
        p.MaxNumTokens, p.NumQHeads, p.NumKvHeads, p.HeadDim, p.PageSize, p.NumPages, p.MaxNumSeqs, p.PagesPerSeq, p.QDType, p.KvDType);

    /// <summary>A <see cref="ValidationException"/> naming the first field of <paramref name="p"/> that is not this shape's.</summary>
    internal void Check(RpaProblem p)
    {
        Same("max_num_tokens", p.MaxNumTokens, MaxNumTokens);
        Same("num_q_heads", p.NumQHeads, NumQHeads);
        Same("num_kv_heads", p.NumKvHeads, NumKvHeads);
        Same("head_dim", p.HeadDim, HeadDim);
        Same("page_size", p.PageSize, PageSize);
        Same("num_pages", p.NumPages, NumPages);
        Same("max_num_seqs", p.MaxNumSeqs, MaxNumSeqs);
        Same("pages_per_seq", p.PagesPerSeq, PagesPerSeq);
        if (p.QDType != QDType) Differs("queries.dtype", p.QDType.Name(), QDType.Name());
        if (p.KvDType != KvDType) Differs("kv_cache.dtype", p.KvDType.Name(), KvDType.Name());
    }

    private static void Same(string field, int got, int want)
    {
        if (got != want) Differs(field, got.ToString(), want.ToString());
    }

    private static void Differs(string field, string got, string want) =>
        throw new ValidationException(field, null, got, $"the session was built for {want} (a session runs one shape; build another for this one)");
}
