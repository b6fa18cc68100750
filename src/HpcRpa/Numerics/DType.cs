namespace HpcRpa.Numerics;

/// <summary>Element types the emulated TPU stores and moves.</summary>
public enum DType : byte
{
    F32,
    BF16,
    F16,
    Fp8E4M3,
    Fp8E5M2,
    Int8,
    Int32,
}

public static class DTypeInfo
{
    public static int Bits(this DType t) => t switch
    {
        DType.F32 or DType.Int32 => 32,
        DType.BF16 or DType.F16 => 16,
        DType.Fp8E4M3 or DType.Fp8E5M2 or DType.Int8 => 8,
        _ => throw new ArgumentOutOfRangeException(nameof(t), t, "unknown dtype"),
    };

    public static int Bytes(this DType t) => t.Bits() / 8;

    /// <summary>Elements sharing one 32-bit word along the sublane axis (rpa.md notation `packing`).</summary>
    public static int Packing(this DType t) => 32 / t.Bits();

    /// <summary>Rows of one (sublane) tile in VMEM: 8 x packing (tpu-hardware.md 1.4, JAX get_sublane_tiling).</summary>
    public static int SublaneTile(this DType t) => 8 * t.Packing();

    public static bool IsFloat(this DType t) => t is not (DType.Int8 or DType.Int32);

    public static string Name(this DType t) => t switch
    {
        DType.F32 => "f32",
        DType.BF16 => "bf16",
        DType.F16 => "f16",
        DType.Fp8E4M3 => "fp8_e4m3",
        DType.Fp8E5M2 => "fp8_e5m2",
        DType.Int8 => "int8",
        DType.Int32 => "int32",
        _ => t.ToString(),
    };

    public static DType Parse(string s) => s.Trim().ToLowerInvariant() switch
    {
        "f32" or "float32" or "fp32" => DType.F32,
        "bf16" or "bfloat16" => DType.BF16,
        "f16" or "float16" or "fp16" => DType.F16,
        "fp8" or "e4m3" or "fp8_e4m3" or "fp8e4m3" or "float8_e4m3fn" or "e4m3fn" => DType.Fp8E4M3,
        "e5m2" or "fp8_e5m2" or "fp8e5m2" or "float8_e5m2" => DType.Fp8E5M2,
        "int8" or "i8" => DType.Int8,
        "int32" or "i32" => DType.Int32,
        _ => throw new ArgumentException($"unknown dtype '{s}' (expected f32, bf16, f16, fp8_e4m3, fp8_e5m2, int8)", nameof(s)),
    };
}
