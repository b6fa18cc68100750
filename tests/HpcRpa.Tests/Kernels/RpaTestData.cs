using System.Runtime.InteropServices;
using HpcRpa.Kernels.RaggedPagedAttention;
using HpcRpa.Memory;
using HpcRpa.Numerics;

namespace HpcRpa.Tests.Kernels;

/// <summary>
/// Builds RPA inputs the way tpu-inference's v3 test harness does (rpa.md 5.1): q, k, v ~ U[0, 1); each
/// sequence's pages filled with fresh random KV (padding heads and lanes too); the tail of each last page and
/// every unused page NaN; pages assigned in order; padding page-table entries and padding q rows garbage;
/// T = max(align(total_q, 128), 512) (the floor can be lowered for many small cases), S = max(align(n, 8), 8), PPS = cdiv(max kv_len, P), 1000 pages.
/// </summary>
public static class RpaTestData
{
    public static readonly (int Q, int Kv)[] Basic = [(192, 328), (128, 180), (64, 255)];
    public static readonly (int Q, int Kv)[] Decode16 = [(1, 18), (1, 129), (1, 597), (1, 122), (1, 64), (1, 322), (1, 463), (1, 181), (1, 1107), (1, 123), (1, 31), (1, 18), (1, 1229), (1, 229), (1, 87), (1, 1328)];
    public static readonly (int Q, int Kv)[] Prefill16 = [(5, 18), (15, 129), (120, 597), (100, 122), (21, 64), (32, 322), (251, 463), (40, 181), (64, 1107), (99, 123), (10, 31), (5, 18), (3, 1229), (120, 229), (9, 87), (2, 1328)];
    public static readonly (int Q, int Kv)[] Mixed16 = [(5, 18), (1, 129), (120, 597), (1, 122), (1, 64), (32, 322), (251, 463), (1, 181), (1, 1107), (99, 123), (1, 31), (5, 18), (3, 1229), (117, 229), (1, 87), (1, 1328)];
    public static readonly (int Q, int Kv)[] Rng1 = [(97, 145)];
    public static readonly (int Q, int Kv)[] Rng2 = [(97, 146), (97, 116)];
    public static readonly (int Q, int Kv)[] Rng5 = [(97, 143), (97, 102), (98, 111), (38, 44), (17, 32)];
    public static readonly (int Q, int Kv)[] Rng17 = [(97, 145), (97, 144), (98, 111), (38, 65), (17, 39), (92, 104), (11, 41), (26, 70), (14, 57), (32, 64), (54, 97), (12, 37), (79, 112), (24, 71), (78, 110), (32, 34), (79, 115)];

    public static RpaProblem Build((int Q, int Kv)[] seqs, int hq, int hkv, int d, DType q, DType kv, int pageSize = 16, int seed = 1234,
        int[]? distribution = null, int numPages = 1000, int minTokens = 512)
    {
        int n = seqs.Length;
        int totalQ = seqs.Sum(s => s.Q);
        int T = Math.Max(Align(Math.Max(totalQ, 1), 128), minTokens);
        int S = Math.Max(Align(n, 8), 8);
        int pps = Math.Max(1, seqs.Max(s => Cdiv(s.Kv, pageSize)));
        var layout = new RpaLayout(hq, hkv, d, q, kv);
        var rng = new SplitMix64((ulong)seed);
        byte[] Uniform(DType t, long count)
        {
            var bytes = new byte[count * t.Bytes()];
            var f = new float[count];
            for (long i = 0; i < count; i++) f[i] = rng.NextFloat();
            ElementCodec.Encode(t, f, bytes);
            return bytes;
        }
        var cache = Uniform(kv, layout.CacheBytes(numPages, pageSize) / kv.Bytes());
        var kvLens = new int[S];
        var cu = new int[S + 1];
        var pages = new int[S * pps];
        for (int i = 0; i < pages.Length; i++) pages[i] = 100_000 + rng.NextInt(1_000_000); // garbage unless used
        int next = 0;
        var used = new bool[numPages];
        for (int s = 0; s < n; s++)
        {
            kvLens[s] = seqs[s].Kv;
            cu[s + 1] = cu[s] + seqs[s].Q;
            for (int i = 0; i < Cdiv(seqs[s].Kv, pageSize); i++) { pages[s * pps + i] = next; used[next++] = true; }
        }
        for (int s = n; s < S; s++) cu[s + 1] = cu[s];
        // NaN in every unused page and in the tail of each sequence's last page.
        var nan = new byte[kv.Bytes()];
        ElementCodec.Store(kv, nan, 0, float.NaN);
        long tokenBytes = layout.TokenBytes;
        void Poison(int page, int fromSlot)
        {
            long start = ((long)page * pageSize + fromSlot) * tokenBytes, end = (long)(page + 1) * pageSize * tokenBytes;
            var span = cache.AsSpan((int)start, (int)(end - start));
            // One element-sized fill, not a copy per element: the property test builds 10,000 of these.
            switch (kv.Bytes())
            {
                case 1: span.Fill(nan[0]); break;
                case 2: MemoryMarshal.Cast<byte, ushort>(span).Fill(BitConverter.ToUInt16(nan)); break;
                default: MemoryMarshal.Cast<byte, uint>(span).Fill(BitConverter.ToUInt32(nan)); break;
            }
        }
        for (int pg = 0; pg < numPages; pg++) if (!used[pg]) Poison(pg, 0);
        for (int s = 0; s < n; s++)
            if (seqs[s].Kv % pageSize != 0) Poison(pages[s * pps + (seqs[s].Kv - 1) / pageSize], seqs[s].Kv % pageSize);
        return new RpaProblem
        {
            MaxNumTokens = T, NumQHeads = hq, NumKvHeads = hkv, HeadDim = d, PageSize = pageSize, NumPages = numPages,
            MaxNumSeqs = S, PagesPerSeq = pps, QDType = q, KvDType = kv,
            Queries = Uniform(q, (long)T * hq * d), Keys = Uniform(kv, (long)T * hkv * d), Values = Uniform(kv, (long)T * hkv * d),
            KvCache = cache, KvLens = kvLens, PageIndices = pages, CuQLens = cu, Distribution = distribution ?? [0, 0, n],
        };
    }

    private static int Align(int x, int a) => (x + a - 1) / a * a;
    private static int Cdiv(int a, int b) => (a + b - 1) / b;
}
