namespace HpcRpa.Memory;

/// <summary>One allocation in a memory space: its footprint, its values (functional mode only) and when its contents are ready.</summary>
public sealed class Allocation
{
    internal Allocation(string name, MemorySpace space, long footprint, NativeBuffer? buffer)
    {
        Name = name;
        Space = space;
        Footprint = footprint;
        Buffer = buffer;
    }

    public string Name { get; }
    public MemorySpace Space { get; }
    /// <summary>Bytes charged against the space's capacity (VMEM: padded to whole tiles).</summary>
    public long Footprint { get; }
    /// <summary>The values; null in a timing-only run.</summary>
    public NativeBuffer? Buffer { get; internal set; }
    /// <summary>Cycle at which the last compute op writing this allocation finishes (data dependence for later ops).</summary>
    public long ReadyAt { get; set; }
    public bool Freed { get; internal set; }
}
