using HpcRpa.Reference;

namespace HpcRpa.Reference.Tests;

/// <summary>The oracle checked against expectations a person can derive by hand.</summary>
public class ReferenceTests
{
    /// <summary>A one-sequence problem with f32 q/K/V, 1 KV head, D = 2, P = 4, given K and V rows per position.</summary>
    private static RpaRefProblem One(double[][] q, double[][] k, double[][] v, int hq = 1, int hkv = 1, int newTokens = -1)
    {
        int qLen = q.Length / hq, kvLen = k.Length / hkv, d = q[0].Length, P = 4;
        if (newTokens < 0) newTokens = qLen;
        int pages = (kvLen + P - 1) / P;
        var cache = new byte[RefLayout.KvCacheBytes(pages, P, hkv, d, RefDType.F32)];
        var keys = new byte[qLen * hkv * d * 4];
        var values = new byte[qLen * hkv * d * 4];
        int gap = kvLen - qLen;
        for (int pos = 0; pos < kvLen; pos++)
            for (int h = 0; h < hkv; h++)
                for (int x = 0; x < d; x++)
                {
                    if (pos >= gap)
                    {
                        RefCodec.Encode(RefDType.F32, keys, ((pos - gap) * hkv + h) * d + x, k[pos * hkv + h][x]);
                        RefCodec.Encode(RefDType.F32, values, ((pos - gap) * hkv + h) * d + x, v[pos * hkv + h][x]);
                    }
                    else
                    {
                        RefCodec.Encode(RefDType.F32, cache.AsSpan((int)RefLayout.KvByteOffset(pos / P, pos % P, 2 * h, x, P, hkv, d, RefDType.F32)), 0, k[pos * hkv + h][x]);
                        RefCodec.Encode(RefDType.F32, cache.AsSpan((int)RefLayout.KvByteOffset(pos / P, pos % P, 2 * h + 1, x, P, hkv, d, RefDType.F32)), 0, v[pos * hkv + h][x]);
                    }
                }
        var queries = new byte[qLen * hq * d * 4];
        for (int i = 0; i < q.Length; i++)
            for (int x = 0; x < d; x++) RefCodec.Encode(RefDType.F32, queries, i * d + x, q[i][x]);
        return new RpaRefProblem
        {
            MaxNumTokens = qLen, NumQHeads = hq, NumKvHeads = hkv, HeadDim = d, PageSize = P, NumPages = pages,
            MaxNumSeqs = 1, PagesPerSeq = pages, QDType = RefDType.F32, KvDType = RefDType.F32,
            Queries = queries, Keys = keys, Values = values, KvCache = cache,
            KvLens = [kvLen], PageIndices = Enumerable.Range(0, pages).ToArray(), CuQLens = [0, qLen], Distribution = [0, 0, 1],
        };
    }

    [Fact]
    public void OneQueryOneKeyGivesTheValueRow()
    {
        var o = RpaReference.Run(One([[0.3, -1]], [[2, 5]], [[7, -3]]), new RpaRefOptions());
        Assert.Equal(7, o[0], 12);
        Assert.Equal(-3, o[1], 12);
    }

    [Fact]
    public void EqualKeysAverageTheVisibleValues()
    {
        // q_len 3 on kv_len 5: query i sees keys 0..2+i; equal keys give the mean of those V rows.
        double[][] k = [[1, 0], [1, 0], [1, 0], [1, 0], [1, 0]];
        double[][] v = [[1, 0], [2, 0], [3, 0], [4, 0], [5, 0]];
        var o = RpaReference.Run(One([[1, 1], [1, 1], [1, 1]], k, v), new RpaRefOptions());
        Assert.Equal((1 + 2 + 3) / 3.0, o[0], 12);
        Assert.Equal((1 + 2 + 3 + 4) / 4.0, o[2], 12);
        Assert.Equal((1 + 2 + 3 + 4 + 5) / 5.0, o[4], 12);
    }

