using static TorchSharp.torch;

namespace HpcRpa.TorchSharp.Reference;

/// <summary>
/// Options of the torch reference, as RPA's. With <paramref name="QScale"/>, q is quantised to
/// <paramref name="QScaleFormat"/> (the KV cache's format) as rpa.md 2.4 defines.
/// </summary>
public sealed record TorchRpaOptions(double SmScale = 1.0, int? SlidingWindow = null, double? SoftCap = null, double? KScale = null, double? VScale = null, bool Causal = true,
    double? QScale = null, TorchFloatFormat? QScaleFormat = null);

/// <summary>
/// A binary floating-point format by its parameters — explicit bits (mantissa), smallest normal exponent and
/// largest finite value — so torch can round to formats it has no dtype for (fp8 in TorchSharp 0.107).
/// </summary>
public sealed record TorchFloatFormat(string Name, int MantissaBits, int MinNormalExponent, double MaxFinite)
{
    // IEEE 754 binary32/binary16, bfloat16, and the OCP 8-bit formats (E4M3 "fn": no infinities, max 448).
    public static TorchFloatFormat F32 { get; } = new("f32", 23, -126, 3.4028234663852886e38);
    public static TorchFloatFormat BF16 { get; } = new("bf16", 7, -126, 3.3895313892515355e38);
    public static TorchFloatFormat F16 { get; } = new("f16", 10, -14, 65504);
    public static TorchFloatFormat Fp8E4M3 { get; } = new("fp8_e4m3", 3, -6, 448);
    public static TorchFloatFormat Fp8E5M2 { get; } = new("fp8_e5m2", 2, -14, 57344);

    /// <summary>
    /// x clipped to ±MaxFinite, then rounded to the nearest representable value, ties to even: the spacing at
    /// x is 2^(e − MantissaBits) with e = floor(log2 |x|) (never below the smallest normal exponent, which gives
    /// the subnormals their fixed spacing), and torch.round rounds half to even. Computed in float64.
    /// </summary>
    public Tensor Round(Tensor x)
    {
        var x64 = x.to_type(ScalarType.Float64).clamp(-MaxFinite, MaxFinite);
        var e = floor(log2(x64.abs())).clamp_min(MinNormalExponent);
        var spacing = pow(2.0, e - MantissaBits);
        return round(x64 / spacing) * spacing;
    }
}

/// <summary>Which torch path computed one sequence.</summary>
public enum TorchAttentionPath
{
    /// <summary>scaled_dot_product_attention with an explicit boolean mask (q pre-scaled: SDPA 0.107 has no scale argument).</summary>
    Sdpa,
    /// <summary>matmul, scale, soft cap, masked_fill, softmax, matmul — for what SDPA cannot express (soft cap).</summary>
    Explicit,
}

