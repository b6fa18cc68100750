using HpcRpa.Hardware;
using HpcRpa.Numerics;

namespace HpcRpa.Kernels.RaggedPagedAttention;

/// <summary>The three RPA v3 calls (rpa.md 2.6): decode, chunked prefill, mixed.</summary>
public enum RpaCase : byte
{
    Decode,
    Prefill,
    Mixed,
}

/// <summary>(bq_sz, bkv_sz, bq_csz, bkv_csz): q fetch block, KV fetch block (tokens), q compute chunk, KV compute chunk.</summary>
public sealed record RpaBlockSizes(int Bq, int Bkv, int BqCompute, int BkvCompute)
{
    public override string ToString() => $"({Bq},{Bkv},{BqCompute},{BkvCompute})";

    public static RpaBlockSizes Parse(string s)
    {
        var parts = s.Trim('(', ')', ' ').Split(',', StringSplitOptions.TrimEntries);
        if (parts.Length != 4 || !parts.All(p => int.TryParse(p, out _)))
            throw new FormatException($"block sizes '{s}': expected bq,bkv,bq_c,bkv_c (four integers)");
        var v = parts.Select(int.Parse).ToArray();
        return new RpaBlockSizes(v[0], v[1], v[2], v[3]);
    }

    /// <summary>
    /// get_default_block_sizes at tpu-inference HEAD (rpa.md 2.8): decode (1, min(peak, max_kv), 1, same);
    /// prefill/mixed by generation (v5/v6 row, v7 row), then bq = max(1, bq), bkv aligned to P, etc.
    /// </summary>
    public static RpaBlockSizes Default(RpaCase kase, ChipSpec chip, DType q, DType kv, int hq, int hkv, int d, int pageSize, int maxTokens, int pagesPerSeq)
    {
        int pk = kv.Packing();
        int d128 = RpaLayout.Align(d, 128);
        int nkx2p = NextPow2(RpaLayout.Align(2 * hkv, pk));
        int gp = NextPow2(hq / hkv);
        int maxQ = NextPow2(maxTokens);
        int maxKv = pagesPerSeq * pageSize;
        long peak = 16L * 1024 * 1024 * pk / 4 / d128 / nkx2p;
        int bq, bkv, bqc, bkvc;
        if (kase == RpaCase.Decode)
        {
            int b = (int)Math.Min(peak, maxKv);
            (bq, bkv, bqc, bkvc) = (1, b, 1, b);
        }
        else if (IsV7OrLater(chip))
        {
            bq = Math.Min(2048 / gp, maxQ / 2);
            bkv = Math.Min(2048, maxKv / 2);
            bqc = Math.Min(1024 / gp, maxQ / 2);
            bkvc = Math.Min(512, RpaLayout.Align(maxKv / 2, pageSize));
        }
        else
        {
            bq = Math.Min(1024 / gp, maxQ / 2);
            bkv = Math.Min(1024, maxKv);
            bqc = Math.Min(512 / gp, maxQ);
            bkvc = Math.Min(512, RpaLayout.Align(maxKv / 2, pageSize));
        }
        return new RpaBlockSizes(Math.Max(1, bq), RpaLayout.Align(Math.Max(bkv, 1), pageSize), Math.Max(1, bqc), RpaLayout.Align(Math.Max(bkvc, 1), pageSize));
    }

    /// <summary>The heuristic's generation split: TPU v7 and later use the larger prefill blocks.</summary>
    public static bool IsV7OrLater(ChipSpec chip)
    {
        var n = chip.Name.ToLowerInvariant();
        return n.StartsWith("tpu7") || n.StartsWith("v7") || n.StartsWith("tpu8") || n.StartsWith("v8");
    }

    /// <summary>The kernel's named scope: RPA{d|p|m}-p_{P}-bq_{bq}_{bq_c}-bkv_{bkv}_{bkv_c}[-sw_{W}] (rpa.md 2.6).</summary>
    public static string ScopeName(RpaCase c, int pageSize, RpaBlockSizes b, int? slidingWindow)
    {
        char sym = c switch { RpaCase.Decode => 'd', RpaCase.Prefill => 'p', _ => 'm' };
        return $"RPA{sym}-p_{pageSize}-bq_{b.Bq}_{b.BqCompute}-bkv_{b.Bkv}_{b.BkvCompute}" + (slidingWindow is int w ? $"-sw_{w}" : "");
    }

    public static int NextPow2(int x)
    {
        int p = 1;
        while (p < x) p <<= 1;
        return p;
    }
}
