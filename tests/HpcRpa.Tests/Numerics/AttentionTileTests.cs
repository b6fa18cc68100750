using HpcRpa.Memory;
using HpcRpa.Numerics;

namespace HpcRpa.Tests.Numerics;

/// <summary>
/// The many-rows attention products: packing widens exactly, every SIMD path gives the scalar path's bits on the
/// columns each row asked for, and the values follow their definitions (blocked logits, ascending p·V chains).
/// </summary>
public unsafe class AttentionTileTests
{
    public static IEnumerable<object[]> Cases()
    {
        foreach (var path in SimdPaths.Available.Where(p => p != SimdPath.Scalar))
            foreach (var f in new[] { WordFormat.F32, WordFormat.Bf16, WordFormat.Fp8E4M3 })
                foreach (var (rows, dim, n) in new[] { (12, 128, 43), (7, 80, 43), (9, 72, 43), (4, 256, 43), (13, 128, 150), (8, 64, 200), (133, 64, 150) })
                    yield return [path, f, rows, dim, n];
    }

    private static float[] Random(int n, int seed, float lo = -1, float hi = 1)
    {
        var rng = new SplitMix64((ulong)seed);
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = lo + (hi - lo) * rng.NextFloat();
        return a;
    }

    /// <summary>Causal-like ranges: row r sees [max(0, r−9), 20 + 2r) clipped to n (wider when n is), some rows empty.</summary>
    private static (int[] Lo, int[] Hi) Ranges(int rows, int n)
    {
        var lo = new int[rows];
        var hi = new int[rows];
        int grow = Math.Max(2, n / rows);
        for (int r = 0; r < rows; r++)
        {
            lo[r] = Math.Max(0, r - 9);
            hi[r] = r == 5 ? lo[r] : Math.Min(n, 20 + grow * r);
        }
        return (lo, hi);
    }

    /// <summary>1/√128 in f32: the logits' scale (not a power of two, so scaling rounds).</summary>
    private const float Scale = 0.0883883476f;

    [Theory]
    [MemberData(nameof(Cases))]
    public void PathsAreBitIdenticalOnEveryRowsRangeAndFollowTheDefinitions(SimdPath path, WordFormat f, int rows, int dim, int n)
    {
        // n past 64 reaches the widest register blocks (four 512-bit vectors of columns).
        int nPad = (n + 15) / 16 * 16, lanes = (dim + 127) / 128 * 128, dPad = (dim + 15) / 16 * 16;
        using var kv = new AttentionDotsTests.PackedRows(f, n, lanes, seed: dim + rows);
        var (lo, hi) = Ranges(rows, n);
        int ldq = dPad + 4, ldk = nPad + 16, lds = nPad + 8, ldv = dPad + 16, ldo = dPad + 8;
        var q = Random(rows * ldq, 41);
        var p = Random(rows * lds, 42, 0, 1);
        for (int r = 0; r < rows; r++)
            for (int t = 0; t < lds; t++)
                if (t < lo[r] || t >= hi[r]) p[r * lds + t] = 0f; // the contract: zero outside the row's range

        float[] Run(SimdPath which, out float[] kt, out float[] v, out float[] o)
        {
            kt = new float[dPad * ldk];
            v = new float[n * ldv];
            var s = new float[rows * lds];
            o = new float[rows * ldo];
            fixed (float* pq = q, pk = kt, pv = v, ps = s, pp = p, po = o)
            fixed (int* plo = lo, phi = hi)
            {
                var rowsK = new WordRows(kv.Rows, 0, f, 0);
                AttentionTile.PackTransposed(rowsK, n, dim, pk, ldk, which);
                AttentionTile.PackRows(rowsK, n, dim, dPad, pv, ldv, which);
                AttentionTile.QkTile(pq, ldq, rows, dim, pk, ldk, ps, lds, plo, phi, Scale, which);
                AttentionTile.PvTile(pp, lds, rows, pv, ldv, dPad, po, ldo, plo, phi, which);
            }
            return s;
        }

        var s0 = Run(SimdPath.Scalar, out var kt0, out var v0, out var o0);
        var s1 = Run(path, out var kt1, out var v1, out var o1);
        Assert.Equal(kt0.AsSpan(0, dim * ldk).ToArray(), kt1.AsSpan(0, dim * ldk).ToArray()); // rows past dim are unspecified
        Assert.Equal(v0, v1);
        for (int r = 0; r < rows; r++)
        {
            for (int t = lo[r]; t < hi[r]; t++)
            {
                Assert.Equal(s0[r * lds + t], s1[r * lds + t]);
                // Blocked logit: chains of 32 terms over d, added in order.
                float total = 0;
                for (int d0 = 0; d0 < dim; d0 += Gemm.BlockK)
                {
                    float blk = 0;
                    for (int d = d0; d < Math.Min(d0 + Gemm.BlockK, dim); d++) blk = MathF.FusedMultiplyAdd(q[r * ldq + d], kv.Values[t, 0, d], blk);
                    total = d0 == 0 ? blk : total + blk;
                }
                Assert.Equal(total * Scale, s0[r * lds + t]); // the sum rounded, then scaled
                Assert.Equal(BitConverter.SingleToInt32Bits(total * Scale), BitConverter.SingleToInt32Bits(s0[r * lds + t]));
            }
            for (int x = 0; x < dim; x++)
            {
                Assert.Equal(o0[r * ldo + x], o1[r * ldo + x]);
                float chain = 0;
                for (int t = lo[r]; t < hi[r]; t++) chain = MathF.FusedMultiplyAdd(p[r * lds + t], kv.Values[t, 0, x], chain);
                Assert.Equal(chain, o0[r * ldo + x]);
            }
        }
        for (int t = 0; t < n; t++)
            for (int x = 0; x < dim; x++)
            {
                Assert.Equal(kv.Values[t, 0, x], kt0[x * ldk + t]);
                Assert.Equal(kv.Values[t, 0, x], v0[t * ldv + x]);
            }
    }
}
