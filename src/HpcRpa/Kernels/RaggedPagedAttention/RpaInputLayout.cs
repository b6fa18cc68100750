using System.Runtime.Intrinsics;
using HpcRpa.Memory;
using HpcRpa.Numerics;

namespace HpcRpa.Kernels.RaggedPagedAttention;

/// <summary>
/// The wrapper's layout steps (rpa.md 2.3): prepare_inputs, merge_kv, prepare_outputs. Row copies over raw
/// memory: the shapes were validated before any of this runs, and every destination was just allocated zeroed,
/// so padding lanes and rows need no writes.
/// </summary>
public static unsafe class RpaInputLayout
{
    /// <summary>q [T, Hq, D] -> [Hkv, T, GP, D128], zero padding; with q_scale, q/q_scale clipped and rounded to the KV dtype first.</summary>
    public static void PrepareQueries(RpaProblem p, RpaOptions o, Ref qHbm) => PrepareQueries(p, o, qHbm, 0, p.MaxNumTokens);

    /// <summary>The same for tokens [t0, t1) (the rows of one host thread).</summary>
    internal static void PrepareQueries(RpaProblem p, RpaOptions o, Ref qHbm, int t0, int t1)
    {
        var L = p.Layout;
        int T = p.MaxNumTokens, D = L.D, esz = L.QDType.Bytes();
        byte* dst = qHbm.RawPointer;
        float qs = (float)(o.QScale ?? 1.0);
        float lim = L.KvDType switch { DType.Fp8E4M3 => 448f, DType.Fp8E5M2 => 57344f, DType.BF16 => 3.3895314e38f, _ => float.MaxValue };
        Span<float> row = stackalloc float[D];
        Span<byte> tmp = stackalloc byte[4];
        fixed (byte* src = p.Queries)
        {
            for (int t = t0; t < t1; t++)
                for (int n = 0; n < L.Hq; n++)
                {
                    int h = n / L.G, g = n % L.G;
                    byte* from = src + ((long)t * L.Hq + n) * D * esz;
                    byte* to = dst + ((((long)h * T + t) * L.Gp + g) * L.D128) * esz;
                    if (o.QScale is null)
                    {
                        Buffer.MemoryCopy(from, to, D * esz, D * esz);
                        continue;
                    }
                    ElementCodec.Decode(L.QDType, new ReadOnlySpan<byte>(from, D * esz), row);
                    for (int d = 0; d < D; d++)
                    {
                        float v = Math.Clamp(row[d] / qs, -lim, lim);
                        ElementCodec.Store(L.KvDType, tmp, 0, v);
                        row[d] = ElementCodec.Load(L.KvDType, tmp, 0);
                    }
                    ElementCodec.Encode(L.QDType, row, new Span<byte>(to, D * esz));
                }
        }
    }

    /// <summary>keys, values [T, Hkv, D] -> [T, NKX2/pk, D128] words: combined head 2h = K_h, 2h+1 = V_h, packed pk per word.</summary>
    public static void MergeKv(RpaProblem p, Ref newKv) => MergeKv(p, newKv.RawPointer, 0, p.MaxNumTokens);

    /// <summary>The same for tokens [t0, t1).</summary>
    internal static void MergeKv(RpaProblem p, Ref newKv, int t0, int t1) => MergeKv(p, newKv.RawPointer, t0, t1);

    /// <summary>The merged new tokens as bytes (what the KV-update kernel copies into the cache, token row by token row).</summary>
    public static byte[] MergedKvBytes(RpaProblem p)
    {
        var bytes = new byte[p.MaxNumTokens * p.Layout.TokenBytes];
        fixed (byte* b = bytes) MergeKv(p, b, 0, p.MaxNumTokens);
        return bytes;
    }

