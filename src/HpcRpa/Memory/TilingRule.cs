using HpcRpa.Errors;
using HpcRpa.Numerics;

namespace HpcRpa.Memory;

/// <summary>
/// The Pallas TPU block-shape rule (tpu-hardware.md 1.4, [S11][S16]): the last two dims of a block are
/// multiples of (8 x packing, 128) — 8 for 32-bit, 16 for 16-bit, 32 for 8-bit — or equal the array's dims.
/// VMEM allocations are padded up to whole tiles, which is what a footprint costs.
/// </summary>
public static class TilingRule
{
    public const int Lanes = 128;

    public static void CheckBlock(string name, ReadOnlySpan<int> block, ReadOnlySpan<int> array, DType dtype)
    {
        if (block.Length != array.Length)
            throw new TilingException($"block '{name}': rank {block.Length} does not match array rank {array.Length}");
        int r = block.Length;
        if (r == 0) return;
        int sub = dtype.SublaneTile();
        int last = block[r - 1];
        if (last % Lanes != 0 && last != array[r - 1])
            throw new TilingException($"block '{name}': last dim {last} is neither a multiple of {Lanes} nor the full dim {array[r - 1]} ({dtype.Name()})");
        if (r >= 2)
        {
            int second = block[r - 2];
            if (second % sub != 0 && second != array[r - 2])
                throw new TilingException($"block '{name}': second-to-last dim {second} is neither a multiple of {sub} (sublane tile of {dtype.Name()}) nor the full dim {array[r - 2]}");
        }
    }

    /// <summary>Bytes a VMEM buffer of this shape occupies once padded to (8·packing, 128) tiles.</summary>
    public static long PaddedBytes(ReadOnlySpan<int> shape, DType dtype)
    {
        int r = shape.Length;
        if (r == 0) return 4;
        long lanes = Align(shape[r - 1], Lanes);
        long rows = r >= 2 ? Align(shape[r - 2], dtype.SublaneTile()) : 1;
        long lead = 1;
        for (int i = 0; i < r - 2; i++) lead *= shape[i];
        if (r == 1) return Align(lanes * dtype.Bytes(), 512);
        return lead * rows * lanes * dtype.Bytes();
    }

    public static long Align(long x, long a) => (x + a - 1) / a * a;
}
