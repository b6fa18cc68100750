using HpcRpa.Kernels.RaggedPagedAttention;
using HpcRpa.Memory;
using HpcRpa.Numerics;
using HpcRpa.Reference;

namespace HpcRpa.Dispatch;

/// <summary>Hands an RPA problem to the independent reference (its own types; it references nothing of HpcRpa).</summary>
public static class ReferenceBridge
{
    public static RefDType ToRef(DType t) => t switch
    {
        DType.F32 => RefDType.F32,
        DType.BF16 => RefDType.BF16,
        DType.F16 => RefDType.F16,
        DType.Fp8E4M3 => RefDType.Fp8E4M3,
        DType.Fp8E5M2 => RefDType.Fp8E5M2,
        _ => throw new ArgumentException($"the reference has no {t.Name()}", nameof(t)),
    };

    /// <summary>Runs the reference on a copy of the cache; returns its output [T_total, Hq, D] and the cache it wrote.</summary>
    public static (double[] Output, byte[] Cache) Run(RpaProblem p, RpaOptions o, byte[]? cache = null)
    {
        var rp = new RpaRefProblem
        {
            MaxNumTokens = p.MaxNumTokens, NumQHeads = p.NumQHeads, NumKvHeads = p.NumKvHeads, HeadDim = p.HeadDim,
            PageSize = p.PageSize, NumPages = p.NumPages, MaxNumSeqs = p.MaxNumSeqs, PagesPerSeq = p.PagesPerSeq,
            QDType = ToRef(p.QDType), KvDType = ToRef(p.KvDType),
            Queries = p.Queries, Keys = p.Keys, Values = p.Values, KvCache = cache ?? p.CopyKvCache(),
            KvLens = p.KvLens, PageIndices = p.PageIndices, CuQLens = p.CuQLens, Distribution = p.Distribution,
        };
        var ro = new RpaRefOptions
        {
            SmScale = o.SmScale, SlidingWindow = o.SlidingWindow, SoftCap = o.SoftCap,
            QScale = o.QScale, KScale = o.KScale, VScale = o.VScale, Causal = o.Causal, UpdateKvCache = o.UpdateKvCache,
        };
        return (RpaReference.Run(rp, ro), rp.KvCache);
    }
}

/// <summary>The fallback variant: the reference computes, the result is encoded in the q dtype like the kernel's output.</summary>
public static class ReferenceFallback
{
    /// <param name="chip">The chip the caller dispatched on: its VMEM bounds the caller's vmem_limit_bytes.</param>
    public static byte[] Run(RpaProblem p, RpaOptions o, Hardware.ChipSpec chip)
    {
        RpaValidationForReference(p, o, chip);
        var (values, cache) = ReferenceBridge.Run(p, o);
        if (o.UpdateKvCache) p.StoreKvCache(cache);
        var output = (byte[])p.Queries.Clone(); // rows past cu_q_lens[num_seqs] keep q, as the aliased kernel output does
        var row = new float[p.HeadDim];
        int rows = values.Length / p.HeadDim;
        for (int r = 0; r < rows; r++)
        {
            for (int x = 0; x < p.HeadDim; x++) row[x] = (float)values[(long)r * p.HeadDim + x];
            ElementCodec.Encode(p.QDType, row, output.AsSpan(r * p.HeadDim * p.QDType.Bytes(), p.HeadDim * p.QDType.Bytes()));
        }
        return output;
    }

    /// <summary>
    /// Every rule holds on the fallback path — the caller's options, the metadata, and the byte length of every
    /// array the reference reads — so bad input is a <see cref="Errors.ValidationException"/>, never NaN output
    /// or an index error inside the reference. Only what the TPU kernel cannot do is waived: an f16 cache
    /// (checked as bf16, which has the same size and packing) and default blocks too large for VMEM.
    /// </summary>
    private static void RpaValidationForReference(RpaProblem p, RpaOptions o, Hardware.ChipSpec chip)
    {
        var relaxed = p with { KvDType = p.KvDType == DType.F16 ? DType.BF16 : p.KvDType };
        RpaValidation.Validate(relaxed, o, chip, needValues: true, defaultBlocksMustFit: false);
    }
}

/// <summary>A kernel output and cache compared with the reference.</summary>
public sealed record RpaCheck(double MaxAbsErr, double MaxRelErr, double Tolerance, bool Pass, bool CacheEqual);

/// <summary>
/// Compares kernel results with the reference. Tolerance per q dtype (|got − want| ≤ tol·(1 + |want|)):
/// f32 1e-5; bf16 2e-2 — the output is rounded to bf16 (2^-8 relative) and, as at upstream HEAD, the running
/// max, sum and accumulator live in bf16 between KV chunks, so errors of a few bf16 ulps are expected
/// (upstream's own test allows 0.2).
/// </summary>
public static class ReferenceCheck
{
    public static double Tolerance(DType q) => q == DType.F32 ? 1e-5 : 2e-2;

    /// <param name="p">The problem with the cache as it was before the kernel ran.</param>
    /// <param name="output">The kernel's output [T, Hq, D] in the q dtype.</param>
    /// <param name="cacheAfter">The cache after the kernel ran.</param>
    public static RpaCheck Rpa(RpaProblem p, RpaOptions o, byte[] output, byte[] cacheAfter)
    {
        var (want, refCache) = ReferenceBridge.Run(p, o);
        double tol = Tolerance(p.QDType), maxAbs = 0, maxRel = 0;
        bool pass = true;
        for (int i = 0; i < want.Length; i++)
        {
            double got = ElementCodec.Load(p.QDType, output, i);
            double err = Math.Abs(got - want[i]);
            if (!(err <= tol * (1 + Math.Abs(want[i])))) pass = false;
            maxAbs = Math.Max(maxAbs, double.IsNaN(err) ? double.PositiveInfinity : err);
            maxRel = Math.Max(maxRel, err / Math.Max(Math.Abs(want[i]), 1e-6));
        }
        return new RpaCheck(maxAbs, maxRel, tol, pass, refCache.AsSpan().SequenceEqual(cacheAfter));
    }

    /// <summary>The kernel's updated cache against the reference update of the original cache.</summary>
    public static bool KvUpdate(Kernels.KvCacheUpdate.KvUpdateProblem p, byte[] originalCache)
    {
        var expected = (byte[])originalCache.Clone();
        KvUpdateReference.Run(p.NewKv, expected, (int)p.RowBytes, p.Slices, p.NumSlices);
        return expected.AsSpan().SequenceEqual(CacheOperand.Bytes(p.KvCache, p.KvCacheBuffer));
    }
}
