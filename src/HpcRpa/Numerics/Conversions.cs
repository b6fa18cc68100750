using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace HpcRpa.Numerics;

/// <summary>bfloat16: the top half of an f32, rounded to nearest even; NaN stays a quiet NaN.</summary>
public static class Bf16
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort FromFloat(float f)
    {
        uint u = BitConverter.SingleToUInt32Bits(f);
        if ((u & 0x7FFFFFFF) > 0x7F800000) return (ushort)((u >> 16) | 0x0040);
        u += 0x7FFF + ((u >> 16) & 1);
        return (ushort)(u >> 16);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float ToFloat(ushort b) => BitConverter.UInt32BitsToSingle((uint)b << 16);

    public static void FromFloat(ReadOnlySpan<float> src, Span<ushort> dst)
    {
        if (dst.Length < src.Length) throw new ArgumentException($"destination holds {dst.Length}, source has {src.Length}", nameof(dst));
        for (int i = 0; i < src.Length; i++) dst[i] = FromFloat(src[i]);
    }

    public static void ToFloat(ReadOnlySpan<ushort> src, Span<float> dst)
    {
        if (dst.Length < src.Length) throw new ArgumentException($"destination holds {dst.Length}, source has {src.Length}", nameof(dst));
        for (int i = 0; i < src.Length; i++) dst[i] = ToFloat(src[i]);
    }

    /// <summary>x := ToFloat(FromFloat(x)) for every element: the value rounded to bf16, kept as f32. Bit arithmetic, so the vector form is exact.</summary>
    public static void RoundInPlace(Span<float> x)
    {
        var u = System.Runtime.InteropServices.MemoryMarshal.Cast<float, uint>(x);
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var bias = Vector512.Create(0x7FFFu);
            var one = Vector512.Create(1u);
            var hi = Vector512.Create(0xFFFF0000u);
            var abs = Vector512.Create(0x7FFFFFFFu);
            var inf = Vector512.Create(0x7F800000u);
            var quiet = Vector512.Create(0x00400000u);
            for (; i + 16 <= u.Length; i += 16)
            {
                var v = Vector512.LoadUnsafe(ref u[i]);
                var rounded = (v + bias + ((v >> 16) & one)) & hi;
                var nan = Vector512.GreaterThan(v & abs, inf);
                Vector512.ConditionalSelect(nan, (v & hi) | quiet, rounded).StoreUnsafe(ref u[i]);
            }
        }
        for (; i < x.Length; i++) x[i] = ToFloat(FromFloat(x[i]));
    }
}

/// <summary>IEEE half through System.Half (round to nearest even).</summary>
public static class F16
{
    public static ushort FromFloat(float f) => BitConverter.HalfToUInt16Bits((Half)f);
    public static float ToFloat(ushort h) => (float)BitConverter.UInt16BitsToHalf(h);
}

/// <summary>
/// A small IEEE-like float format (fp8): sign, <c>e</c> exponent bits with bias, <c>m</c> mantissa bits, round to
/// nearest even. e4m3fn (bias 7) has no infinities — max 448, NaN = S.1111.111 — and ml_dtypes turns an
/// overflowing cast into NaN; e5m2 (bias 15) has infinities and overflows to them.
/// </summary>
internal static class MiniFloat
{
    public static byte Encode(float f, int expBits, int manBits, int bias, bool hasInf, float maxFinite, bool saturate)
    {
        uint u = BitConverter.SingleToUInt32Bits(f);
        byte sign = (byte)((u >> 24) & 0x80);
        byte nan = (byte)(sign | (hasInf ? 0x7F : 0x7F)); // e4m3fn NaN 0x7F; e5m2 quiet NaN 0x7F (exp all ones, mantissa 11)
        if (float.IsNaN(f)) return nan;
        float a = MathF.Abs(f);
        if (saturate && a > maxFinite) a = maxFinite;
        if (float.IsInfinity(a)) return hasInf ? (byte)(sign | (((1 << expBits) - 1) << manBits)) : nan;
        // Round |f| to the format's grid: the spacing is 2^(e - manBits) in the binade of |f|, subnormals below 2^(1-bias).
        int minExp = 1 - bias;
        int e = a == 0 ? minExp : Math.Max(Math.ILogB(a), minExp);
        float quantum = MathF.ScaleB(1f, e - manBits);
        float q = MathF.Round(a / quantum, MidpointRounding.ToEven) * quantum; // exact: a/quantum is a power-of-two scaling
        if (q > maxFinite) return hasInf ? (byte)(sign | (((1 << expBits) - 1) << manBits)) : nan;
        if (q == 0) return sign;
        int qe = Math.ILogB(q);
        int code;
        if (qe < minExp) code = (int)(q / MathF.ScaleB(1f, minExp - manBits)); // subnormal
        else
        {
            int mant = (int)(q / MathF.ScaleB(1f, qe - manBits)) - (1 << manBits);
            code = ((qe + bias) << manBits) | mant;
        }
        return (byte)(sign | code);
    }

