using System.Runtime.InteropServices;
using HpcRpa.Memory;
using HpcRpa.Numerics;

namespace HpcRpa.Tests.Numerics;

/// <summary>
/// The decode-path attention products over packed words: exact widening of every word format, every SIMD path
/// giving the scalar path's bits, and both products close to a double-precision loop over the same values.
/// </summary>
public unsafe class AttentionDotsTests
{
    public static IEnumerable<object[]> Paths() => SimdPaths.Available.Where(p => p != SimdPath.Scalar).Select(p => new object[] { p });

    [Fact]
    public void RebiasConstantsArePowersOfTwo()
    {
        Assert.Equal(MathF.ScaleB(1f, 120), PackedWordConstants.TwoTo120);
        Assert.Equal(MathF.ScaleB(1f, 112), PackedWordConstants.TwoTo112);
    }

    /// <summary>Every fp8 code and a spread of bf16 codes, at every position of the word, widen to the codec's value.</summary>
    [Theory]
    [InlineData(WordFormat.Fp8E4M3)]
    [InlineData(WordFormat.Fp8E5M2)]
    [InlineData(WordFormat.Bf16)]
    [InlineData(WordFormat.F32)]
    public void DecodersAreExactOnEveryCode(WordFormat f)
    {
        var t = f switch { WordFormat.Fp8E4M3 => DType.Fp8E4M3, WordFormat.Fp8E5M2 => DType.Fp8E5M2, WordFormat.Bf16 => DType.BF16, _ => DType.F32 };
        int bits = t.Bits(), perWord = 32 / bits;
        var rng = new SplitMix64(7);
        int codes = bits == 8 ? 256 : 4096;
        for (int j = 0; j < perWord; j++)
            for (int i = 0; i < codes; i++)
            {
                uint code = bits == 8 ? (uint)i : bits == 16 ? (uint)rng.NextInt(65536) : (uint)rng.NextInt(int.MaxValue) * 2u + (uint)(i & 1);
                uint word = 0xA5A5A5A5u & ~(bits == 32 ? 0xFFFFFFFFu : ((1u << bits) - 1) << (j * bits)) | code << (j * bits);
                var raw = BitConverter.GetBytes(code);
                float want = ElementCodec.Load(t, raw, 0);
                float got = Decode(f, word, j * bits);
                if (float.IsNaN(want)) Assert.True(float.IsNaN(got), $"{f} code 0x{code:X} at {j}: {got}, want NaN");
                else Assert.Equal(BitConverter.SingleToUInt32Bits(want), BitConverter.SingleToUInt32Bits(got));
            }
    }

    private static float Decode(WordFormat f, uint word, int shift)
    {
        var w = new S1 { V = BitConverter.UInt32BitsToSingle(word) };
        return (f, shift) switch
        {
            (WordFormat.F32, _) => F32Words.Decode(w).V,
            (WordFormat.Bf16, 0) => Bf16Words<At0>.Decode(w).V,
            (WordFormat.Bf16, _) => Bf16Words<At16>.Decode(w).V,
            (WordFormat.Fp8E4M3, 0) => E4M3Words<At0>.Decode(w).V,
            (WordFormat.Fp8E4M3, 8) => E4M3Words<At8>.Decode(w).V,
            (WordFormat.Fp8E4M3, 16) => E4M3Words<At16>.Decode(w).V,
            (WordFormat.Fp8E4M3, _) => E4M3Words<At24>.Decode(w).V,
            (WordFormat.Fp8E5M2, 0) => E5M2Words<At0>.Decode(w).V,
            (WordFormat.Fp8E5M2, 8) => E5M2Words<At8>.Decode(w).V,
            (WordFormat.Fp8E5M2, 16) => E5M2Words<At16>.Decode(w).V,
            _ => E5M2Words<At24>.Decode(w).V,
        };
    }

    /// <summary>n token rows of `lanes` words, each word holding `perWord` elements; element j of row t, lane x = values[t, j, x].</summary>
    internal sealed class PackedRows : IDisposable
    {
        public readonly NativeBuffer Words;
        public readonly nint[] Pointers;
        public readonly float[,,] Values;
        public readonly int Lanes, PerWord;
        private GCHandle _pin;