/// <summary>
/// Ragged paged attention in torch: per sequence, gather its pages (index_select), keep the first kv_len tokens,
/// repeat K/V heads for GQA (query head n uses KV head n / G), build the bottom-right causal mask (query i at
/// absolute position kv_len − q_len + i sees key j iff j ≤ that position, and j > position − W with a window)
/// and attend in float32. SDPA where it can, explicit math where it cannot.
/// </summary>
public static class TorchPagedAttention
{
    /// <param name="queries">[T, Hq, D]</param>
    /// <param name="kPages">[num_pages, P, Hkv, D] (decoded to float by the caller)</param>
    /// <param name="vPages">[num_pages, P, Hkv, D]</param>
    /// <returns>[cu_q_lens[numSeqs], Hq, D] float32, and the path each sequence took.</returns>
    public static (Tensor Output, TorchAttentionPath[] Paths) Run(Tensor queries, Tensor kPages, Tensor vPages, int[] kvLens, int[] pageIndices, int pagesPerSeq,
        int[] cuQLens, int numSeqs, TorchRpaOptions o, bool forceExplicit = false)
    {
        Runtime.TorchRuntime.EnsureLoaded();
        using var scope = NewDisposeScope();
        long hq = queries.shape[1], d = queries.shape[2], hkv = kPages.shape[2], P = kPages.shape[1];
        long g = hq / hkv;
        var q32 = queries.to_type(ScalarType.Float32);
        double logitScale = o.SmScale * (o.KScale ?? 1.0);
        if (o.QScale is double qs)
        {
            // rpa.md 2.4: q / q_scale, clipped to the KV format's finite range and rounded to it; the logits
            // then carry q_scale back (q_scale · k_scale · sm_scale).
            var format = o.QScaleFormat ?? throw new ArgumentException("q_scale needs QScaleFormat: the KV cache's format, which q is rounded to", nameof(o));
            q32 = format.Round(q32.to_type(ScalarType.Float64) / qs).to_type(ScalarType.Float32);
            logitScale *= qs;
        }
        var k32 = kPages.to_type(ScalarType.Float32);
        var v32 = vPages.to_type(ScalarType.Float32);
        var outs = new List<Tensor>();
        var paths = new TorchAttentionPath[numSeqs];
        for (int s = 0; s < numSeqs; s++)
        {
            int qLen = cuQLens[s + 1] - cuQLens[s], kvLen = kvLens[s];
            if (qLen == 0) { paths[s] = TorchAttentionPath.Sdpa; continue; }
            int pages = (kvLen + (int)P - 1) / (int)P;
            var idx = tensor(pageIndices.AsSpan(s * pagesPerSeq, pages).ToArray().Select(x => (long)x).ToArray());
            var k = k32.index_select(0, idx).reshape(pages * P, hkv, d).narrow(0, 0, kvLen);   // [kv, Hkv, D]
            var v = v32.index_select(0, idx).reshape(pages * P, hkv, d).narrow(0, 0, kvLen);
            k = k.repeat_interleave(g, dim: 1).permute(1, 0, 2);                                 // [Hq, kv, D]
            v = v.repeat_interleave(g, dim: 1).permute(1, 0, 2);
            var q = q32.narrow(0, cuQLens[s], qLen).permute(1, 0, 2);                            // [Hq, q, D]
            var mask = VisibleMask(qLen, kvLen, o);                                               // [q, kv] bool
            Tensor o1;
            if (o.SoftCap is null && !forceExplicit)
            {
                // SDPA scales by 1/sqrt(D); pre-scaling q by scale·sqrt(D) expresses any logit scale.
                double scale = logitScale * Math.Sqrt(d);
                o1 = nn.functional.scaled_dot_product_attention((q * scale).unsqueeze(0), k.unsqueeze(0), v.unsqueeze(0), mask.unsqueeze(0).unsqueeze(0)).squeeze(0);
                paths[s] = TorchAttentionPath.Sdpa;
            }
            else
            {
                var logits = matmul(q, k.transpose(1, 2)) * logitScale;
                if (o.SoftCap is double cap) logits = tanh(logits / cap) * cap;
                logits = logits.masked_fill(mask.logical_not().unsqueeze(0), double.NegativeInfinity);
                o1 = matmul(nn.functional.softmax(logits, -1), v);
                paths[s] = TorchAttentionPath.Explicit;
            }
            if (o.VScale is double vs) o1 *= vs;
            outs.Add(o1.permute(1, 0, 2));                                                        // [q, Hq, D]
        }
        var result = outs.Count == 0 ? zeros(0, hq, d) : cat(outs.ToArray(), 0);
        return (result.MoveToOuterDisposeScope(), paths);
    }

    /// <summary>[q_len, kv_len] booleans: true where key j is visible from query i (bottom-right aligned).</summary>
    public static Tensor VisibleMask(int qLen, int kvLen, TorchRpaOptions o)
    {
        Runtime.TorchRuntime.EnsureLoaded();
        var qpos = arange(kvLen - qLen, kvLen, dtype: ScalarType.Int64).unsqueeze(1);
        var kpos = arange(0, kvLen, dtype: ScalarType.Int64).unsqueeze(0);
        var visible = o.Causal ? kpos.le(qpos) : ones(qLen, kvLen, dtype: ScalarType.Bool);
        if (o.SlidingWindow is int w) visible = visible.logical_and(kpos.gt(qpos - w));
        return visible;
    }
}
