using HpcRpa.Errors;
using HpcRpa.Numerics;

namespace HpcRpa.Kernels.KvCacheUpdate;

/// <summary>
/// The static shape of a KV-cache update — every dimension of <see cref="KvUpdateProblem"/> and its padded slot
/// mapping's width, none of its data or slices — which a <see cref="KvUpdateSession"/> is built for.
/// </summary>
public readonly record struct KvUpdateShape(int NumTokens, int Combined, int HeadDim, int PageSize, int NumPages, DType DType, int PaddedSlices)
{
    public static KvUpdateShape Of(KvUpdateProblem p) => new(p.NumTokens, p.Combined, p.HeadDim, p.PageSize, p.NumPages, p.DType, p.PaddedSlices);

    /// <summary>A <see cref="ValidationException"/> naming the first field of <paramref name="p"/> that is not this shape's.</summary>
    internal void Check(KvUpdateProblem p)
    {
        Same("num_tokens", p.NumTokens, NumTokens);
        Same("combined_heads", p.Combined, Combined);
        Same("head_dim", p.HeadDim, HeadDim);
        Same("page_size", p.PageSize, PageSize);
        Same("num_pages", p.NumPages, NumPages);
        if (p.DType != DType) Differs("dtype", p.DType.Name(), DType.Name());
        if (p.Slices.Length != 3 * PaddedSlices) Differs("slices", $"length {p.Slices.Length}", $"[3, {PaddedSlices}]");
    }

    private static void Same(string field, int got, int want)
    {
        if (got != want) Differs(field, got.ToString(), want.ToString());
    }

    private static void Differs(string field, string got, string want) =>
        throw new ValidationException(field, null, got, $"the session was built for {want} (a session runs one shape; build another for this one)");
}
