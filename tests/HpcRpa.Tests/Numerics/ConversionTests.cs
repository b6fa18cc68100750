using HpcRpa.Numerics;

namespace HpcRpa.Tests.Numerics;

public class ConversionTests
{
    [Fact]
    public void Bf16KnownPatternsAndTiesToEven()
    {
        Assert.Equal(0x3F80, Bf16.FromFloat(1.0f));
        Assert.Equal(0x3F80, Bf16.FromFloat(BitConverter.UInt32BitsToSingle(0x3F808000))); // tie, even stays
        Assert.Equal(0x3F82, Bf16.FromFloat(BitConverter.UInt32BitsToSingle(0x3F818000))); // tie, odd rounds up
        Assert.Equal(0x3F81, Bf16.FromFloat(BitConverter.UInt32BitsToSingle(0x3F808001))); // above the tie
        Assert.True(float.IsNaN(Bf16.ToFloat(Bf16.FromFloat(float.NaN))));
        Assert.Equal(0x7F80, Bf16.FromFloat(float.PositiveInfinity));
        Assert.Equal(0x7F80, Bf16.FromFloat(float.MaxValue)); // rounds past the largest bf16
    }

    [Fact]
    public void Bf16RoundInPlaceMatchesTheScalarRoundTrip()
    {
        var rng = new HpcRpa.Memory.SplitMix64(5);
        var x = new float[1000 + 7];
        for (int i = 0; i < x.Length; i++) x[i] = BitConverter.UInt32BitsToSingle((uint)rng.Next());
        x[0] = float.NaN; x[1] = float.PositiveInfinity; x[2] = -0f; x[3] = BitConverter.UInt32BitsToSingle(0x3F808000); x[4] = float.MaxValue;
        var want = x.Select(v => Bf16.ToFloat(Bf16.FromFloat(v))).ToArray();
        Bf16.RoundInPlace(x);
        Assert.Equal(want.Select(BitConverter.SingleToUInt32Bits), x.Select(BitConverter.SingleToUInt32Bits));
    }

    [Fact]
    public void Bf16RoundTripsEveryCode()
    {
        for (int c = 0; c < 65536; c++)
        {
            float f = Bf16.ToFloat((ushort)c);
            if (float.IsNaN(f)) Assert.True(float.IsNaN(Bf16.ToFloat(Bf16.FromFloat(f))));
            else Assert.Equal((ushort)c, Bf16.FromFloat(f));
        }
    }

    [Fact]
    public void Fp8E4M3KnownValues()
    {
        Assert.Equal(0x38, Fp8E4M3.FromFloat(1.0f));
        Assert.Equal(0x7E, Fp8E4M3.FromFloat(448f));
        Assert.Equal(0x01, Fp8E4M3.FromFloat(MathF.ScaleB(1, -9)));             // smallest subnormal 2^-9
        Assert.Equal(0x7E, Fp8E4M3.FromFloat(464f));                             // midpoint of 448 and 480: ties to even 448
        Assert.True(float.IsNaN(Fp8E4M3.ToFloat(Fp8E4M3.FromFloat(470f))));      // rounds to 480, which e4m3fn lacks: NaN
        Assert.Equal(0x7E, Fp8E4M3.FromFloatSaturate(1e6f));
        Assert.Equal(0xFE, Fp8E4M3.FromFloatSaturate(-1e6f));
        Assert.True(float.IsNaN(Fp8E4M3.ToFloat(0x7F)));
        Assert.Equal(0x00, Fp8E4M3.FromFloat(MathF.ScaleB(1, -11)));             // a quarter of the smallest subnormal: 0
    }

    [Fact]
    public void Fp8E5M2KnownValues()
    {
        Assert.Equal(0x3C, Fp8E5M2.FromFloat(1.0f));
        Assert.Equal(0x7B, Fp8E5M2.FromFloat(57344f));
        Assert.Equal(0x7C, Fp8E5M2.FromFloat(1e6f));                             // overflows to +inf
        Assert.Equal(float.PositiveInfinity, Fp8E5M2.ToFloat(0x7C));
        Assert.Equal(0x01, Fp8E5M2.FromFloat(MathF.ScaleB(1, -16)));
        Assert.Equal(0x7B, Fp8E5M2.FromFloatSaturate(1e6f));
    }

    [Fact]
    public void Fp8RoundTripsAll256Codes()
    {
        for (int c = 0; c < 256; c++)
        {
            float e4 = Fp8E4M3.ToFloat((byte)c), e5 = Fp8E5M2.ToFloat((byte)c);
            if (!float.IsNaN(e4)) Assert.Equal((byte)c, Fp8E4M3.FromFloat(e4));
            if (!float.IsNaN(e5)) Assert.Equal((byte)c, Fp8E5M2.FromFloat(e5));
        }
    }

    [Fact]
    public void Fp8RoundsToNearestAgainstABruteForceSearch()
    {
        var rng = new HpcRpa.Memory.SplitMix64(9);
        for (int i = 0; i < 20000; i++)
        {
            float f = (rng.NextFloat() * 2 - 1) * 500f * MathF.ScaleB(1, -rng.NextInt(12));
            byte got = Fp8E4M3.FromFloat(f);
            if (float.IsNaN(Fp8E4M3.ToFloat(got))) { Assert.True(MathF.Abs(f) > 464f); continue; }
            float best = float.NaN;
            for (int c = 0; c < 256; c++)
            {
                float v = Fp8E4M3.ToFloat((byte)c);
                if (float.IsNaN(v)) continue;
                if (float.IsNaN(best) || MathF.Abs(v - f) < MathF.Abs(best - f)) best = v;
            }
            Assert.Equal(MathF.Abs(best - f), MathF.Abs(Fp8E4M3.ToFloat(got) - f));
        }
    }

    [Fact]
    public void Int8RoundsToEvenAndSaturates()
    {
        Assert.Equal(2, Int8Quant.FromFloat(2.5f));
        Assert.Equal(4, Int8Quant.FromFloat(3.5f));
        Assert.Equal(127, Int8Quant.FromFloat(1000f));
        Assert.Equal(-128, Int8Quant.FromFloat(-1000f));
    }

    [Theory]
    [InlineData(DType.F32)]
    [InlineData(DType.BF16)]
    [InlineData(DType.F16)]
    [InlineData(DType.Fp8E4M3)]
    [InlineData(DType.Fp8E5M2)]
    [InlineData(DType.Int8)]
    public void CodecSpanFormsMatchTheScalarForms(DType t)
    {
        var src = Enumerable.Range(0, 300).Select(i => (i - 150) * 0.37f).ToArray();
        var raw = new byte[src.Length * t.Bytes()];
        ElementCodec.Encode(t, src, raw);
        var back = new float[src.Length];
        ElementCodec.Decode(t, raw, back);
        var one = new byte[t.Bytes()];
        for (int i = 0; i < src.Length; i++)
        {
            ElementCodec.Store(t, one, 0, src[i]);
            Assert.Equal(raw.AsSpan(i * t.Bytes(), t.Bytes()).ToArray(), one);
            Assert.Equal(ElementCodec.Load(t, one, 0), back[i]);
        }
    }
}