    [Fact]
    public void SlidingWindowOfTwoSeesItselfAndThePreviousKey()
    {
        // Worked example (rpa.md 2.4): W = 2: query 0 sees {1,2}, query 1 {2,3}, query 2 {3,4}.
        double[][] k = [[1, 0], [1, 0], [1, 0], [1, 0], [1, 0]];
        double[][] v = [[1, 0], [10, 0], [100, 0], [1000, 0], [10000, 0]];
        var o = RpaReference.Run(One([[1, 1], [1, 1], [1, 1]], k, v), new RpaRefOptions { SlidingWindow = 2 });
        Assert.Equal(55, o[0], 9);
        Assert.Equal(550, o[2], 9);
        Assert.Equal(5500, o[4], 9);
        Assert.False(RpaReference.Visible(2, 0, new RpaRefOptions { SlidingWindow = 2 }));
    }

    [Fact]
    public void ScalesAndSoftCapFollowTheFormula()
    {
        // Two keys with logits q·k = 2 and 0; scaled s = 2 * sm * k_scale; capped c·tanh(s/c); softmax; · v_scale.
        double sm = 0.5, ks = 3, vs = 2, cap = 1.5;
        double s0 = cap * Math.Tanh(2 * sm * ks / cap), s1 = 0;
        double w0 = Math.Exp(s0) / (Math.Exp(s0) + Math.Exp(s1));
        var o = RpaReference.Run(One([[1, 1]], [[1, 1], [0, 0]], [[1, 0], [0, 1]]), new RpaRefOptions { SmScale = sm, KScale = ks, VScale = vs, SoftCap = cap, Causal = false });
        Assert.Equal(w0 * vs, o[0], 12);
        Assert.Equal((1 - w0) * vs, o[1], 12);
    }

    [Fact]
    public void GqaMapsQueryHeadsToTheirKvHead()
    {
        // Hq 4, Hkv 2: heads 0,1 use KV head 0 (value 10), heads 2,3 use KV head 1 (value 20).
        var o = RpaReference.Run(One([[1, 0], [1, 0], [1, 0], [1, 0]], [[1, 0], [1, 0]], [[10, 0], [20, 0]], hq: 4, hkv: 2), new RpaRefOptions());
        Assert.Equal(new[] { 10.0, 10, 20, 20 }, new[] { o[0], o[2], o[4], o[6] });
    }

    [Fact]
    public void CacheWriteTouchesOnlyTheNewPositionsAndPadsWithZeros()
    {
        var p = One([[1, 0], [1, 0]], [[1, 0], [2, 0], [3, 0], [4, 0], [5, 0]], [[1, 0], [1, 0], [1, 0], [1, 0], [1, 0]]);
        var canary = (byte[])p.KvCache.Clone();
        for (int i = 0; i < canary.Length; i++) if (p.KvCache[i] == 0) p.KvCache[i] = canary[i] = 0xEE; // padding lanes/heads
        RpaReference.Run(p, new RpaRefOptions());
        long token = RefLayout.KvByteOffset(0, 1, 0, 0, 4, 1, 2, RefDType.F32);
        for (int i = 0; i < canary.Length; i++)
        {
            long pos = i / token; // token bytes: [page, slot] → position pos
            bool isNew = pos == 3 || pos == 4;
            if (!isNew) Assert.Equal(canary[i], p.KvCache[i]);
        }
        Assert.Equal(4.0, RefCodec.Decode(RefDType.F32, p.KvCache.AsSpan((int)RefLayout.KvByteOffset(0, 3, 0, 0, 4, 1, 2, RefDType.F32)), 0));
        Assert.Equal(0.0, RefCodec.Decode(RefDType.F32, p.KvCache.AsSpan((int)RefLayout.KvByteOffset(0, 3, 0, 5, 4, 1, 2, RefDType.F32)), 0)); // padded lane
        var q = One([[1, 0]], [[1, 0], [2, 0]], [[1, 0], [1, 0]]);
        var before = (byte[])q.KvCache.Clone();
        RpaReference.Run(q, new RpaRefOptions { UpdateKvCache = false });
        Assert.Equal(before, q.KvCache);
    }

