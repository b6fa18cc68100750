using System.Buffers.Binary;

namespace HpcRpa.Reference;

/// <summary>The reference's own element types; nothing shared with the kernels, on purpose.</summary>
public enum RefDType
{
    F32,
    BF16,
    F16,
    Fp8E4M3,
    Fp8E5M2,
}

/// <summary>
/// Element conversions written from the format definitions, independently of HpcRpa.Numerics: decode by
/// sign/exponent/mantissa arithmetic in double; encode by searching the nearest representable value with
/// ties to the even code.
/// </summary>
public static class RefCodec
{
    public static int Bytes(RefDType t) => t switch { RefDType.F32 => 4, RefDType.BF16 or RefDType.F16 => 2, _ => 1 };

    public static int Packing(RefDType t) => 4 / Bytes(t);

    public static double Decode(RefDType t, ReadOnlySpan<byte> raw, int index)
    {
        switch (t)
        {
            case RefDType.F32: return BinaryPrimitives.ReadSingleLittleEndian(raw.Slice(index * 4, 4));
            case RefDType.BF16: return BitConverter.Int32BitsToSingle(BinaryPrimitives.ReadUInt16LittleEndian(raw.Slice(index * 2, 2)) << 16);
            case RefDType.F16: return (double)BitConverter.UInt16BitsToHalf(BinaryPrimitives.ReadUInt16LittleEndian(raw.Slice(index * 2, 2)));
            case RefDType.Fp8E4M3: return DecodeSmall(raw[index], 4, 3, 7, hasInf: false);
            default: return DecodeSmall(raw[index], 5, 2, 15, hasInf: true);
        }
    }

    public static void Encode(RefDType t, Span<byte> raw, int index, double value)
    {
        switch (t)
        {
            case RefDType.F32: BinaryPrimitives.WriteSingleLittleEndian(raw.Slice(index * 4, 4), (float)value); break;
            case RefDType.BF16: BinaryPrimitives.WriteUInt16LittleEndian(raw.Slice(index * 2, 2), (ushort)EncodeBySearch(value, 16, b => BitConverter.Int32BitsToSingle(b << 16))); break;
            case RefDType.F16: BinaryPrimitives.WriteUInt16LittleEndian(raw.Slice(index * 2, 2), BitConverter.HalfToUInt16Bits((Half)value)); break;
            case RefDType.Fp8E4M3: raw[index] = (byte)EncodeBySearch(value, 8, b => DecodeSmall((byte)b, 4, 3, 7, false)); break;
            default: raw[index] = (byte)EncodeBySearch(value, 8, b => DecodeSmall((byte)b, 5, 2, 15, true)); break;
        }
    }

    /// <summary>Rounds to the format (through its own encode/decode).</summary>
    public static double Round(RefDType t, double value)
    {
        Span<byte> b = stackalloc byte[4];
        Encode(t, b, 0, value);
        return Decode(t, b, 0);
    }

    private static double DecodeSmall(byte b, int eBits, int mBits, int bias, bool hasInf)
    {
        int s = b >> 7, e = (b >> mBits) & ((1 << eBits) - 1), m = b & ((1 << mBits) - 1);
        double v;
        if (e == (1 << eBits) - 1 && hasInf) v = m == 0 ? double.PositiveInfinity : double.NaN;
        else if (e == (1 << eBits) - 1 && !hasInf && m == (1 << mBits) - 1) v = double.NaN;
        else if (e == 0) v = m * Math.Pow(2, 1 - bias - mBits);
        else v = (1 + m / (double)(1 << mBits)) * Math.Pow(2, e - bias);
        return s == 1 ? -v : v;
    }

    /// <summary>
    /// Nearest finite code by exhaustive search over the non-negative codes (ties: the even code); beyond the
    /// largest finite value: infinity where the format has it, else NaN (ml_dtypes' cast). bf16 searches 2^15.
    /// </summary>
    private static int EncodeBySearch(double value, int bits, Func<int, double> decode)
    {
        int signBit = 1 << (bits - 1);
        if (double.IsNaN(value)) return FindNaN(bits, decode);
        int sign = value < 0 || (value == 0 && double.IsNegative(value)) ? signBit : 0;
        double a = Math.Abs(value);
        int best = -1;
        double bestErr = double.PositiveInfinity, maxFinite = 0;
        int maxCode = 0, infCode = -1;
        for (int c = 0; c < signBit; c++)
        {
            double v = decode(c);
            if (double.IsNaN(v)) continue;
            if (double.IsInfinity(v)) { infCode = c; continue; }
            if (v > maxFinite) { maxFinite = v; maxCode = c; }
            double err = Math.Abs(v - a);
            if (err < bestErr || (err == bestErr && (c & 1) == 0)) { bestErr = err; best = c; }
        }
        if (double.IsInfinity(a)) return infCode >= 0 ? sign | infCode : sign | FindNaN(bits, decode);
        // Overflow: above the midpoint between the largest finite value and the next step up.
        double step = maxFinite - decode(maxCode - 1);
        if (a > maxFinite + step / 2 || (a == maxFinite + step / 2 && (maxCode & 1) == 1))
            return infCode >= 0 ? sign | infCode : sign | FindNaN(bits, decode);
        return sign | best;
    }

    private static int FindNaN(int bits, Func<int, double> decode)
    {
        for (int c = (1 << (bits - 1)) - 1; c >= 0; c--) if (double.IsNaN(decode(c))) return c;
        throw new InvalidOperationException("format has no NaN");
    }
}

/// <summary>The packed KV-cache layout of rpa.md 2.3, computed from its definition.</summary>
public static class RefLayout
{
    public static int Align(int x, int a) => (x + a - 1) / a * a;

    /// <summary>Byte offset of element (page, slot, combined head c, lane d): 32-bit words [page, slot, c/pk, lane], element c%pk inside the word.</summary>
    public static long KvByteOffset(int page, int slot, int c, int d, int pageSize, int numKvHeads, int headDim, RefDType kv)
    {
        int pk = RefCodec.Packing(kv);
        int rows = Align(2 * numKvHeads, pk) / pk;
        int d128 = Align(headDim, 128);
        return ((((long)page * pageSize + slot) * rows + c / pk) * d128 + d) * 4 + (c % pk) * RefCodec.Bytes(kv);
    }

    public static long KvCacheBytes(int numPages, int pageSize, int numKvHeads, int headDim, RefDType kv)
    {
        int pk = RefCodec.Packing(kv);
        return (long)numPages * pageSize * (Align(2 * numKvHeads, pk) / pk) * Align(headDim, 128) * 4;
    }
}
