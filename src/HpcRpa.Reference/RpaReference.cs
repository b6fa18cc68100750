namespace HpcRpa.Reference;

/// <summary>One ragged batch, as raw bytes in the layouts of rpa.md 2.1 / 2.3.</summary>
public sealed class RpaRefProblem
{
    public required int MaxNumTokens { get; init; }
    public required int NumQHeads { get; init; }
    public required int NumKvHeads { get; init; }
    public required int HeadDim { get; init; }
    public required int PageSize { get; init; }
    public required int NumPages { get; init; }
    public required int MaxNumSeqs { get; init; }
    public required int PagesPerSeq { get; init; }
    public required RefDType QDType { get; init; }
    public required RefDType KvDType { get; init; }
    public required byte[] Queries { get; init; }
    public required byte[] Keys { get; init; }
    public required byte[] Values { get; init; }
    /// <summary>Updated in place (the cache write).</summary>
    public required byte[] KvCache { get; init; }
    public required int[] KvLens { get; init; }
    public required int[] PageIndices { get; init; }
    public required int[] CuQLens { get; init; }
    public required int[] Distribution { get; init; }
}

public sealed record RpaRefOptions
{
    public double SmScale { get; init; } = 1.0;
    public int? SlidingWindow { get; init; }
    public double? SoftCap { get; init; }
    public double? QScale { get; init; }
    public double? KScale { get; init; }
    public double? VScale { get; init; }
    public bool Causal { get; init; } = true;
    public bool UpdateKvCache { get; init; } = true;
}

