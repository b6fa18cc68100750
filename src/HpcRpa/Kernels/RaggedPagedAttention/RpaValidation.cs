using System.Globalization;
using HpcRpa.Errors;
using HpcRpa.Hardware;
using HpcRpa.Memory;
using HpcRpa.Numerics;

namespace HpcRpa.Kernels.RaggedPagedAttention;

/// <summary>
/// Every RPA input checked once, before anything runs (rpa.md 2.7 plus what makes the unsafe paths safe):
/// shapes, dtypes, options, block sizes and their VMEM footprint, and the metadata against the page table.
/// A failure raises <see cref="ValidationException"/> naming field, index and value; nothing is written.
/// A call that passes allocates nothing here (messages are built only to throw): a session validates every call.
/// </summary>
public static class RpaValidation
{
    private static readonly RpaCase[] AllCases = [RpaCase.Decode, RpaCase.Prefill, RpaCase.Mixed];

    public static void Validate(RpaProblem p, RpaOptions o, ChipSpec chip, bool needValues) =>
        Validate(p, o, chip, needValues, defaultBlocksMustFit: true);

    /// <param name="defaultBlocksMustFit">
    /// False on the reference fallback: default blocks that overflow VMEM are the reason it runs, not a caller
    /// error; a tuple the caller gives is still checked in full.
    /// </param>
    public static void Validate(RpaProblem p, RpaOptions o, ChipSpec chip, bool needValues, bool defaultBlocksMustFit) =>
        Validate(p, o, chip, needValues, defaultBlocksMustFit, null);

    /// <param name="defaultBlocks">
    /// The default block sizes per call type (indexed by <see cref="RpaCase"/>), filled where missing: a session
    /// keeps them between calls, as they depend on the shape alone.
    /// </param>
    internal static void Validate(RpaProblem p, RpaOptions o, ChipSpec chip, bool needValues, bool defaultBlocksMustFit, RpaBlockSizes?[]? defaultBlocks)
    {
        Positive("max_num_tokens", p.MaxNumTokens);
        Positive("num_q_heads", p.NumQHeads);
        Positive("num_kv_heads", p.NumKvHeads);
        Positive("head_dim", p.HeadDim);
        Positive("page_size", p.PageSize);
        Positive("num_pages", p.NumPages);
        Positive("max_num_seqs", p.MaxNumSeqs);
        Positive("pages_per_seq", p.PagesPerSeq);
        if (p.NumQHeads % p.NumKvHeads != 0)
            throw new ValidationException("num_q_heads", null, p.NumQHeads.ToString(), $"expected num_q_heads to be divisible by num_kv_heads = {p.NumKvHeads}");
        if (p.QDType is not (DType.F32 or DType.BF16))
            throw new ValidationException("queries.dtype", null, p.QDType.Name(), "must be f32 or bf16");
        if (!p.KvDType.IsFloat() || p.KvDType == DType.F16)
            throw new ValidationException("kv_cache.dtype", null, p.KvDType.Name(), "expected kv_cache to be a floating point type: f32, bf16, fp8_e4m3 or fp8_e5m2");
        var L = p.Layout;
        if (p.PageSize % L.Pk != 0)
            throw new ValidationException("page_size", null, p.PageSize.ToString(), $"must be divisible by the KV packing {L.Pk} of {p.KvDType.Name()}");
        if ((long)p.MaxNumSeqs * p.PagesPerSeq > int.MaxValue)
            throw new ValidationException("pages_per_seq", null, p.PagesPerSeq.ToString(), "max_num_seqs x pages_per_seq overflows");

        Length("kv_lens", p.KvLens.Length, p.MaxNumSeqs);
        Length("page_indices", p.PageIndices.Length, p.MaxNumSeqs * p.PagesPerSeq);
        Length("cu_q_lens", p.CuQLens.Length, p.MaxNumSeqs + 1);
        Length("distribution", p.Distribution.Length, 3);

        if (needValues)
        {
            Length("queries", p.Queries.LongLength, L.QueryBytes(p.MaxNumTokens), "bytes ([T, Hq, D] of the q dtype)");
            if (o.UpdateKvCache)
            {
                Length("keys", p.Keys.LongLength, L.NewKvBytes(p.MaxNumTokens), "bytes ([T, Hkv, D] of the KV dtype)");
                Length("values", p.Values.LongLength, L.NewKvBytes(p.MaxNumTokens), "bytes ([T, Hkv, D] of the KV dtype)");
            }
            var (cacheField, cacheLength) = CacheOperand.Check(p.KvCache, p.KvCacheBuffer);
            if (cacheLength != L.CacheBytes(p.NumPages, p.PageSize))
                Length(cacheField, cacheLength, L.CacheBytes(p.NumPages, p.PageSize), $"bytes ([{p.NumPages}, {p.PageSize}, {L.Rows}, {L.Pk}, {L.D128}] of {p.KvDType.Name()})");
        }

        ValidateOptions(o, chip);
        ValidateMetadata(p, o);
        foreach (RpaCase c in AllCases)
        {
            if (!p.HasSequences(c)) continue; // an empty range makes no call
            // Like upstream, the divisibility rules bind the tuples a caller gives; the heuristic's own
            // defaults can leave a ragged last compute chunk (e.g. bkv 1088 with bkv_c 512), which the kernel handles.
            if (o.Blocks(c) is { } given) ValidateBlocks(c, given, p, o, chip);
            else if (defaultBlocksMustFit)
            {
                var d = defaultBlocks?[(int)c] ?? RpaBlockSizes.Default(c, chip, p.QDType, p.KvDType, p.NumQHeads, p.NumKvHeads, p.HeadDim, p.PageSize, p.MaxNumTokens, p.PagesPerSeq);
                if (defaultBlocks is not null) defaultBlocks[(int)c] = d;
                ValidateFit(c, d, p, o, chip);
            }
        }
    }

