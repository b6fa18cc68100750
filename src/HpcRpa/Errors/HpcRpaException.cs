namespace HpcRpa.Errors;

/// <summary>Base of every error HpcRpa raises on purpose; catch this to tell ours from bugs.</summary>
public class HpcRpaException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>A kernel input failed validation at the API boundary. Nothing was written.</summary>
public class ValidationException(string field, int? index, string value, string problem)
    : HpcRpaException(Format(field, index, value, problem))
{
    public string Field { get; } = field;
    public int? Index { get; } = index;
    public string Value { get; } = value;
    public string Problem { get; } = problem;

    private static string Format(string field, int? index, string value, string problem) =>
        index is int i ? $"{field}[{i}] = {value}: {problem}" : $"{field} = {value}: {problem}";
}

/// <summary>The emulated equivalent of Mosaic's scoped-VMEM OOM.</summary>
public sealed class VmemOutOfMemoryException(string buffer, long requested, long remaining, long capacity)
    : HpcRpaException($"VMEM out of memory allocating '{buffer}': asked {requested:N0} bytes, {remaining:N0} bytes left of {capacity:N0}")
{
    public string Buffer { get; } = buffer;
    public long Requested { get; } = requested;
    public long Remaining { get; } = remaining;
    public long Capacity { get; } = capacity;
}

/// <summary>A memory space other than VMEM ran out (HBM, SMEM).</summary>
public sealed class MemorySpaceFullException(string space, string buffer, long requested, long remaining, long capacity)
    : HpcRpaException($"{space} out of memory allocating '{buffer}': asked {requested:N0} bytes, {remaining:N0} bytes left of {capacity:N0}")
{
    public string Space { get; } = space;
    public long Requested { get; } = requested;
    public long Remaining { get; } = remaining;
}

/// <summary>A block shape placed in VMEM breaks the TPU tiling rule (last two dims multiples of (8·packing, 128) or the full dims).</summary>
public sealed class TilingException(string message) : HpcRpaException(message);

/// <summary>A DMA semaphore misuse: waiting for bytes that never arrive (a hang on hardware), or a kernel exiting with a non-zero semaphore (a crash on hardware).</summary>
public sealed class SemaphoreException(string message) : HpcRpaException(message);

/// <summary>A functional-mode operation was asked of a buffer that holds no values (timing-only run).</summary>
public sealed class NoValuesException(string buffer)
    : HpcRpaException($"buffer '{buffer}' holds no values: this run is timing-only");
