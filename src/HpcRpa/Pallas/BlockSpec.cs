using HpcRpa.Numerics;

namespace HpcRpa.Pallas;

/// <summary>index_map(*program_ids) -> block indices (written into <paramref name="block"/>).</summary>
public delegate void IndexMap(ReadOnlySpan<int> programIds, Span<int> block);

/// <summary>
/// pl.BlockSpec(block_shape, index_map): which block of an HBM array a grid step sees in VMEM. Element offset
/// = block index x block size [S16]. Blocks obey the tiling rule, checked against the array when the call runs.
/// </summary>
public sealed class BlockSpec(int[] blockShape, IndexMap indexMap, string? name = null)
{
    public int[] BlockShape { get; } = blockShape;
    public IndexMap IndexMap { get; } = indexMap;
    public string? Name { get; } = name;
}

/// <summary>pltpu.VMEM(shape, dtype): scratch that persists across grid steps.</summary>
public sealed record ScratchSpec(string Name, DType DType, params int[] Shape);