        public PackedRows(WordFormat f, int n, int lanes, int seed, float lo = -1, float hi = 1)
        {
            var t = f switch { WordFormat.Fp8E4M3 => DType.Fp8E4M3, WordFormat.Fp8E5M2 => DType.Fp8E5M2, WordFormat.Bf16 => DType.BF16, _ => DType.F32 };
            PerWord = 32 / t.Bits();
            Lanes = lanes;
            Values = new float[n, PerWord, lanes];
            // Rows out of order in memory, with gaps, as pages of a cache are.
            long pitch = lanes * 4L + 64;
            Words = new NativeBuffer(pitch * n);
            Pointers = new nint[n];
            var rng = new SplitMix64((ulong)seed);
            var order = Enumerable.Range(0, n).OrderBy(_ => rng.NextInt(1 << 30)).ToArray();
            var one = new byte[4];
            for (int r = 0; r < n; r++)
            {
                Pointers[r] = Words.Pointer + (nint)(order[r] * pitch);
                uint* w = (uint*)Pointers[r];
                for (int x = 0; x < lanes; x++)
                {
                    uint word = 0;
                    for (int j = 0; j < PerWord; j++)
                    {
                        ElementCodec.Store(t, one, 0, lo + (hi - lo) * rng.NextFloat());
                        float v = ElementCodec.Load(t, one, 0);
                        Values[r, j, x] = v;
                        uint code = t.Bits() == 32 ? BitConverter.SingleToUInt32Bits(v) : t.Bits() == 16 ? BitConverter.ToUInt16(one) : one[0];
                        word |= code << (j * t.Bits());
                    }
                    w[x] = word;
                }
            }
            _pin = GCHandle.Alloc(Pointers, GCHandleType.Pinned);
        }

        public nint* Rows => (nint*)_pin.AddrOfPinnedObject();

        public void Dispose()
        {
            _pin.Free();
            Words.Dispose();
        }
    }

    private static float[] Random(int n, int seed, float lo = -1, float hi = 1)
    {
        var rng = new SplitMix64((ulong)seed);
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = lo + (hi - lo) * rng.NextFloat();
        return a;
    }

    public static IEnumerable<object[]> DotCases()
    {
        foreach (var path in SimdPaths.Available.Where(p => p != SimdPath.Scalar))
            foreach (var f in new[] { WordFormat.F32, WordFormat.Bf16, WordFormat.Fp8E4M3, WordFormat.Fp8E5M2 })
                foreach (var (rows, dim) in new[] { (4, 128), (1, 128), (5, 80), (9, 72), (8, 240), (3, 16), (2, 7) })
                    yield return [path, f, rows, dim];
    }

    [Theory]
    [MemberData(nameof(DotCases))]
    public void QkDotsPathsAreBitIdenticalAndNearTheDoubleDot(SimdPath path, WordFormat f, int rows, int dim)
    {
        int n = 37, lanes = (dim + 127) / 128 * 128, dPad = (dim + 15) / 16 * 16, ldq = dPad + 16, lds = n + 3;
        using var k = new PackedRows(f, n, lanes, seed: dim);
        int j = k.PerWord - 1; // the last element of each word: the largest shift
        var q = Random(rows * ldq, 11);
        for (int r = 0; r < rows; r++) for (int d = dim; d < ldq; d++) q[r * ldq + d] = 0f; // zero past dim, as the contract says
        var s0 = new float[rows * lds];
        var s1 = new float[rows * lds];
        int bits = 32 / k.PerWord;
        fixed (float* pq = q, p0 = s0, p1 = s1)
        {
            var keys = new WordRows(k.Rows, 0, f, j * bits);
            AttentionDots.QkDots(pq, ldq, 0, rows, 1, 0, dim, keys, p0, lds, 0, n, path: SimdPath.Scalar);
            AttentionDots.QkDots(pq, ldq, 0, rows, 1, 0, dim, keys, p1, lds, 0, n, path: path);
        }
        Assert.Equal(s0, s1);
        for (int r = 0; r < rows; r++)
            for (int t = 0; t < n; t++)
            {
                double want = 0, mag = 0;
                for (int d = 0; d < dim; d++) { want += (double)q[r * ldq + d] * k.Values[t, j, d]; mag += Math.Abs((double)q[r * ldq + d] * k.Values[t, j, d]); }
                Assert.True(Math.Abs(s0[r * lds + t] - want) <= 1e-6 * mag, $"s[{r},{t}] = {s0[r * lds + t]} vs {want}");
            }
    }

    [Theory]
    [MemberData(nameof(DotCases))]
    public void PvRowsPathsAreBitIdenticalAndNearTheDoubleSum(SimdPath path, WordFormat f, int rows, int dim)
    {
        int n = 41, t0 = 3, t1 = 38, lanes = (dim + 127) / 128 * 128, cols = (dim + 15) / 16 * 16, ldp = n + 5, ldo = cols + 16;
        using var v = new PackedRows(f, n, lanes, seed: dim + 1);
        var p = Random(rows * ldp, 12, 0, 1);
        var o0 = new float[rows * ldo];
        var o1 = new float[rows * ldo];
        int bits = 32 / v.PerWord;
        fixed (float* pp = p, p0 = o0, p1 = o1)
        {
            var values = new WordRows(v.Rows, 0, f, 0);
            AttentionDots.PvRows(pp, ldp, 0, rows, 1, 0, values, t0, t1, p0, ldo, 0, cols, path: SimdPath.Scalar);
            AttentionDots.PvRows(pp, ldp, 0, rows, 1, 0, values, t0, t1, p1, ldo, 0, cols, path: path);
        }
        _ = bits;
        Assert.Equal(o0, o1);
        for (int r = 0; r < rows; r++)
            for (int x = 0; x < dim; x++)
            {
                double want = 0, mag = 0;
                float chain = 0f; // the canonical order: one FMA chain over the tokens, ascending
                for (int t = t0; t < t1; t++)
                {
                    want += (double)p[r * ldp + t] * v.Values[t, 0, x];
                    mag += Math.Abs((double)p[r * ldp + t] * v.Values[t, 0, x]);
                    chain = MathF.FusedMultiplyAdd(p[r * ldp + t], v.Values[t, 0, x], chain);
                }
                Assert.Equal(chain, o0[r * ldo + x]);
                Assert.True(Math.Abs(o0[r * ldo + x] - want) <= 1e-6 * mag + 1e-30, $"o[{r},{x}] = {o0[r * ldo + x]} vs {want}");
            }
    }