    public static float Decode(byte b, int expBits, int manBits, int bias, bool hasInf)
    {
        int sign = b >> 7;
        int e = (b >> manBits) & ((1 << expBits) - 1);
        int m = b & ((1 << manBits) - 1);
        float v;
        if (e == (1 << expBits) - 1)
        {
            if (hasInf) v = m == 0 ? float.PositiveInfinity : float.NaN;
            else if (m == (1 << manBits) - 1) v = float.NaN;
            else v = MathF.ScaleB(1f + m / (float)(1 << manBits), e - bias);
        }
        else if (e == 0) v = MathF.ScaleB(m, 1 - bias - manBits);
        else v = MathF.ScaleB(1f + m / (float)(1 << manBits), e - bias);
        return sign == 1 ? -v : v;
    }
}

/// <summary>fp8 e4m3fn: bias 7, no infinities, max 448, NaN 0x7F/0xFF.</summary>
public static class Fp8E4M3
{
    public const float Max = 448f;
    private static readonly float[] Table = BuildTable();

    private static float[] BuildTable()
    {
        var t = new float[256];
        for (int i = 0; i < 256; i++) t[i] = MiniFloat.Decode((byte)i, 4, 3, 7, false);
        return t;
    }

    /// <summary>Round to nearest even; a magnitude that rounds above 448 becomes NaN (ml_dtypes' cast).</summary>
    public static byte FromFloat(float f) => MiniFloat.Encode(f, 4, 3, 7, false, Max, false);
    /// <summary>Clamp to ±448 first, then round (what quantisation code does with clip).</summary>
    public static byte FromFloatSaturate(float f) => MiniFloat.Encode(f, 4, 3, 7, false, Max, true);
    public static float ToFloat(byte b) => Table[b];
    public static void FromFloat(ReadOnlySpan<float> src, Span<byte> dst) { for (int i = 0; i < src.Length; i++) dst[i] = FromFloat(src[i]); }
    public static void ToFloat(ReadOnlySpan<byte> src, Span<float> dst) { for (int i = 0; i < src.Length; i++) dst[i] = Table[src[i]]; }
}

/// <summary>fp8 e5m2: bias 15, infinities, max 57344.</summary>
public static class Fp8E5M2
{
    public const float Max = 57344f;
    private static readonly float[] Table = BuildTable();

    private static float[] BuildTable()
    {
        var t = new float[256];
        for (int i = 0; i < 256; i++) t[i] = MiniFloat.Decode((byte)i, 5, 2, 15, true);
        return t;
    }

    public static byte FromFloat(float f) => MiniFloat.Encode(f, 5, 2, 15, true, Max, false);
    public static byte FromFloatSaturate(float f) => MiniFloat.Encode(f, 5, 2, 15, true, Max, true);
    public static float ToFloat(byte b) => Table[b];
    public static void FromFloat(ReadOnlySpan<float> src, Span<byte> dst) { for (int i = 0; i < src.Length; i++) dst[i] = FromFloat(src[i]); }
    public static void ToFloat(ReadOnlySpan<byte> src, Span<float> dst) { for (int i = 0; i < src.Length; i++) dst[i] = Table[src[i]]; }
}

/// <summary>int8 with round to nearest even and saturation to [-128, 127].</summary>
public static class Int8Quant
{
    public static sbyte FromFloat(float f) => float.IsNaN(f) ? (sbyte)0 : (sbyte)Math.Clamp(MathF.Round(f, MidpointRounding.ToEven), -128f, 127f);
    public static float ToFloat(sbyte v) => v;
}
