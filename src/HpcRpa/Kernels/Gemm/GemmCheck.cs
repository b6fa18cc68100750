using HpcRpa.Memory;
using HpcRpa.Numerics;

namespace HpcRpa.Kernels.Gemm;

/// <summary>Spot-checks a GEMM result against double-precision dot products of the same inputs.</summary>
public static class GemmCheck
{
    /// <summary>Max over sampled outputs of |z − dot| / Σ|a·b| (a scale-aware relative error).</summary>
    public static double MaxRelativeErrorSampled(Ref a, Ref b, Ref z, int samples, int seed)
    {
        int m = a.Dim(0), k = a.Dim(1), n = b.Dim(1);
        var rng = new SplitMix64((ulong)seed * 31 + 7);
        ReadOnlySpan<byte> araw = a.Span<byte>(), braw = b.Span<byte>(), zraw = z.Span<byte>();
        double worst = 0;
        for (int s = 0; s < samples; s++)
        {
            int i = rng.NextInt(m), j = rng.NextInt(n);
            double dot = 0, mag = 0;
            for (int t = 0; t < k; t++)
            {
                double p = (double)ElementCodec.Load(a.DType, araw, i * k + t) * ElementCodec.Load(b.DType, braw, t * n + j);
                dot += p;
                mag += Math.Abs(p);
            }
            double got = ElementCodec.Load(z.DType, zraw, i * n + j);
            worst = Math.Max(worst, Math.Abs(got - dot) / Math.Max(mag, 1e-30));
        }
        return worst;
    }
}
