using HpcRpa.Hardware;

namespace HpcRpa.Tests.Core;

public class ChipSpecTests
{
    [Fact]
    public void DerivedClocksMatchTheBookWhereItGivesOne()
    {
        // v5e ~1.5 GHz, v5p ~1.75 GHz (scaling-book [S7]); the model derives them from peak and MXU geometry.
        Assert.InRange(ChipPresets.V5e.ClockHz, 1.49e9, 1.51e9);
        Assert.InRange(ChipPresets.V5p.ClockHz, 1.74e9, 1.76e9);
    }

    [Fact]
    public void RidgePointsMatchTheSpecTable()
    {
        Assert.InRange(ChipPresets.V5e.RidgeFlopsPerByte, 240, 242);
        Assert.InRange(ChipPresets.V5p.RidgeFlopsPerByte, 165, 167);
        Assert.InRange(ChipPresets.V6e.RidgeFlopsPerByte, 559, 561);
        Assert.InRange(ChipPresets.Tpu7x.RidgeFlopsPerByte, 312, 314);
    }

    [Fact]
    public void JsonOverridesAPresetAndRejectsTypos()
    {
        var spec = ChipPresets.FromJson("""{"base": "v6e", "Name": "v6e-2x-hbm", "HbmBandwidthPerChip": 3.276e12}""");
        Assert.Equal("v6e-2x-hbm", spec.Name);
        Assert.Equal(3.276e12, spec.HbmBandwidthPerChip);
        Assert.Equal(ChipPresets.V6e.PeakBf16FlopsPerChip, spec.PeakBf16FlopsPerChip);
        Assert.Throws<ArgumentException>(() => ChipPresets.FromJson("""{"base": "v6e", "HbmBandwith": 1}"""));
        var bad = Assert.Throws<ChipSpecException>(() => ChipPresets.FromJson("""{"base": "v6e", "MxusPerCore": 0}"""));
        Assert.Equal("MxusPerCore", bad.Field);
        var roundTrip = ChipPresets.FromJson(ChipPresets.ToJson(ChipPresets.Tpu7x));
        Assert.Equal(ChipPresets.Tpu7x, roundTrip);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(0)]
    [InlineData(7)]
    public void SmemReadCostIsAChipSettingWithAJsonOverride(int cycles)
    {
        var chip = ChipPresets.FromJson($$"""{"base": "v6e", "SmemReadCycles": {{cycles}}}""");
        Assert.Equal(cycles, chip.SmemReadCycles);
        var tl = new Timeline.Timeline(chip);
        long before = tl.Now, issuedBefore = tl.Scalar.IssueCycles;
        tl.Scalar.SmemRead(3);
        Assert.Equal(3L * cycles, tl.Now - before);
        Assert.Equal(3L * cycles, tl.Scalar.IssueCycles - issuedBefore);
    }

    [Fact]
    public void SmemReadCostDefaultsToOneCycleAndCannotBeNegative()
    {
        Assert.All(ChipPresets.All, c => Assert.Equal(1, c.SmemReadCycles));
        var bad = Assert.Throws<ChipSpecException>(() => ChipPresets.FromJson("""{"base": "v6e", "SmemReadCycles": -1}"""));
        Assert.Equal("SmemReadCycles", bad.Field);
        Assert.Equal("-1", bad.Value);
    }

    /// <summary>A VMEM-to-VMEM copy of B bytes takes the descriptor and ⌈B / LocalCopyBytesPerCycle⌉ cycles, the setting from JSON.</summary>
    [Theory]
    [InlineData(4096, 100_000)]
    [InlineData(1024, 100_000)]
    public void LocalCopyRateIsAChipSettingWithAJsonOverride(double bytesPerCycle, long bytes)
    {
        var chip = ChipPresets.FromJson($$"""{"base": "v6e", "LocalCopyBytesPerCycle": {{bytesPerCycle}}}""");
        var tl = new Timeline.Timeline(chip);
        long done = tl.Dma.Start(0, 0, bytes, HpcRpa.Memory.MemorySpace.Vmem, HpcRpa.Memory.MemorySpace.Vmem, "local");
        Assert.Equal(tl.Dma.DescriptorCycles + (long)Math.Ceiling(bytes / bytesPerCycle), done);
        Assert.Equal(0, tl.HbmBytesRead + tl.HbmBytesWritten);
        var bad = Assert.Throws<ChipSpecException>(() => ChipPresets.FromJson("""{"base": "v6e", "LocalCopyBytesPerCycle": 0}"""));
        Assert.Equal("LocalCopyBytesPerCycle", bad.Field);
    }
}
