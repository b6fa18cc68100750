using HpcRpa.Kernels.RaggedPagedAttention;
using HpcRpa.Memory;
using HpcRpa.Numerics;

namespace HpcRpa.Workloads;

/// <summary>A ragged batch ready for RPA, with the options the model implies.</summary>
public sealed record BuiltBatch(RpaProblem Problem, RpaOptions Options, IReadOnlyList<BatchSegment> Segments);

/// <summary>
/// Builds a ragged batch from segments: decode first, then prefill, then mixed (the production order,
/// rpa.md 2.2). Prefill segments that all share one Q form the prefill range with chunk_prefill_size = Q;
/// otherwise they join the mixed range. Pages are dealt from a seeded random permutation, so page tables
/// are scattered like a real allocator's; values are seeded uniform [-1, 1).
/// </summary>
public static class BatchBuilder
{
    public static BuiltBatch Build(ModelPreset model, IReadOnlyList<BatchSegment> segments, int pageSize, DType kvDType,
        DType qDType = DType.BF16, int seed = 0, bool values = true, int extraPages = 8)
    {
        if (segments.Count == 0) throw new ArgumentException("a batch needs at least one segment (--decode, --prefill or --mixed)");
        var decode = segments.Where(s => s.Kind == SegmentKind.Decode).ToList();
        var prefill = segments.Where(s => s.Kind == SegmentKind.Prefill).ToList();
        var mixed = segments.Where(s => s.Kind == SegmentKind.Mixed).ToList();
        bool prefillRange = prefill.Count > 0 && prefill.Select(s => s.NewTokens).Distinct().Count() == 1;
        var order = new List<BatchSegment>(decode);
        if (prefillRange) order.AddRange(prefill);
        order.AddRange(mixed);
        if (!prefillRange) order.InsertRange(decode.Count, prefill);

        var seqs = order.SelectMany(s => Enumerable.Repeat((Q: s.NewTokens, Kv: s.KvLen), s.Count)).ToList();
        int n = seqs.Count;
        int nDecode = decode.Sum(s => s.Count);
        int nPrefill = prefillRange ? prefill.Sum(s => s.Count) : 0;
        int totalQ = seqs.Sum(s => s.Q);
        int T = Align(Math.Max(totalQ, 1), 8);
        int S = Align(n, 8);
        int pps = Math.Max(1, seqs.Max(s => Cdiv(s.Kv, pageSize)));
        int used = seqs.Sum(s => Cdiv(s.Kv, pageSize));
        int numPages = used + extraPages;

        var rng = new SplitMix64((ulong)seed * 0x9E37 + 11);
        var perm = Enumerable.Range(0, numPages).ToArray();
        for (int i = numPages - 1; i > 0; i--)
        {
            int j = rng.NextInt(i + 1);
            (perm[i], perm[j]) = (perm[j], perm[i]);
        }
        var kvLens = new int[S];
        var cu = new int[S + 1];
        var pages = new int[S * pps];
        int next = 0;
        for (int s = 0; s < n; s++)
        {
            kvLens[s] = seqs[s].Kv;
            cu[s + 1] = cu[s] + seqs[s].Q;
            int np = Cdiv(seqs[s].Kv, pageSize);
            for (int i = 0; i < np; i++) pages[s * pps + i] = perm[next++];
        }
        for (int s = n; s < S; s++) cu[s + 1] = cu[s];

        var layout = new RpaLayout(model.NumQHeads, model.NumKvHeads, model.HeadDim, qDType, kvDType);
        byte[] q = [], k = [], v = [], cache = [];
        if (values)
        {
            q = RandomBytes(qDType, (long)T * model.NumQHeads * model.HeadDim, ref rng);
            k = RandomBytes(kvDType, (long)T * model.NumKvHeads * model.HeadDim, ref rng);
            v = RandomBytes(kvDType, (long)T * model.NumKvHeads * model.HeadDim, ref rng);
            cache = RandomBytes(kvDType, layout.CacheBytes(numPages, pageSize) / kvDType.Bytes(), ref rng);
        }
        var problem = new RpaProblem
        {
            MaxNumTokens = T, NumQHeads = model.NumQHeads, NumKvHeads = model.NumKvHeads, HeadDim = model.HeadDim,
            PageSize = pageSize, NumPages = numPages, MaxNumSeqs = S, PagesPerSeq = pps,
            QDType = qDType, KvDType = kvDType, Queries = q, Keys = k, Values = v, KvCache = cache,
            KvLens = kvLens, PageIndices = pages, CuQLens = cu, Distribution = [nDecode, nDecode + nPrefill, n],
        };
        var options = new RpaOptions
        {
            SmScale = 1.0 / Math.Sqrt(model.HeadDim),
            SoftCap = model.SoftCap,
            SlidingWindow = model.SlidingWindow,
            ChunkPrefillSize = prefillRange ? prefill[0].NewTokens : null,
        };
        return new BuiltBatch(problem, options, order);
    }

    /// <summary>Seeded uniform [-1, 1) values encoded in <paramref name="t"/>.</summary>
    public static byte[] RandomBytes(DType t, long count, ref SplitMix64 rng)
    {
        var bytes = new byte[count * t.Bytes()];
        const int chunk = 4096;
        var f = new float[chunk];
        for (long i = 0; i < count; i += chunk)
        {
            int m = (int)Math.Min(chunk, count - i);
            for (int j = 0; j < m; j++) f[j] = rng.NextFloat() * 2f - 1f;
            ElementCodec.Encode(t, f.AsSpan(0, m), bytes.AsSpan((int)(i * t.Bytes()), m * t.Bytes()));
        }
        return bytes;
    }

    private static int Align(int x, int a) => (x + a - 1) / a * a;
    private static int Cdiv(int a, int b) => (a + b - 1) / b;
}
