using HpcRpa.Dispatch;
using HpcRpa.Kernels.RaggedPagedAttention;
using HpcRpa.Numerics;
using HpcRpa.TorchSharp.Reference;
using HpcRpa.TorchSharp.Runtime;
using HpcRpa.TorchSharp.Tensors;
using static TorchSharp.torch;

namespace HpcRpa.TorchSharp.Compare;

/// <summary>One (sequence, query head) of the comparison.</summary>
public sealed record ComparisonRow(int Seq, int Head, double MaxAbsErr, double MaxRelErr, bool Pass, TorchAttentionPath Path);

/// <summary>The comparison of an HpcRpa run with the torch reference on the same data.</summary>
public sealed record ComparisonReport(string Variant, double Tolerance, IReadOnlyList<ComparisonRow> Rows)
{
    public bool Pass => Rows.All(r => r.Pass);
    public double MaxAbsErr => Rows.Count == 0 ? 0 : Rows.Max(r => r.MaxAbsErr);
}

/// <summary>Runs the torch reference on an RPA problem and compares per sequence and head.</summary>
public static class TorchComparison
{
    /// <summary>The cache decoded to float K and V pages [num_pages, P, Hkv, D].</summary>
    public static (Tensor K, Tensor V) DecodePages(RpaProblem p, byte[] cache)
    {
        TorchRuntime.EnsureLoaded();
        var L = p.Layout;
        int P = p.PageSize, hkv = p.NumKvHeads, d = p.HeadDim, eb = p.KvDType.Bytes();
        var k = new float[(long)p.NumPages * P * hkv * d];
        var v = new float[k.Length];
        for (int page = 0; page < p.NumPages; page++)
            for (int slot = 0; slot < P; slot++)
                for (int h = 0; h < hkv; h++)
                {
                    long o = (((long)page * P + slot) * hkv + h) * d;
                    for (int x = 0; x < d; x++)
                    {
                        k[o + x] = ElementCodec.Load(p.KvDType, cache.AsSpan((int)L.CacheByteOffset(page, slot, P, 2 * h, x), eb), 0);
                        v[o + x] = ElementCodec.Load(p.KvDType, cache.AsSpan((int)L.CacheByteOffset(page, slot, P, 2 * h + 1, x), eb), 0);
                    }
                }
        return (from_array(k).reshape(p.NumPages, P, hkv, d), from_array(v).reshape(p.NumPages, P, hkv, d));
    }

    /// <summary>The torch reference's output [T_total, Hq, D] on the cache after the update.</summary>
    public static (float[] Output, TorchAttentionPath[] Paths) Reference(RpaProblem p, RpaOptions o, byte[] updatedCache)
    {
        TorchRuntime.EnsureLoaded();
        using var scope = NewDisposeScope();
        var (k, v) = DecodePages(p, updatedCache);
        var q = TensorBridge.FromBytes(p.Queries, p.QDType, p.MaxNumTokens, p.NumQHeads, p.HeadDim);
        var opts = new TorchRpaOptions(o.SmScale, o.SlidingWindow, o.SoftCap, o.KScale, o.VScale, o.Causal, o.QScale, Format(p.KvDType));
        var (output, paths) = TorchPagedAttention.Run(q, k, v, p.KvLens, p.PageIndices, p.PagesPerSeq, p.CuQLens, p.NumSeqs, opts);
        return (output.contiguous().data<float>().ToArray(), paths);
    }

    /// <summary>The KV dtype as the torch reference's rounding format (q_scale rounds q to it).</summary>
    public static TorchFloatFormat Format(DType kv) => kv switch
    {
        DType.F32 => TorchFloatFormat.F32,
        DType.BF16 => TorchFloatFormat.BF16,
        DType.F16 => TorchFloatFormat.F16,
        DType.Fp8E4M3 => TorchFloatFormat.Fp8E4M3,
        DType.Fp8E5M2 => TorchFloatFormat.Fp8E5M2,
        _ => throw new Errors.ValidationException("kv_cache.dtype", null, kv.Name(), "the torch reference takes f32, bf16, f16 and fp8 caches"),
    };

    public static ComparisonReport Compare(RpaProblem p, RpaOptions o, byte[] kernelOutput, byte[] updatedCache, string variant)
    {
        TorchRuntime.EnsureLoaded();
        var (want, paths) = Reference(p, o, updatedCache);
        double tol = ReferenceCheck.Tolerance(p.QDType);
        int hq = p.NumQHeads, d = p.HeadDim;
        var rows = new List<ComparisonRow>();
        for (int s = 0; s < p.NumSeqs; s++)
            for (int n = 0; n < hq; n++)
            {
                double maxAbs = 0, maxRel = 0;
                bool pass = true;
                for (int t = p.CuQLens[s]; t < p.CuQLens[s + 1]; t++)
                    for (int x = 0; x < d; x++)
                    {
                        int i = (t * hq + n) * d + x;
                        double got = ElementCodec.Load(p.QDType, kernelOutput, i), w = want[i];
                        double e = Math.Abs(got - w);
                        if (!(e <= tol * (1 + Math.Abs(w)))) pass = false;
                        maxAbs = Math.Max(maxAbs, double.IsNaN(e) ? double.PositiveInfinity : e);
                        maxRel = Math.Max(maxRel, e / Math.Max(Math.Abs(w), 1e-6));
                    }
                rows.Add(new ComparisonRow(s, n, maxAbs, maxRel, pass, paths[s]));
            }
        return new ComparisonReport(variant, tol, rows);
    }
}
