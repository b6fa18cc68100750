using System.Text.Json.Serialization;

namespace HpcRpa.Hardware;

/// <summary>
/// One TPU generation as the core model sees it. Chip-level figures are the published ones (sources in
/// <see cref="ChipPresets"/> and docs/chips.md, keys [S1]..[S21] of shared/spec/tpu-hardware.md); the model
/// emulates one TensorCore, so per-core figures divide by <see cref="TensorCoresPerChip"/> as JAX's
/// tpu_info does [S6]. Fields marked "assumption" have no public source; they are settings, never tuned
/// to hit an expected result.
/// </summary>
public sealed record ChipSpec
{
    public required string Name { get; init; }

    // ---- published topology and peaks (per chip unless named per core) ----
    public required int TensorCoresPerChip { get; init; }
    public required int MxusPerCore { get; init; }
    public required int MxuRows { get; init; }
    public required int MxuCols { get; init; }
    public required double PeakBf16FlopsPerChip { get; init; }
    /// <summary>fp8 MXU rate relative to bf16 (7x: 2 [S5][S8]; v5e/v5p/v6e: 1, the Cloud table lists fp8 at the bf16 rate [S3][S5]).</summary>
    public required double Fp8RateMultiplier { get; init; }
    /// <summary>int8 MXU rate relative to bf16 (v5e 393/197, v5p 918/459, v6e 1836/918; 7x has no int8 MXU path, int8 runs as bf16 [S6]).</summary>
    public required double Int8RateMultiplier { get; init; }
    public required double HbmBytesPerChip { get; init; }
    public required double HbmBandwidthPerChip { get; init; }
    public required long VmemBytesPerCore { get; init; }
    public required long SmemBytesPerCore { get; init; }
    public int Lanes { get; init; } = 128;      // [S6][S7]
    public int Sublanes { get; init; } = 8;     // [S6][S7]
    /// <summary>Native bf16 VPU/EUP arithmetic exists from v6 on; earlier chips widen to f32 (spec 2.8).</summary>
    public required bool NativeBf16Vpu { get; init; }

    // ---- clock: derived, not published (spec 1.3) ----
    /// <summary>
    /// Core clock. Only v5e (~1.5 GHz) and v5p (~1.75 GHz) have a (book) figure [S7]; the model uses the
    /// value that makes the documented MXU count and array size reproduce the published peak
    /// (peak per core / (MXUs x rows x cols x 2)), which matches the book for v5e/v5p and is the only
    /// self-consistent choice for v6e/7x. Override it and the MXU peak moves with it.
    /// </summary>
    [JsonIgnore] public double ClockHz => PeakBf16FlopsPerCore / (MxusPerCore * (double)MxuRows * MxuCols * 2.0);

    // ---- assumptions (no public figure; named settings) ----
    /// <summary>Assumption: VPU ALUs per (lane, sublane). v5p has 4 [S7]; unknown elsewhere, 4 assumed.</summary>
    public int VpuAlus { get; init; } = 4;
    /// <summary>Vector loads per cycle (v5p: 3 [S7]); assumed the same elsewhere.</summary>
    public int VregLoadsPerCycle { get; init; } = 3;
    /// <summary>Vector stores per cycle (v5p: 1 [S7]); assumed the same elsewhere.</summary>
    public int VregStoresPerCycle { get; init; } = 1;
    /// <summary>Latency of a VPU op (most arithmetic: 2 cycles [S7]).</summary>
    public int VpuLatencyCycles { get; init; } = 2;
    /// <summary>Assumption: EUP cycles per vreg for exp/tanh/reciprocal (no public figure; JAX only says "medium" cost [S11]).</summary>
    public double EupCyclesPerVreg { get; init; } = 2;
    /// <summary>XLUs per core: v5p and v6e have 2 [S7][S4]; assumed 2 elsewhere.</summary>
    public int XluCount { get; init; } = 2;
    /// <summary>Assumption: XLU cycles per vreg for a cross-lane reduction (spec 3.4: "slow", no number published).</summary>
    public double XluReduceCyclesPerVreg { get; init; } = 8;
    /// <summary>Assumption: XLU cycles per vreg for a transpose.</summary>
    public double XluTransposeCyclesPerVreg { get; init; } = 8;
    /// <summary>Assumption: bf16 MXU passes for an f32 x f32 matmul (f32 at "high" precision = bf16x3).</summary>
    public int F32MatmulPasses { get; init; } = 3;
    /// <summary>Scalar-core cycles to issue one op or DMA descriptor (at most one DMA issue per cycle [S7]).</summary>
    public int ScalarIssueCycles { get; init; } = 1;
    /// <summary>
    /// Assumption: scalar-core cycles to read one SMEM word (prefetched metadata such as slot mappings).
    /// SMEM latency is not published (spec 4); one cycle, the issue rate, is assumed.
    /// </summary>
    public int SmemReadCycles { get; init; } = 1;
    /// <summary>Assumption: HBM access latency seen by a DMA, ns (third-party ~250 ns for Ironwood-class parts [S21]).</summary>
    public double DmaLatencyNs { get; init; } = 250;
    /// <summary>Assumption: DMA engine time per descriptor, ns (small DMAs run far below peak, vLLM #20415; no figure published).</summary>
    public double DmaDescriptorNs { get; init; } = 20;
    /// <summary>Assumption: DMA descriptors processed concurrently by the DMA engines of one core.</summary>
    public int DmaQueues { get; init; } = 4;
    /// <summary>
    /// Assumption: bytes a VMEM- or SMEM-local copy moves per cycle — one 4 KiB vreg (8 sublanes × 128 lanes × 4 B,
    /// [S7][S11]); local copy bandwidth is not published.
    /// </summary>
    public double LocalCopyBytesPerCycle { get; init; } = 4096;
    /// <summary>
    /// Per-grid-step overhead of a pallas_call pipeline, ns. Derived for v5e from the JAX matmul tutorial's
    /// published 8192^3 / 128^3 run (0.350 us per step, spec 3.1 [S13]); no figure elsewhere, same value assumed.
    /// </summary>
    public double GridStepOverheadNs { get; init; } = 350;
    /// <summary>
    /// Host dispatch per kernel call as seen by Python `timeit` (calibrated on v5e from the tutorial's
    /// 1024^3 run with 512x1024x1024 blocks, see docs/calibration.md); only added when a run asks for it.
    /// </summary>
    public double HostDispatchNs { get; init; } = 110_000;