    private static void ValidateOptions(RpaOptions o, ChipSpec chip)
    {
        if (o.SlidingWindow is int w && w <= 0) throw new ValidationException("sliding_window", null, w.ToString(), "must be positive");
        if (o.SoftCap is double c && (c == 0.0 || !double.IsFinite(c))) throw new ValidationException("soft_cap", null, Str(c), "must not be 0.0 (and must be finite)");
        if (o.ChunkPrefillSize is int cp && cp <= 0) throw new ValidationException("chunk_prefill_size", null, cp.ToString(), "must be positive");
        if (!double.IsFinite(o.SmScale)) throw new ValidationException("sm_scale", null, Str(o.SmScale), "must be finite");
        Scale("q_scale", o.QScale);
        Scale("k_scale", o.KScale);
        Scale("v_scale", o.VScale);
        if (o.VmemLimitBytes is long vl && (vl <= 0 || vl > chip.VmemBytesPerCore))
            throw new ValidationException("vmem_limit_bytes", null, vl.ToString(), $"must be positive and at most the chip's VMEM ({chip.VmemBytesPerCore:N0})");
    }

    /// <summary>Block-size rules (rpa.md 2.7) and the VMEM estimate (2.8) against the limit.</summary>
    public static void ValidateBlocks(RpaCase c, RpaBlockSizes b, RpaProblem p, RpaOptions o, ChipSpec chip)
    {
        if (b.Bq <= 0) throw new ValidationException(BlocksField(c, ".bq_sz"), null, b.Bq.ToString(), "must be positive");
        if (b.Bkv <= 0) throw new ValidationException(BlocksField(c, ".bkv_sz"), null, b.Bkv.ToString(), "must be positive");
        if (b.BqCompute <= 0) throw new ValidationException(BlocksField(c, ".bq_csz"), null, b.BqCompute.ToString(), "must be positive");
        if (b.BkvCompute <= 0) throw new ValidationException(BlocksField(c, ".bkv_csz"), null, b.BkvCompute.ToString(), "must be positive");
        if (b.Bq % b.BqCompute != 0) throw new ValidationException(BlocksField(c, ".bq_sz"), null, b.Bq.ToString(), $"must be divisible by bq_csz = {b.BqCompute}");
        if (b.Bkv % b.BkvCompute != 0) throw new ValidationException(BlocksField(c, ".bkv_sz"), null, b.Bkv.ToString(), $"must be divisible by bkv_csz = {b.BkvCompute}");
        if (b.Bkv % p.PageSize != 0) throw new ValidationException(BlocksField(c, ".bkv_sz"), null, b.Bkv.ToString(), $"must be divisible by page_size = {p.PageSize}");
        if (b.BkvCompute % p.PageSize != 0) throw new ValidationException(BlocksField(c, ".bkv_csz"), null, b.BkvCompute.ToString(), $"must be divisible by page_size = {p.PageSize}");
        ValidateFit(c, b, p, o, chip);
    }