    [Fact]
    public void LayoutOffsetsOfTheSpecExamples()
    {
        // Llama-3-8B bf16, P 16: [pages, 16, 8, 2, 128] -> token = 8 words rows x 128 lanes x 4 B.
        Assert.Equal(8 * 128 * 4, RefLayout.KvByteOffset(0, 1, 0, 0, 16, 8, 128, RefDType.BF16));
        Assert.Equal(2, RefLayout.KvByteOffset(0, 0, 1, 0, 16, 8, 128, RefDType.BF16));       // V_0 shares K_0's word
        Assert.Equal(128 * 4, RefLayout.KvByteOffset(0, 0, 2, 0, 16, 8, 128, RefDType.BF16));  // K_1 is the next row
        // fp8: [pages, 16, 4, 4, 128]; one KV head fp8 pads to NKX2 = 4: one word row per token.
        Assert.Equal(4 * 128 * 4, RefLayout.KvByteOffset(0, 1, 0, 0, 16, 8, 128, RefDType.Fp8E4M3));
        Assert.Equal(3, RefLayout.KvByteOffset(0, 0, 3, 0, 16, 8, 128, RefDType.Fp8E4M3));
        Assert.Equal(128 * 4, RefLayout.KvByteOffset(0, 1, 0, 0, 16, 1, 128, RefDType.Fp8E4M3));
    }

    [Fact]
    public void CodecKnownBitsAndRoundTrips()
    {
        var b = new byte[2];
        RefCodec.Encode(RefDType.BF16, b, 0, 1.0);
        Assert.Equal(new byte[] { 0x80, 0x3F }, b);
        RefCodec.Encode(RefDType.BF16, b, 0, BitConverter.UInt32BitsToSingle(0x3F818000));
        Assert.Equal(new byte[] { 0x82, 0x3F }, b);
        var one = new byte[1];
        for (int c = 0; c < 256; c++)
            foreach (var t in new[] { RefDType.Fp8E4M3, RefDType.Fp8E5M2 })
            {
                double v = RefCodec.Decode(t, [(byte)c], 0);
                if (double.IsNaN(v)) continue;
                RefCodec.Encode(t, one, 0, v);
                Assert.Equal((byte)c, one[0]);
            }
        RefCodec.Encode(RefDType.Fp8E4M3, one, 0, 448);
        Assert.Equal(0x7E, one[0]);
        RefCodec.Encode(RefDType.Fp8E5M2, one, 0, 1e6);
        Assert.Equal(0x7C, one[0]);
        Assert.Equal(0.5, RefCodec.Round(RefDType.Fp8E4M3, 0.5), 12);
    }

    [Fact]
    public void KvUpdateWorkedExamplesOfTheSpec()
    {
        // rpa.md 4.3: P 16; request 0 has c 5, n 30, blocks [10, 11, 12]; request 1 has c 40, n 1, blocks [20, 21, 22].
        var s = KvUpdateReference.SlotMapping([5, 40], [30, 1], [[10, 11, 12], [20, 21, 22]], 16, out int n);
        Assert.Equal(4, n);
        Assert.Equal(new[] { 165, 176, 192, 360, 0, 11, 27, 30, 11, 16, 3, 1 }, s);
        // 5.3 data at P 32: rows land exactly at the starts.
        int[] lens = [7, 32, 32, 1, 1, 1, 9], starts = [57, 64, 96, 134, 167, 200, 483];
        var slices = new int[21];
        int acc = 0;
        for (int i = 0; i < 7; i++) { slices[i] = starts[i]; slices[7 + i] = acc; slices[14 + i] = lens[i]; acc += lens[i]; }
        Assert.Equal(new[] { 0, 7, 39, 71, 72, 73, 74 }, slices[7..14]);
        var newKv = Enumerable.Range(0, 128).Select(i => (byte)(i + 1)).ToArray();
        var cache = new byte[640];
        KvUpdateReference.Run(newKv, cache, 1, slices, 7);
        Assert.Equal(newKv[0..7], cache[57..64]);
        Assert.Equal(newKv[74..83], cache[483..492]);
        Assert.Equal(83, cache.Count(x => x != 0));
    }
}
