using HpcRpa.Memory;
using HpcRpa.Numerics;

namespace HpcRpa.Kernels.RaggedPagedAttention;

/// <summary>The wrapper's layout steps (rpa.md 2.3): prepare_inputs, merge_kv, prepare_outputs.</summary>
public static class RpaInputLayout
{
    /// <summary>q [T, Hq, D] -> [Hkv, T, GP, D128], zero padding; with q_scale, q/q_scale clipped and rounded to the KV dtype first.</summary>
    public static void PrepareQueries(RpaProblem p, RpaOptions o, Ref qHbm)
    {
        var L = p.Layout;
        int T = p.MaxNumTokens, D = L.D;
        var src = new float[D];
        var row = new float[L.D128];
        float qs = (float)(o.QScale ?? 1.0);
        float lim = L.KvDType switch { DType.Fp8E4M3 => 448f, DType.Fp8E5M2 => 57344f, DType.BF16 => 3.3895314e38f, _ => float.MaxValue };
        Span<byte> tmp = stackalloc byte[4];
        for (int t = 0; t < T; t++)
            for (int n = 0; n < L.Hq; n++)
            {
                ElementCodec.Decode(L.QDType, p.Queries.AsSpan(((t * L.Hq) + n) * D * L.QDType.Bytes(), D * L.QDType.Bytes()), src);
                Array.Clear(row);
                for (int d = 0; d < D; d++)
                {
                    float v = src[d];
                    if (o.QScale is not null)
                    {
                        v = Math.Clamp(v / qs, -lim, lim);
                        ElementCodec.Store(L.KvDType, tmp, 0, v);
                        v = ElementCodec.Load(L.KvDType, tmp, 0);
                    }
                    row[d] = v;
                }
                int h = n / L.G, g = n % L.G;
                ElementRows.Encode(qHbm[h][t], g, row);
            }
    }

    /// <summary>keys, values [T, Hkv, D] -> [T, NKX2/pk, D128] words: combined head 2h = K_h, 2h+1 = V_h, packed pk per word.</summary>
    public static void MergeKv(RpaProblem p, Ref newKv) => MergeKv(p, newKv.Span<byte>());

    /// <summary>The merged new tokens as bytes (what the KV-update kernel copies into the cache, token row by token row).</summary>
    public static byte[] MergedKvBytes(RpaProblem p)
    {
        var bytes = new byte[p.MaxNumTokens * p.Layout.TokenBytes];
        MergeKv(p, bytes);
        return bytes;
    }

    private static void MergeKv(RpaProblem p, Span<byte> dst)
    {
        var L = p.Layout;
        int T = p.MaxNumTokens, D = L.D, eb = L.KvDType.Bytes();
        dst.Clear();
        for (int t = 0; t < T; t++)
            for (int h = 0; h < L.Hkv; h++)
                for (int kv = 0; kv < 2; kv++)
                {
                    int c = 2 * h + kv;
                    var src = (kv == 0 ? p.Keys : p.Values).AsSpan(((t * L.Hkv) + h) * D * eb, D * eb);
                    long baseWord = ((long)t * L.Rows + c / L.Pk) * L.D128;
                    int j = c % L.Pk;
                    for (int d = 0; d < D; d++)
                        src.Slice(d * eb, eb).CopyTo(dst.Slice((int)((baseWord + d) * 4 + j * eb), eb));
                }
    }

    /// <summary>[Hkv, T, GP, D128] -> [T, Hq, D].</summary>
    public static byte[] PrepareOutputs(RpaProblem p, Ref outHbm)
    {
        var L = p.Layout;
        int T = p.MaxNumTokens, D = L.D, eb = L.QDType.Bytes();
        var result = new byte[(long)T * L.Hq * D * eb];
        var all = outHbm.Span<byte>();
        for (int t = 0; t < T; t++)
            for (int n = 0; n < L.Hq; n++)
            {
                int h = n / L.G, g = n % L.G;
                long off = ((((long)h * T + t) * L.Gp + g) * L.D128) * eb;
                all.Slice((int)off, D * eb).CopyTo(result.AsSpan((t * L.Hq + n) * D * eb, D * eb));
            }
        return result;
    }
}