/// <summary>
/// RPA v3's reference semantics (rpa.md 2.4), written straight from the spec in double precision: for every
/// sequence of every range, write its new K/V (merged, zero-padded heads and lanes) into cache positions
/// [kv_len − q_len, kv_len), then attend: logits · sm_scale · k_scale · q_scale, soft cap, bottom-right causal
/// mask and sliding window (applied whenever given, caveat C3 decided), softmax over the visible keys, · V,
/// · v_scale. Returns [cu_q_lens[num_seqs], Hq, D].
/// </summary>
public static class RpaReference
{
    public static double[] Run(RpaRefProblem p, RpaRefOptions o)
    {
        int n = p.Distribution[2];
        int hq = p.NumQHeads, hkv = p.NumKvHeads, d = p.HeadDim, P = p.PageSize, g = hq / hkv;
        int total = p.CuQLens[n];
        int kvBytes = RefCodec.Bytes(p.KvDType);
        int pk = RefCodec.Packing(p.KvDType);
        int combinedPadded = RefLayout.Align(2 * hkv, pk);
        int d128 = RefLayout.Align(d, 128);

        int Slot(int seq, int pos) => p.PageIndices[seq * p.PagesPerSeq + pos / P] * P + pos % P;
        long Offset(int flatSlot, int c, int lane) => RefLayout.KvByteOffset(flatSlot / P, flatSlot % P, c, lane, P, hkv, d, p.KvDType);

        // 1. Cache write: the merged token (K_h at 2h, V_h at 2h+1, zero padding) replaces the slot's contents.
        if (o.UpdateKvCache)
        {
            for (int s = 0; s < n; s++)
            {
                int qLen = p.CuQLens[s + 1] - p.CuQLens[s], gap = p.KvLens[s] - qLen;
                for (int i = 0; i < qLen; i++)
                {
                    int t = p.CuQLens[s] + i, slot = Slot(s, gap + i);
                    for (int c = 0; c < combinedPadded; c++)
                        for (int lane = 0; lane < d128; lane++)
                        {
                            long off = Offset(slot, c, lane);
                            bool real = c < 2 * hkv && lane < d;
                            for (int b = 0; b < kvBytes; b++)
                            {
                                byte v = 0;
                                if (real)
                                {
                                    var src = c % 2 == 0 ? p.Keys : p.Values;
                                    v = src[((t * hkv + c / 2) * d + lane) * kvBytes + b];
                                }
                                p.KvCache[off + b] = v;
                            }
                        }
                }
            }
        }

        var output = new double[(long)total * hq * d];
        // Sequences are independent once the cache is written: attend to them in parallel (disjoint output rows).
        Parallel.For(0, n, s =>
        {
            var q = new double[d];
            int kvLen = p.KvLens[s];
            int qLen = p.CuQLens[s + 1] - p.CuQLens[s], gap = kvLen - qLen;
            // 2. K and V of the sequence, decoded once: [pos, head, lane].
            var k = new double[kvLen, hkv, d];
            var v = new double[kvLen, hkv, d];
            for (int pos = 0; pos < kvLen; pos++)
            {
                int slot = Slot(s, pos);
                for (int h = 0; h < hkv; h++)
                    for (int lane = 0; lane < d; lane++)
                    {
                        k[pos, h, lane] = RefCodec.Decode(p.KvDType, p.KvCache.AsSpan((int)Offset(slot, 2 * h, lane), kvBytes), 0);
                        v[pos, h, lane] = RefCodec.Decode(p.KvDType, p.KvCache.AsSpan((int)Offset(slot, 2 * h + 1, lane), kvBytes), 0);
                    }
            }
            var logits = new double[kvLen];
            for (int i = 0; i < qLen; i++)
            {
                int t = p.CuQLens[s] + i, qpos = gap + i;
                for (int head = 0; head < hq; head++)
                {
                    int h = head / g;
                    for (int lane = 0; lane < d; lane++)
                    {
                        double x = RefCodec.Decode(p.QDType, p.Queries, (t * hq + head) * d + lane);
                        if (o.QScale is double qs)
                        {
                            // 3. q / q_scale, clipped to the KV format's finite range, rounded to it.
                            double lim = MaxFinite(p.KvDType);
                            x = RefCodec.Round(p.KvDType, Math.Clamp(x / qs, -lim, lim));
                        }
                        q[lane] = x;
                    }
                    double max = double.NegativeInfinity;
                    for (int j = 0; j < kvLen; j++)
                    {
                        bool visible = Visible(qpos, j, o);
                        if (!visible) { logits[j] = double.NaN; continue; }
                        double dot = 0;
                        for (int lane = 0; lane < d; lane++) dot += q[lane] * k[j, h, lane];
                        dot *= o.SmScale;
                        if (o.KScale is double ks) dot *= ks;
                        if (o.QScale is double qsc) dot *= qsc;
                        if (o.SoftCap is double cap) dot = cap * Math.Tanh(dot / cap);
                        logits[j] = dot;
                        max = Math.Max(max, dot);
                    }
                    double sum = 0;
                    for (int j = 0; j < kvLen; j++)
                        if (!double.IsNaN(logits[j])) { logits[j] = Math.Exp(logits[j] - max); sum += logits[j]; }
                    long outBase = ((long)t * hq + head) * d;
                    for (int lane = 0; lane < d; lane++)
                    {
                        double acc = 0;
                        for (int j = 0; j < kvLen; j++)
                            if (!double.IsNaN(logits[j])) acc += logits[j] * v[j, h, lane];
                        double val = acc / sum;
                        if (o.VScale is double vs) val *= vs;
                        output[outBase + lane] = val;
                    }
                }
            }
        });
        return output;
    }

    /// <summary>Key j is visible from query position qpos: causal (j ≤ qpos) and, with a window W, j > qpos − W.</summary>
    public static bool Visible(int qpos, int j, RpaRefOptions o) =>
        (!o.Causal || j <= qpos) && (o.SlidingWindow is not int w || j > qpos - w);

    private static double MaxFinite(RefDType t) => t switch
    {
        RefDType.Fp8E4M3 => 448,
        RefDType.Fp8E5M2 => 57344,
        RefDType.BF16 => 3.3895313892515355e38,
        RefDType.F16 => 65504,
        _ => float.MaxValue,
    };
}
