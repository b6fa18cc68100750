using HpcRpa.Kernels.KvCacheUpdate;
using HpcRpa.Kernels.RaggedPagedAttention;
using HpcRpa.Numerics;

namespace HpcRpa.Workloads;

/// <summary>
/// The KV-update step that writes an RPA batch's new tokens when the update is not fused into RPA (v2 style):
/// the slot mapping from each sequence's cached and new token counts and page table, copying whole merged token
/// rows of RPA's packed layout (32-bit words), so the cache is byte-for-byte what the fused update writes.
/// </summary>
public static class RpaKvUpdate
{
    public static KvUpdateProblem For(RpaProblem p, bool values = true)
    {
        var L = p.Layout;
        int n = p.NumSeqs;
        var computed = new List<int>();
        var scheduled = new List<int>();
        var tables = new List<int[]>();
        for (int s = 0; s < n; s++)
        {
            int q = p.QLen(s);
            computed.Add(p.KvLens[s] - q);
            scheduled.Add(q);
            tables.Add(p.PageIndices.AsSpan(s * p.PagesPerSeq, p.PagesPerSeq).ToArray());
        }
        int tokens = p.TotalQTokens;
        var (slices, count) = SlotMapping.Build(computed, scheduled, tables, p.PageSize, Math.Max(1, tokens + 2 * n));
        return new KvUpdateProblem
        {
            NumTokens = p.MaxNumTokens, Combined = L.Rows, HeadDim = L.D128, PageSize = p.PageSize, NumPages = p.NumPages, DType = DType.Int32,
            NewKv = values ? RpaInputLayout.MergedKvBytes(p) : [], KvCache = p.KvCache, KvCacheBuffer = p.KvCacheBuffer, Slices = slices, NumSlices = count,
        };
    }
}