    /// <summary>The logit order is the one the scalar loop spells out: partial d mod 16, then halving. Pinned on a case where order shows.</summary>
    [Fact]
    public void QkDotsFollowTheSixteenPartialOrder()
    {
        // Terms chosen so that a plain left-to-right sum and the partial order differ in f32.
        int dim = 32;
        var q = new float[dim];
        for (int d = 0; d < dim; d++) q[d] = 1f;
        var vals = new float[dim];
        vals[0] = 1e8f; vals[16] = -1e8f; vals[1] = 1f; vals[17] = 0.5f; // partial 0: 1e8 + -1e8 = 0; partial 1: 1.5
        var words = new uint[128];
        for (int d = 0; d < dim; d++) words[d] = BitConverter.SingleToUInt32Bits(vals[d]);
        fixed (uint* w = words)
        fixed (float* pq = q)
        {
            nint row = (nint)w;
            var s = new float[1];
            fixed (float* ps = s)
            {
                AttentionDots.QkDots(pq, dim, 0, 1, 1, 0, dim, new WordRows(&row, 0, WordFormat.F32, 0), ps, 1, 0, 1, path: SimdPaths.Best);
            }
            Assert.Equal(1.5f, s[0]); // left to right: ((1e8 + 1) + ... − 1e8) loses the 1 and gives 0.5
        }
    }

    /// <summary>Several heads in one call give what one call per head gives: the head loop only changes memory order.</summary>
    [Theory]
    [MemberData(nameof(Paths))]
    public void HeadsInOneCallEqualOneCallPerHead(SimdPath path)
    {
        int heads = 3, rows = 5, dim = 80, n = 45, headLanes = 128, lanes = heads * headLanes, ldq = 96, lds = n + 1, ldo = 96;
        using var kv = new PackedRows(WordFormat.Bf16, n, lanes, seed: 5);
        var q = Random(heads * rows * ldq, 21);
        for (int i = 0; i < heads * rows; i++) for (int d = dim; d < ldq; d++) q[i * ldq + d] = 0f;
        var s0 = new float[heads * rows * lds];
        var s1 = new float[heads * rows * lds];
        var o0 = new float[heads * rows * ldo];
        var o1 = new float[heads * rows * ldo];
        var p = Random(heads * rows * lds, 22, 0, 1);
        fixed (float* pq = q, ps0 = s0, ps1 = s1, pp = p, po0 = o0, po1 = o1)
        {
            nint stride = headLanes * 4;
            AttentionDots.QkDots(pq, ldq, rows * ldq, rows, heads, stride, dim, new WordRows(kv.Rows, 0, WordFormat.Bf16, 0), ps0, lds, rows * lds, n, path: path);
            AttentionDots.PvRows(pp, lds, rows * lds, rows, heads, stride, new WordRows(kv.Rows, 0, WordFormat.Bf16, 16), 2, n, po0, ldo, rows * ldo, 80, path: path);
            for (int h = 0; h < heads; h++)
            {
                AttentionDots.QkDots(pq + h * rows * ldq, ldq, 0, rows, 1, 0, dim, new WordRows(kv.Rows, h * stride, WordFormat.Bf16, 0), ps1 + h * rows * lds, lds, 0, n, path: path);
                AttentionDots.PvRows(pp + h * rows * lds, lds, 0, rows, 1, 0, new WordRows(kv.Rows, h * stride, WordFormat.Bf16, 16), 2, 20, po1 + h * rows * ldo, ldo, 0, 80, path: path);
                // The same chains continued over the rest of the tokens: accumulate picks up where o left off.
                AttentionDots.PvRows(pp + h * rows * lds, lds, 0, rows, 1, 0, new WordRows(kv.Rows, h * stride, WordFormat.Bf16, 16), 20, n, po1 + h * rows * ldo, ldo, 0, 80, accumulate: true, path: path);
            }
        }
        Assert.Equal(s1, s0);
        Assert.Equal(o1, o0);
    }
}