    private static void MergeKv(RpaProblem p, byte* dst, int t0, int t1)
    {
        var L = p.Layout;
        int D = L.D, eb = L.KvDType.Bytes();
        fixed (byte* keys = p.Keys, values = p.Values)
        {
            for (int t = t0; t < t1; t++)
                for (int h = 0; h < L.Hkv; h++)
                {
                    byte* k = keys + ((long)t * L.Hkv + h) * D * eb, v = values + ((long)t * L.Hkv + h) * D * eb;
                    byte* token = dst + (long)t * L.TokenBytes;
                    switch (L.Pk)
                    {
                        case 1:
                            // Combined heads 2h and 2h+1 are word rows of their own.
                            Buffer.MemoryCopy(k, token + (long)2 * h * L.D128 * 4, D * 4, D * 4);
                            Buffer.MemoryCopy(v, token + (long)(2 * h + 1) * L.D128 * 4, D * 4, D * 4);
                            break;
                        case 2:
                            PackHalves((ushort*)k, (ushort*)v, (uint*)(token + (long)h * L.D128 * 4), D);
                            break;
                        default:
                            {
                                // fp8: four per word; K_h at byte (2h mod 4) of word row 2h/4, V_h the byte after.
                                byte* w = token + (long)(2 * h / 4) * L.D128 * 4 + 2 * h % 4;
                                for (int d = 0; d < D; d++)
                                {
                                    w[4 * d] = k[d];
                                    w[4 * d + 1] = v[d];
                                }
                                break;
                            }
                    }
                }
        }
    }

    /// <summary>word[d] = k[d] | v[d] &lt;&lt; 16: the bf16 K in the low half, V in the high half.</summary>
    private static void PackHalves(ushort* k, ushort* v, uint* w, int d)
    {
        int x = 0;
        if (Vector512.IsHardwareAccelerated)
            for (; x + 32 <= d; x += 32)
            {
                var kk = Vector512.Load(k + x);
                var vv = Vector512.Load(v + x);
                (Vector512.WidenLower(kk) | (Vector512.WidenLower(vv) << 16)).Store(w + x);
                (Vector512.WidenUpper(kk) | (Vector512.WidenUpper(vv) << 16)).Store(w + x + 16);
            }
        for (; x < d; x++) w[x] = k[x] | (uint)v[x] << 16;
    }

    /// <summary>
    /// [Hkv, T, GP, D128] -> [T, Hq, D]. The output aliases q (input_output_aliases): rows no q block writes — the
    /// padding past cu_q_lens[num_seqs] — keep the prepared q, so they are read from it instead of being copied
    /// into the output first.
    /// </summary>
    public static byte[] PrepareOutputs(RpaProblem p, Ref outHbm, Ref qHbm)
    {
        var result = new byte[p.Layout.QueryBytes(p.MaxNumTokens)];
        PrepareOutputs(p, outHbm, qHbm, result);
        return result;
    }

    /// <summary>The same into the caller's <paramref name="result"/> of exactly [T, Hq, D] q-dtype bytes.</summary>
    public static void PrepareOutputs(RpaProblem p, Ref outHbm, Ref qHbm, Span<byte> result)
    {
        CheckOutput(p, result);
        fixed (byte* r = result) PrepareOutputs(p, outHbm, qHbm, r, 0, p.MaxNumTokens);
    }

    internal static void CheckOutput(RpaProblem p, ReadOnlySpan<byte> result)
    {
        long need = p.Layout.QueryBytes(p.MaxNumTokens);
        if (result.Length != need) throw new ArgumentException($"output: {result.Length} bytes, [T, Hq, D] needs {need}", nameof(result));
    }

    /// <summary>Tokens [t0, t1) of the output into <paramref name="r"/> ([T, Hq, D], checked by the caller).</summary>
    internal static void PrepareOutputs(RpaProblem p, Ref outHbm, Ref qHbm, byte* r, int t0, int t1)
    {
        var L = p.Layout;
        int T = p.MaxNumTokens, D = L.D, eb = L.QDType.Bytes();
        int written = p.TotalQTokens;
        byte* o = outHbm.RawPointer, q = qHbm.RawPointer;
        for (int t = t0; t < t1; t++)
            for (int n = 0; n < L.Hq; n++)
            {
                int h = n / L.G, g = n % L.G;
                long off = ((((long)h * T + t) * L.Gp + g) * L.D128) * eb;
                Buffer.MemoryCopy((t < written ? o : q) + off, r + ((long)t * L.Hq + n) * D * eb, D * eb, D * eb);
            }
    }
}