    private static void ValidateFit(RpaCase c, RpaBlockSizes b, RpaProblem p, RpaOptions o, ChipSpec chip)
    {
        long need = VmemBytes(p.Layout, b);
        long limit = o.VmemLimitBytes ?? chip.VmemBytesPerCore;
        if (need > limit)
            throw new ValidationException(BlocksField(c, ""), null, b.ToString(), $"needs {need:N0} bytes of VMEM, limit is {limit:N0}");
    }

    /// <summary>"decode_block_sizes" and its members (built only to throw).</summary>
    private static string BlocksField(RpaCase c, string member) => $"{c.ToString().ToLowerInvariant()}_block_sizes{member}";

    private static void Scale(string name, double? v)
    {
        if (v is double s && (!(s > 0) || !double.IsFinite(s))) throw new ValidationException(name, null, Str(s), "must be positive and finite");
    }

    /// <summary>The kernel's VMEM estimate (rpa.md 2.8), in bytes, plus the s/p chunk scratch the model keeps.</summary>
    public static long VmemBytes(RpaLayout L, RpaBlockSizes b)
    {
        long kv = 2L * b.Bkv * L.Stride * L.D128 * 4;
        long qo = 2L * (2L * L.Hkv * b.Bq * L.Gp * L.D128) * L.QDType.Bytes();
        long lm = 2L * L.Hkv * b.Bq * L.Gp * 128 * 4;
        long acc = (long)L.Hkv * b.Bq * L.Gp * L.D128 * 4;
        long sp = 2L * Math.Min(b.BqCompute, b.Bq) * L.Gp * b.BkvCompute * 4;
        return kv + qo + lm + acc + sp;
    }

    private static void ValidateMetadata(RpaProblem p, RpaOptions o)
    {
        var d = p.Distribution;
        if (d[0] < 0 || d[0] > d[1] || d[1] > d[2])
            throw new ValidationException("distribution", null, $"[{d[0]}, {d[1]}, {d[2]}]", "Invalid distribution: need 0 <= decode_end <= prefill_end <= mixed_end");
        if (d[2] > p.MaxNumSeqs)
            throw new ValidationException("distribution", 2, d[2].ToString(), $"num_seqs must be <= max_num_seqs = {p.MaxNumSeqs}");
        int n = d[2];
        if (p.CuQLens[0] != 0) throw new ValidationException("cu_q_lens", 0, p.CuQLens[0].ToString(), "must be 0");
        for (int s = 0; s < n; s++)
        {
            int q = p.CuQLens[s + 1] - p.CuQLens[s];
            if (p.CuQLens[s + 1] < p.CuQLens[s])
                throw new ValidationException("cu_q_lens", s + 1, p.CuQLens[s + 1].ToString(), $"must be >= cu_q_lens[{s}] = {p.CuQLens[s]} (non-decreasing)");
            if (p.CuQLens[s + 1] > p.MaxNumTokens)
                throw new ValidationException("cu_q_lens", s + 1, p.CuQLens[s + 1].ToString(), $"Total q tokens must be <= max_num_tokens = {p.MaxNumTokens}");
            int kv = p.KvLens[s];
            if (kv < 0) throw new ValidationException("kv_lens", s, kv.ToString(), "must be >= 0");
            if (q > kv) throw new ValidationException("kv_lens", s, kv.ToString(), $"Require q_len <= kv_len (q_len = {q})");
            if (s < d[0] && q != 1)
                throw new ValidationException("cu_q_lens", s + 1, p.CuQLens[s + 1].ToString(), $"sequence {s} is in the decode range [0, {d[0]}) but has q_len {q}, not 1");
            if (s >= d[0] && s < d[1] && o.ChunkPrefillSize is int cp && q != cp)
                throw new ValidationException("cu_q_lens", s + 1, p.CuQLens[s + 1].ToString(), $"sequence {s} is in the prefill range but has q_len {q}, not chunk_prefill_size {cp}");
            long pages = ((long)kv + p.PageSize - 1) / p.PageSize;
            if (pages > p.PagesPerSeq)
                throw new ValidationException("kv_lens", s, kv.ToString(), $"Require page_cnt <= pages_per_seq: {pages} pages of {p.PageSize} needed, {p.PagesPerSeq} per sequence");
            for (int i = 0; i < pages; i++)
            {
                int idx = s * p.PagesPerSeq + i;
                int page = p.PageIndices[idx];
                if (page < 0 || page >= p.NumPages)
                    throw new ValidationException("page_indices", idx, page.ToString(), $"Require 0 <= page_idx < total_num_pages = {p.NumPages} (sequence {s}, page {i})");
            }
        }
        if (o.UpdateKvCache) CheckCacheHazards(p, n);
    }

