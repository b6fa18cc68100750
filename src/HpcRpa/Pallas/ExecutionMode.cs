namespace HpcRpa.Pallas;

/// <summary>
/// Functional runs compute values and charge cycles; timing-only runs charge the same cycles without
/// touching values (no buffers are allocated), for fast sweeps. Kernel code is the same in both.
/// </summary>
public enum ExecutionMode : byte
{
    Functional,
    TimingOnly,
}
