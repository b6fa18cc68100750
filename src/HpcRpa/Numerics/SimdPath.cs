using System.Runtime.Intrinsics;

namespace HpcRpa.Numerics;

/// <summary>Which vector width a primitive runs with. Every path gives bit-identical results (tested).</summary>
public enum SimdPath : byte
{
    Auto,
    Scalar,
    V128,
    V256,
    V512,
}

public static class SimdPaths
{
    /// <summary>The widest accelerated width on this host.</summary>
    public static SimdPath Best { get; } =
        Vector512.IsHardwareAccelerated ? SimdPath.V512 :
        Vector256.IsHardwareAccelerated ? SimdPath.V256 :
        Vector128.IsHardwareAccelerated ? SimdPath.V128 : SimdPath.Scalar;

    /// <summary>The paths usable here, scalar first.</summary>
    public static IReadOnlyList<SimdPath> Available { get; } = new[] { SimdPath.Scalar, SimdPath.V128, SimdPath.V256, SimdPath.V512 }
        .Where(p => p == SimdPath.Scalar || Resolve(p) == p).ToArray();

    /// <summary>Auto becomes <see cref="Best"/>; a width the host does not accelerate falls back to the next narrower one that it does.</summary>
    public static SimdPath Resolve(SimdPath p)
    {
        if (p == SimdPath.Auto) return Best;
        if (p == SimdPath.V512 && !Vector512.IsHardwareAccelerated) p = SimdPath.V256;
        if (p == SimdPath.V256 && !Vector256.IsHardwareAccelerated) p = SimdPath.V128;
        if (p == SimdPath.V128 && !Vector128.IsHardwareAccelerated) p = SimdPath.Scalar;
        return p;
    }
}
