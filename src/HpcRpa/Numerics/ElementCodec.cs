using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace HpcRpa.Numerics;

/// <summary>Reads and writes elements of any storage dtype as f32 (little-endian raw bytes).</summary>
public static class ElementCodec
{
    public static float Load(DType t, ReadOnlySpan<byte> raw, int index) => t switch
    {
        DType.F32 => BinaryPrimitives.ReadSingleLittleEndian(raw.Slice(index * 4, 4)),
        DType.BF16 => Bf16.ToFloat(BinaryPrimitives.ReadUInt16LittleEndian(raw.Slice(index * 2, 2))),
        DType.F16 => F16.ToFloat(BinaryPrimitives.ReadUInt16LittleEndian(raw.Slice(index * 2, 2))),
        DType.Fp8E4M3 => Fp8E4M3.ToFloat(raw[index]),
        DType.Fp8E5M2 => Fp8E5M2.ToFloat(raw[index]),
        DType.Int8 => (sbyte)raw[index],
        _ => throw new ArgumentException($"dtype {t.Name()} has no float encoding", nameof(t)),
    };

    public static void Store(DType t, Span<byte> raw, int index, float value)
    {
        switch (t)
        {
            case DType.F32: BinaryPrimitives.WriteSingleLittleEndian(raw.Slice(index * 4, 4), value); break;
            case DType.BF16: BinaryPrimitives.WriteUInt16LittleEndian(raw.Slice(index * 2, 2), Bf16.FromFloat(value)); break;
            case DType.F16: BinaryPrimitives.WriteUInt16LittleEndian(raw.Slice(index * 2, 2), F16.FromFloat(value)); break;
            case DType.Fp8E4M3: raw[index] = Fp8E4M3.FromFloat(value); break;
            case DType.Fp8E5M2: raw[index] = Fp8E5M2.FromFloat(value); break;
            case DType.Int8: raw[index] = (byte)Int8Quant.FromFloat(value); break;
            default: throw new ArgumentException($"dtype {t.Name()} has no float encoding", nameof(t));
        }
    }

    public static void Decode(DType t, ReadOnlySpan<byte> raw, Span<float> dst)
    {
        if (raw.Length < dst.Length * t.Bytes()) throw new ArgumentException($"{raw.Length} bytes hold fewer than {dst.Length} {t.Name()} elements", nameof(raw));
        switch (t)
        {
            case DType.F32: MemoryMarshal.Cast<byte, float>(raw)[..dst.Length].CopyTo(dst); break; // little-endian hosts only (x64, Arm64)
            case DType.BF16: Bf16.ToFloat(MemoryMarshal.Cast<byte, ushort>(raw)[..dst.Length], dst); break;
            case DType.Fp8E4M3: Fp8E4M3.ToFloat(raw[..dst.Length], dst); break;
            case DType.Fp8E5M2: Fp8E5M2.ToFloat(raw[..dst.Length], dst); break;
            default:
                for (int i = 0; i < dst.Length; i++) dst[i] = Load(t, raw, i);
                break;
        }
    }

    public static void Encode(DType t, ReadOnlySpan<float> src, Span<byte> raw)
    {
        if (raw.Length < src.Length * t.Bytes()) throw new ArgumentException($"{raw.Length} bytes cannot hold {src.Length} {t.Name()} elements", nameof(raw));
        switch (t)
        {
            case DType.F32: src.CopyTo(MemoryMarshal.Cast<byte, float>(raw)); break;
            case DType.BF16: Bf16.FromFloat(src, MemoryMarshal.Cast<byte, ushort>(raw)); break;
            default:
                for (int i = 0; i < src.Length; i++) Store(t, raw, i, src[i]);
                break;
        }
    }
}