    // ---- derived per-core figures ----
    [JsonIgnore] public double PeakBf16FlopsPerCore => PeakBf16FlopsPerChip / TensorCoresPerChip;
    [JsonIgnore] public double HbmBandwidthPerCore => HbmBandwidthPerChip / TensorCoresPerChip;
    [JsonIgnore] public double HbmBytesPerCore => HbmBytesPerChip / TensorCoresPerChip;
    [JsonIgnore] public double RidgeFlopsPerByte => PeakBf16FlopsPerCore / HbmBandwidthPerCore;
    [JsonIgnore] public double HbmBytesPerCycle => HbmBandwidthPerCore / ClockHz;

    public long NsToCycles(double ns) => (long)Math.Ceiling(ns * 1e-9 * ClockHz);
    public double CyclesToSeconds(long cycles) => cycles / ClockHz;

    /// <summary>Checks the record is usable; a JSON override goes through this too.</summary>
    public void Validate()
    {
        void Pos(double v, string field)
        {
            if (!(v > 0) || double.IsInfinity(v))
                throw new ChipSpecException(Name, field, v.ToString(System.Globalization.CultureInfo.InvariantCulture), "must be a positive finite number");
        }
        Pos(TensorCoresPerChip, nameof(TensorCoresPerChip));
        Pos(MxusPerCore, nameof(MxusPerCore));
        Pos(MxuRows, nameof(MxuRows));
        Pos(MxuCols, nameof(MxuCols));
        Pos(PeakBf16FlopsPerChip, nameof(PeakBf16FlopsPerChip));
        Pos(Fp8RateMultiplier, nameof(Fp8RateMultiplier));
        Pos(Int8RateMultiplier, nameof(Int8RateMultiplier));
        Pos(HbmBytesPerChip, nameof(HbmBytesPerChip));
        Pos(HbmBandwidthPerChip, nameof(HbmBandwidthPerChip));
        Pos(VmemBytesPerCore, nameof(VmemBytesPerCore));
        Pos(SmemBytesPerCore, nameof(SmemBytesPerCore));
        Pos(Lanes, nameof(Lanes));
        Pos(Sublanes, nameof(Sublanes));
        Pos(VpuAlus, nameof(VpuAlus));
        Pos(VregLoadsPerCycle, nameof(VregLoadsPerCycle));
        Pos(VregStoresPerCycle, nameof(VregStoresPerCycle));
        Pos(EupCyclesPerVreg, nameof(EupCyclesPerVreg));
        Pos(XluCount, nameof(XluCount));
        Pos(XluReduceCyclesPerVreg, nameof(XluReduceCyclesPerVreg));
        Pos(XluTransposeCyclesPerVreg, nameof(XluTransposeCyclesPerVreg));
        Pos(F32MatmulPasses, nameof(F32MatmulPasses));
        Pos(DmaQueues, nameof(DmaQueues));
        if (!(LocalCopyBytesPerCycle > 0) || double.IsInfinity(LocalCopyBytesPerCycle))
            throw new ChipSpecException(Name, nameof(LocalCopyBytesPerCycle), LocalCopyBytesPerCycle.ToString(System.Globalization.CultureInfo.InvariantCulture), "must be positive and finite");
        if (ScalarIssueCycles < 0) throw new ChipSpecException(Name, nameof(ScalarIssueCycles), ScalarIssueCycles.ToString(), "must be >= 0");
        if (SmemReadCycles < 0) throw new ChipSpecException(Name, nameof(SmemReadCycles), SmemReadCycles.ToString(), "must be >= 0");
        if (VpuLatencyCycles < 0) throw new ChipSpecException(Name, nameof(VpuLatencyCycles), VpuLatencyCycles.ToString(), "must be >= 0");
        foreach (var (v, f) in new[] { (DmaLatencyNs, nameof(DmaLatencyNs)), (DmaDescriptorNs, nameof(DmaDescriptorNs)), (GridStepOverheadNs, nameof(GridStepOverheadNs)), (HostDispatchNs, nameof(HostDispatchNs)) })
            if (!(v >= 0) || double.IsInfinity(v)) throw new ChipSpecException(Name, f, v.ToString(System.Globalization.CultureInfo.InvariantCulture), "must be >= 0 and finite");
    }
}

public sealed class ChipSpecException(string chip, string field, string value, string problem)
    : Exception($"chip '{chip}': {field} = {value} {problem}")
{
    public string Chip { get; } = chip;
    public string Field { get; } = field;
    public string Value { get; } = value;
}
