using HpcRpa.Errors;
using HpcRpa.Hardware;
using HpcRpa.Memory;
using HpcRpa.Numerics;

namespace HpcRpa.Kernels.KvCacheUpdate;

/// <summary>
/// The KV-update checks of tpu-inference #321 (rpa.md 4.6), always on here, plus shapes: every real slice in
/// range, within one page, new-KV intervals contiguous, cache intervals disjoint. Nothing is written on failure.
/// A check that passes allocates nothing (a session validates every call).
/// </summary>
public static class KvUpdateValidation
{
    public static void Validate(KvUpdateProblem p, int slicesPerBlock, ChipSpec chip, bool needValues)
    {
        void Pos(string f, int v) { if (v <= 0) throw new ValidationException(f, null, v.ToString(), "must be positive"); }
        Pos("num_tokens", p.NumTokens);
        Pos("combined_heads", p.Combined);
        Pos("head_dim", p.HeadDim);
        Pos("page_size", p.PageSize);
        Pos("num_pages", p.NumPages);
        Pos("num_slices_per_block", slicesPerBlock);
        if (p.HeadDim % 128 != 0) throw new ValidationException("head_dim", null, p.HeadDim.ToString(), "must be a multiple of 128 (D128)");
        if (p.Slices.Length % 3 != 0 || p.Slices.Length == 0)
            throw new ValidationException("slices", null, $"length {p.Slices.Length}", "must be [3, N_pad] with N_pad >= 1");
        if (p.NumSlices < 0 || p.NumSlices > p.PaddedSlices)
            throw new ValidationException("num_slices", null, p.NumSlices.ToString(), $"must be in [0, N_pad = {p.PaddedSlices}]");
        if (needValues)
        {
            if (p.NewKv.LongLength != p.NumTokens * p.RowBytes)
                throw new ValidationException("new_kv", null, $"length {p.NewKv.LongLength}", $"must have {p.NumTokens * p.RowBytes} bytes ([{p.NumTokens}, {p.Combined}, {p.HeadDim}] of {p.DType.Name()})");
            var (cacheField, cacheLength) = CacheOperand.Check(p.KvCache, p.KvCacheBuffer);
            if (cacheLength != (long)p.CacheTokens * p.RowBytes)
                throw new ValidationException(cacheField, null, $"length {cacheLength}", $"must have {(long)p.CacheTokens * p.RowBytes} bytes");
        }
        long scratch = (long)slicesPerBlock * p.PageSize * p.RowBytes;
        if (scratch > chip.VmemBytesPerCore)
            throw new ValidationException("num_slices_per_block", null, slicesPerBlock.ToString(), $"scratch of {scratch:N0} bytes exceeds VMEM ({chip.VmemBytesPerCore:N0})");

        for (int i = 0; i < p.NumSlices; i++)
        {
            int cs = p.CacheStart(i), ns = p.NewStart(i), len = p.Length(i);
            if (ns < 0) throw new ValidationException("slices.new_kv_start", i, ns.ToString(), "must be greater than or equal to 0");
            if (cs < 0) throw new ValidationException("slices.kv_cache_start", i, cs.ToString(), "must be greater than or equal to 0");
            if (len <= 0 || len > p.PageSize) throw new ValidationException("slices.slice_len", i, len.ToString(), $"must be less or equal to page_size={p.PageSize} and greater than 0");
            if ((long)ns + len > p.NumTokens) throw new ValidationException("slices.new_kv_start", i, ns.ToString(), $"new_kv_start={ns} + slice_len={len} must be less or equal to new_token_num={p.NumTokens}");
            if ((long)cs + len > p.CacheTokens) throw new ValidationException("slices.kv_cache_start", i, cs.ToString(), $"kv_cache_start={cs} + slice_len={len} must be less or equal to kv_cache_token_num={p.CacheTokens}");
            if (cs / p.PageSize != (cs + len - 1) / p.PageSize) throw new ValidationException("slices.kv_cache_start", i, cs.ToString(), $"Each slice must reside in the same page (start {cs}, length {len}, page size {p.PageSize})");
        }
        var order = Order(p, row: 1);
        for (int k = 1; k < order.Length; k++)
        {
            int a = Slice(order[k - 1]), b = Slice(order[k]);
            int expect = p.NewStart(a) + p.Length(a);
            if (p.NewStart(b) != expect)
                throw new ValidationException("slices.new_kv_start", b, p.NewStart(b).ToString(), $"new_kv intervals must be contiguous: is expected to equal {expect} (end of slice {a})");
        }
        order = Order(p, row: 0);
        for (int k = 1; k < order.Length; k++)
        {
            int a = Slice(order[k - 1]), b = Slice(order[k]);
            if (p.CacheStart(b) < p.CacheStart(a) + p.Length(a))
                throw new ValidationException("slices.kv_cache_start", b, p.CacheStart(b).ToString(), $"Overlap detected in kv_cache intervals: slice {b} starts inside slice {a} [{p.CacheStart(a)}, {p.CacheStart(a) + p.Length(a)})");
        }
    }

    [ThreadStatic] private static long[]? t_order;

    /// <summary>
    /// The real slices in order of one row of the mapping (0 cache starts, 1 new-KV starts), ties by index — the
    /// stable sort's order — as (start &lt;&lt; 32 | index) keys in a buffer kept per thread, so a check allocates
    /// nothing. The starts were checked non-negative.
    /// </summary>
    private static ReadOnlySpan<long> Order(KvUpdateProblem p, int row)
    {
        if (t_order is null || t_order.Length < p.NumSlices) t_order = new long[Math.Max(p.NumSlices, 64)];
        var keys = t_order.AsSpan(0, p.NumSlices);
        for (int i = 0; i < keys.Length; i++) keys[i] = (long)p.Slices[row * p.PaddedSlices + i] << 32 | (uint)i;
        keys.Sort();
        return keys;
    }

    private static int Slice(long key) => (int)(key & 0xFFFF_FFFF);
}
