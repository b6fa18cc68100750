using HpcRpa.Errors;
using HpcRpa.Numerics;

namespace HpcRpa.Memory;

/// <summary>
/// One memory space of the emulated core (HBM, VMEM or SMEM) with its capacity enforced. In a timing-only
/// run allocations carry shapes and footprints but no values, so sweeps never touch gigabytes of memory.
/// </summary>
public sealed class MemoryPool : IDisposable
{
    private readonly List<Allocation> _owned = [];

    public MemoryPool(MemorySpace space, long capacity, bool holdsValues)
    {
        Space = space;
        Capacity = capacity;
        HoldsValues = holdsValues;
    }

    public MemorySpace Space { get; }
    public long Capacity { get; }
    public bool HoldsValues { get; }
    public long Used { get; private set; }
    public long Peak { get; private set; }
    public long Remaining => Capacity - Used;

    public Ref Allocate(string name, DType dtype, params int[] shape)
    {
        foreach (var d in shape)
            if (d < 0) throw new ArgumentOutOfRangeException(nameof(shape), $"'{name}': negative dim in [{string.Join(", ", shape)}]");
        long exact = dtype.Bytes();
        foreach (var d in shape) exact *= d;
        long footprint = Space switch
        {
            MemorySpace.Vmem => TilingRule.PaddedBytes(shape, dtype),
            MemorySpace.Smem => TilingRule.Align(exact, 4),
            _ => TilingRule.Align(exact, 512),
        };
        Reserve(name, footprint);
        var alloc = new Allocation(name, Space, footprint, HoldsValues ? new NativeBuffer(exact) : null);
        _owned.Add(alloc);
        return Ref.Whole(alloc, dtype, shape);
    }

    /// <summary>An HBM array over memory the caller owns (zero-copy); counts against capacity like any other.</summary>
    public Ref Wrap(string name, DType dtype, int[] shape, NativeBuffer buffer)
    {
        long exact = dtype.Bytes();
        foreach (var d in shape) exact *= d;
        if (exact > buffer.Length) throw new ArgumentException($"'{name}': shape [{string.Join(", ", shape)}] of {dtype.Name()} needs {exact} bytes, buffer has {buffer.Length}");
        Reserve(name, exact);
        var alloc = new Allocation(name, Space, exact, HoldsValues ? buffer : null);
        return Ref.Whole(alloc, dtype, shape);
    }

    private void Reserve(string name, long footprint)
    {
        if (footprint > Remaining)
        {
            if (Space == MemorySpace.Vmem) throw new VmemOutOfMemoryException(name, footprint, Remaining, Capacity);
            throw new MemorySpaceFullException(Space.ToString().ToUpperInvariant(), name, footprint, Remaining, Capacity);
        }
        Used += footprint;
        Peak = Math.Max(Peak, Used);
    }

    public void Free(Ref r)
    {
        var a = r.Root;
        if (a.Freed) return;
        a.Freed = true;
        Used -= a.Footprint;
        if (_owned.Remove(a)) a.Buffer?.Dispose();
        a.Buffer = null;
    }

    /// <summary>
    /// Gives back <paramref name="r"/>'s footprint but keeps its memory: a session's kernel between calls. To the
    /// space's accounting this is a <see cref="Free"/>; <see cref="Reclaim"/> takes the footprint back.
    /// </summary>
    internal void Release(Ref r)
    {
        var a = r.Root;
        if (a.Freed) return;
        a.Freed = true;
        Used -= a.Footprint;
    }

    /// <summary>
    /// Takes a released allocation's footprint back, as a fresh <see cref="Allocate"/> of it would (the same
    /// out-of-memory error, counted in <see cref="Peak"/>, ready at cycle 0); its values are what it last held.
    /// </summary>
    internal void Reclaim(Ref r)
    {
        var a = r.Root;
        if (!a.Freed) return;
        Reserve(a.Name, a.Footprint);
        a.Freed = false;
        a.ReadyAt = 0;
    }

    /// <summary>Starts a new run's high-water mark at what is in use now.</summary>
    internal void ResetPeak() => Peak = Used;

    public void Dispose()
    {
        foreach (var a in _owned) { a.Buffer?.Dispose(); a.Buffer = null; a.Freed = true; }
        _owned.Clear();
        Used = 0;
    }
}
