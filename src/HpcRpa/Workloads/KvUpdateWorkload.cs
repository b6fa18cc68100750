using HpcRpa.Kernels.KvCacheUpdate;
using HpcRpa.Memory;
using HpcRpa.Numerics;

namespace HpcRpa.Workloads;

/// <summary>
/// A KV-update step as a serving engine makes it: the batch's new tokens bucketed to T_pad (next power of two,
/// at least 16), slices from the slot mapping, the slot mapping padded to N_pad = min(2·max_num_reqs + T_pad/P, T_pad)
/// rounded up to a multiple of N_b, and random block tables.
/// </summary>
public static class KvUpdateWorkload
{
    /// <summary>The default ragged step of `hpcrpa kv-update`: 24 decodes on 1000 tokens and 2 chunked prefills of 100 on 300; padding exists.</summary>
    public static IReadOnlyList<BatchSegment> DefaultSegments { get; } =
        [new(SegmentKind.Decode, 24, 1, 1000), new(SegmentKind.Mixed, 2, 100, 300)];

    public static KvUpdateProblem Build(ModelPreset model, IReadOnlyList<BatchSegment> segments, int pageSize, DType dtype,
        int maxNumReqs = 256, int? slicesPerBlock = null, int seed = 0, bool values = true, int extraPages = 8)
    {
        var seqs = segments.SelectMany(s => Enumerable.Repeat((New: s.NewTokens, Cached: s.Cached), s.Count)).ToList();
        int combined = 2 * model.NumKvHeads;
        int d128 = (model.HeadDim + 127) / 128 * 128;
        int nb = slicesPerBlock ?? KvUpdateProblem.AutoSlicesPerBlock(pageSize, combined, d128, dtype);
        int tokens = seqs.Sum(s => s.New);
        int tPad = 16;
        while (tPad < tokens) tPad *= 2;
        int nPad = SlotMapping.PaddedCount(Math.Max(maxNumReqs, seqs.Count), tPad, pageSize, nb);

        var rng = new SplitMix64((ulong)seed * 7919 + 3);
        int used = seqs.Sum(s => (s.New + s.Cached + pageSize - 1) / pageSize);
        int numPages = used + extraPages;
        var perm = Enumerable.Range(0, numPages).ToArray();
        for (int i = numPages - 1; i > 0; i--)
        {
            int j = rng.NextInt(i + 1);
            (perm[i], perm[j]) = (perm[j], perm[i]);
        }
        var tables = new List<int[]>();
        int next = 0;
        foreach (var s in seqs)
        {
            int np = (s.New + s.Cached + pageSize - 1) / pageSize;
            tables.Add(perm.AsSpan(next, np).ToArray());
            next += np;
        }
        var (slices, n) = SlotMapping.Build(seqs.Select(s => s.Cached).ToList(), seqs.Select(s => s.New).ToList(), tables, pageSize, Math.Max(nPad, 1));
        long rowElems = (long)combined * d128;
        return new KvUpdateProblem
        {
            NumTokens = tPad, Combined = combined, HeadDim = d128, PageSize = pageSize, NumPages = numPages, DType = dtype,
            NewKv = values ? BatchBuilder.RandomBytes(dtype, tPad * rowElems, ref rng) : [],
            KvCache = values ? BatchBuilder.RandomBytes(dtype, numPages * (long)pageSize * rowElems, ref rng) : [],
            Slices = slices, NumSlices = n,
        };
    }
}
