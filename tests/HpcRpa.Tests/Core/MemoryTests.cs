using HpcRpa.Errors;
using HpcRpa.Hardware;
using HpcRpa.Memory;
using HpcRpa.Numerics;
using HpcRpa.Pallas;

namespace HpcRpa.Tests.Core;

public class MemoryTests
{
    [Fact]
    public void VmemAllocationThatDoesNotFitNamesBytesAskedAndLeft()
    {
        using var ctx = new KernelContext(ChipPresets.Tpu7x, ExecutionMode.TimingOnly); // 64 MiB VMEM
        ctx.Vmem.Allocate("a", DType.F32, 4096, 2048); // 32 MiB
        ctx.Vmem.Allocate("b", DType.F32, 2048, 2048); // 16 MiB -> 16 MiB left
        var e = Assert.Throws<VmemOutOfMemoryException>(() => ctx.Vmem.Allocate("big", DType.BF16, 8192, 2048)); // 32 MiB
        Assert.Equal(32L << 20, e.Requested);
        Assert.Equal(16L << 20, e.Remaining);
        Assert.Equal("big", e.Buffer);
        Assert.Contains("33,554,432", e.Message);
        Assert.Contains("16,777,216", e.Message);
    }

    [Fact]
    public void VmemFootprintIsPaddedToTiles()
    {
        // bf16 tiles are 16 x 128: a [5, 100] bf16 buffer occupies one 16 x 128 tile = 4 KiB.
        Assert.Equal(16 * 128 * 2, TilingRule.PaddedBytes([5, 100], DType.BF16));
        Assert.Equal(8 * 128 * 4 * 3, TilingRule.PaddedBytes([3, 8, 128], DType.F32));
        Assert.Equal(64 * 256, TilingRule.PaddedBytes([33, 129], DType.Int8)); // 8-bit tiles are 32 x 128
    }

    [Theory]
    [InlineData(DType.F32, 8, 128, true)]
    [InlineData(DType.F32, 4, 128, false)]
    [InlineData(DType.BF16, 8, 128, false)]   // 16-bit needs 16 rows
    [InlineData(DType.BF16, 16, 256, true)]
    [InlineData(DType.Int8, 16, 128, false)]  // 8-bit needs 32 rows
    [InlineData(DType.Int8, 32, 128, true)]
    [InlineData(DType.F32, 8, 100, false)]
    public void BlockShapesObeyTheTilingRule(DType t, int rows, int cols, bool ok)
    {
        int[] array = [1024, 1024];
        if (ok) TilingRule.CheckBlock("x", [rows, cols], array, t);
        else Assert.Throws<TilingException>(() => TilingRule.CheckBlock("x", [rows, cols], array, t));
    }

    [Fact]
    public void BlockEqualToTheFullArrayDimIsAllowed()
    {
        TilingRule.CheckBlock("x", [3, 100], [3, 100], DType.BF16);
    }

    [Fact]
    public void RefViewsCheckBoundsWhenMade()
    {
        using var ctx = new KernelContext(ChipPresets.V5e);
        var r = ctx.Vmem.Allocate("r", DType.F32, 4, 8, 128);
        Assert.Throws<IndexOutOfRangeException>(() => r[4]);
        Assert.Throws<ArgumentOutOfRangeException>(() => r.Slice(1, 6, 3));
        var v = r[2].Slice(0, 2, 4);
        Assert.Equal(4 * 128, v.ElementCount);
        v.Matrix<float>()[1, 5] = 42f;
        Assert.Equal(42f, r.Span<float>()[(2 * 8 + 3) * 128 + 5]);
    }

    [Fact]
    public void TimingOnlyPoolsHoldNoValues()
    {
        using var ctx = new KernelContext(ChipPresets.V5e, ExecutionMode.TimingOnly);
        var r = ctx.Hbm.Allocate("big", DType.F32, 1 << 20, 1024); // 4 GiB, never materialised
        Assert.False(r.HasValues);
        Assert.Throws<NoValuesException>(() => r.Span<float>());
    }
}
