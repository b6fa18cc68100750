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

    /// <summary>Row-wise copy elision for this block's values (functional mode), when a kernel asked for it.</summary>
    public RowBindings? Rows { get; private set; }

    /// <summary>
    /// Lets DMAs fill this block by binding rows of <paramref name="rowBytes"/> to their HBM sources instead of
    /// copying (see <see cref="RowBindings"/>). Null in a timing-only run, where there are no values to bind.
    /// </summary>
    public RowBindings? EnableRowBinding(long rowBytes)
    {
        if (Buffer is null) return null;
        if (rowBytes <= 0 || Buffer.Length % rowBytes != 0)
            throw new ArgumentException($"'{Name}': {Buffer.Length} bytes are not a whole number of {rowBytes}-byte rows", nameof(rowBytes));
        return Rows ??= new RowBindings(this, checked((int)(Buffer.Length / rowBytes)), rowBytes);
    }
}
