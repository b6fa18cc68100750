namespace HpcRpa.Memory;

/// <summary>Where a buffer lives (Pallas: pl.ANY/HBM, pltpu.VMEM, pltpu.SMEM).</summary>
public enum MemorySpace : byte
{
    Hbm,
    Vmem,
    Smem,
}
