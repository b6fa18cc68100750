using System.Runtime.CompilerServices;

namespace HpcRpa.Numerics;

/// <summary>
/// How one element sits in a 32-bit word of a packed layout (the RPA KV cache, rpa.md 2.3): its dtype; its bit
/// offset inside the word is given separately (element j of a word of <c>32 / bits</c> elements sits at j·bits).
/// </summary>
public enum WordFormat : byte
{
    F32,
    Bf16,
    Fp8E4M3,
    Fp8E5M2,
}

public static class WordFormats
{
    /// <summary>The word format of a KV dtype; null for a dtype the packed layouts do not hold.</summary>
    public static WordFormat? Of(DType t) => t switch
    {
        DType.F32 => WordFormat.F32,
        DType.BF16 => WordFormat.Bf16,
        DType.Fp8E4M3 => WordFormat.Fp8E4M3,
        DType.Fp8E5M2 => WordFormat.Fp8E5M2,
        _ => null,
    };
}

/// <summary>
/// Widens one element of each 32-bit lane to f32, exactly, on any vector width (an operator struct in the style of
/// TensorPrimitives). Every format is plain bit arithmetic, so all widths and the scalar path give the same bits.
/// </summary>
internal interface IWordDecoder
{
    static abstract TV Decode<TV>(TV words) where TV : unmanaged, IVec<TV>;
}

/// <summary>An element's bit offset inside its word, as a type: shifts by a constant compile to one immediate-shift instruction.</summary>
internal interface IBitOffset
{
    static abstract int Bits { get; }
}

internal struct At0 : IBitOffset { public static int Bits => 0; }
internal struct At8 : IBitOffset { public static int Bits => 8; }
internal struct At16 : IBitOffset { public static int Bits => 16; }
internal struct At24 : IBitOffset { public static int Bits => 24; }

internal static class PackedWordConstants
{
    /// <summary>2^120 and 2^112, exactly (C# has no hex float literals; a test pins both against MathF.ScaleB).</summary>
    public const float TwoTo120 = 1.329227995784916e36f, TwoTo112 = 5.192296858534828e33f;
}

internal struct F32Words : IWordDecoder
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TV Decode<TV>(TV words) where TV : unmanaged, IVec<TV> => words;
}

/// <summary>bf16 is the top half of an f32: the low half moves up, the high half keeps its place; zeros below.</summary>
internal struct Bf16Words<TAt> : IWordDecoder where TAt : struct, IBitOffset
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TV Decode<TV>(TV words) where TV : unmanaged, IVec<TV> =>
        TAt.Bits == 0 ? TV.ShiftLeft(words, 16) : TV.And(words, 0xFFFF0000u);
}

/// <summary>
/// fp8 e4m3fn (bias 7, no infinities, NaN = S.1111.111): the 7 magnitude bits placed at f32's exponent/mantissa
/// boundary read as 2^(e−127)·1.m (or as an f32 subnormal when e = 0); one exact multiply by 2^120 rebiases both
/// to e4m3's 2^(e−7)·1.m and 2^−6·0.m.
/// </summary>
internal struct E4M3Words<TAt> : IWordDecoder where TAt : struct, IBitOffset
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TV Decode<TV>(TV words) where TV : unmanaged, IVec<TV>
    {
        TV b = TV.And(TAt.Bits == 0 ? words : TV.ShiftRight(words, TAt.Bits), 0xFF);
        TV mag = TV.And(b, 0x7F);
        TV v = TV.Mul(TV.ShiftLeft(mag, 20), TV.Splat(PackedWordConstants.TwoTo120));
        v = TV.Or(v, TV.ShiftLeft(TV.And(b, 0x80), 24));
        return TV.SelectWhereBitsEqual(mag, 0x7F, TV.Splat(float.NaN), v);
    }
}

/// <summary>fp8 e5m2 (bias 15, with infinities): as e4m3 with the rebias 2^112; exponent 31 is ±inf (m = 0) or NaN.</summary>
internal struct E5M2Words<TAt> : IWordDecoder where TAt : struct, IBitOffset
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TV Decode<TV>(TV words) where TV : unmanaged, IVec<TV>
    {
        TV b = TV.And(TAt.Bits == 0 ? words : TV.ShiftRight(words, TAt.Bits), 0xFF);
        TV mag = TV.And(b, 0x7F);
        TV v = TV.Mul(TV.ShiftLeft(mag, 21), TV.Splat(PackedWordConstants.TwoTo112));
        TV special = TV.Or(TV.Splat(float.PositiveInfinity), TV.ShiftLeft(TV.And(mag, 3), 21));
        v = TV.SelectWhereBitsAtLeast(mag, 0x7C, special, v);
        return TV.Or(v, TV.ShiftLeft(TV.And(b, 0x80), 24));
    }
}