    [ThreadStatic] private static Dictionary<long, int>? t_writers;
    [ThreadStatic] private static bool[]? t_writtenPages;

    /// <summary>
    /// The fused cache write must not race with any access on hardware: no slot written by two sequences, and no
    /// slot written as a new token and read as a cached one (by another sequence, or by the same one through a
    /// repeated page) — the kernel's prefetch may read it before or after the write lands. Pages shared only for
    /// reading (prefix sharing) are fine.
    /// </summary>
    private static void CheckCacheHazards(RpaProblem p, int n)
    {
        var writers = t_writers ??= new Dictionary<long, int>();
        writers.Clear();
        if (t_writtenPages is null || t_writtenPages.Length < p.NumPages) t_writtenPages = new bool[p.NumPages];
        var written = t_writtenPages;
        int P = p.PageSize;
        for (int s = 0; s < n; s++)
        {
            int kv = p.KvLens[s], q = p.CuQLens[s + 1] - p.CuQLens[s];
            for (int pos = kv - q; pos < kv; pos++)
            {
                int idx = s * p.PagesPerSeq + pos / P;
                long slot = (long)p.PageIndices[idx] * P + pos % P;
                if (writers.TryGetValue(slot, out int other) && other != s)
                    throw new ValidationException("page_indices", idx, p.PageIndices[idx].ToString(), $"sequences {other} and {s} both write cache slot {slot} (page {p.PageIndices[idx]}, offset {pos % P})");
                writers[slot] = s;
                written[p.PageIndices[idx]] = true;
            }
        }
        try
        {
            for (int s = 0; s < n; s++)
            {
                int cached = p.KvLens[s] - (p.CuQLens[s + 1] - p.CuQLens[s]);
                for (int i = 0; i * P < cached; i++)
                {
                    int idx = s * p.PagesPerSeq + i;
                    int page = p.PageIndices[idx];
                    if (!written[page]) continue;
                    for (int pos = i * P; pos < Math.Min(cached, (i + 1) * P); pos++)
                        if (writers.TryGetValue((long)page * P + pos % P, out int writer))
                            throw new ValidationException("page_indices", idx, page.ToString(),
                                $"sequence {s} reads cache slot {(long)page * P + pos % P} (page {page}, offset {pos % P}) as cached token {pos}, and sequence {writer} writes a new token there: the read would race with the write");
                }
            }
        }
        finally
        {
            foreach (var slot in writers.Keys) written[slot / P] = false;
        }
    }

    private static void Positive(string f, int v)
    {
        if (v <= 0) throw new ValidationException(f, null, v.ToString(), "must be positive");
    }

    private static void Length(string f, long actual, long expected, string what = "entries")
    {
        if (actual != expected) throw new ValidationException(f, null, $"length {actual}", $"must have {expected} {what}");
    }

    private static string Str(double v) => v.ToString("R", CultureInfo.InvariantCulture);
}
