using HpcRpa.Hardware;
using HpcRpa.Memory;
using HpcRpa.Numerics;
using HpcRpa.Pallas;

namespace HpcRpa.Tests.Core;

/// <summary>
/// Copy elision of functional DMAs into a row block: a bound row reads its source; every reader that does not know
/// rows, and every write over a bound source, sees exactly what an eager copy at DMA start would have left.
/// </summary>
public unsafe class RowBindingTests
{
    private const int Rows = 6, Lanes = 128, Inner = 3, Pitch = 5; // a row holds Pitch x Lanes words, copies fill Inner x Lanes

    private static (KernelContext Ctx, Ref Src, Ref Block, RowBindings Bound) Setup()
    {
        var ctx = new KernelContext(ChipPresets.V6e);
        var src = ctx.Hbm.Allocate("src", DType.Int32, Rows, Inner, Lanes);
        var s = src.Span<int>();
        for (int i = 0; i < s.Length; i++) s[i] = 1000 + i;
        var block = ctx.Vmem.Allocate("block", DType.Int32, Rows * Pitch, Lanes).Reshape(Rows, Pitch, Lanes);
        var bound = ctx.BindableRows(block, Pitch * Lanes * 4)!;
        return (ctx, src, block, bound);
    }

    private static void Copy(KernelContext ctx, Ref from, Ref to)
    {
        var sem = ctx.Semaphore("s");
        var c = ctx.MakeAsyncCopy(from, to, sem);
        c.Start();
        c.Wait();
    }

    private static int Word(Ref block, int row, int i) => block.Span<int>()[row * Pitch * Lanes + i];

    [Fact]
    public void ACopyOfWholeRowPrefixesBindsInsteadOfMoving()
    {
        var (ctx, src, block, bound) = Setup();
        using var _ = ctx;
        Copy(ctx, src.Slice(0, 1, 4), block.Slice(0, 2, 4).Slice(1, 0, Inner));
        Assert.True(bound.AnyBound);
        for (int r = 2; r < 6; r++) Assert.Equal((nint)src.Slice(0, r - 1, 1).RawPointer, bound.Addresses[r]);
        Assert.Equal((nint)block.RawPointer, bound.Addresses[0]); // untouched rows read the block itself
        // The block's own bytes were not written: the copy was elided.
        Assert.Equal(0, *(int*)(block.RawPointer + 2 * Pitch * Lanes * 4));
    }

    [Fact]
    public void AReaderThatDoesNotKnowRowsSeesTheCopiedValues()
    {
        var (ctx, src, block, bound) = Setup();
        using var _ = ctx;
        Copy(ctx, src, block.Slice(1, 0, Inner));
        Assert.True(bound.AnyBound);
        for (int r = 0; r < Rows; r++)
            for (int i = 0; i < Inner * Lanes; i++) Assert.Equal(1000 + r * Inner * Lanes + i, Word(block, r, i));
        Assert.False(bound.AnyBound); // materialised for that reader
    }

    [Fact]
    public void AWriteOverABoundSourceFirstGivesTheRowsTheirOldBytes()
    {
        var (ctx, src, block, bound) = Setup();
        using var _ = ctx;
        Copy(ctx, src, block.Slice(1, 0, Inner));
        var other = ctx.Hbm.Allocate("other", DType.Int32, 1, Inner, Lanes);
        other.Span<int>().Fill(-7);
        Copy(ctx, other, src.Slice(0, 3, 1)); // overwrite the source of row 3 only
        Assert.Equal(-7, src.Span<int>()[3 * Inner * Lanes]);
        Assert.True(bound.AnyBound);
        Assert.Equal((nint)(block.RawPointer + 3 * Pitch * Lanes * 4), bound.Addresses[3]); // row 3 took its bytes
        Assert.Equal((nint)src.Slice(0, 2, 1).RawPointer, bound.Addresses[2]);                // the others stay bound
        for (int i = 0; i < Inner * Lanes; i++) Assert.Equal(1000 + 3 * Inner * Lanes + i, Word(block, 3, i));
    }

    [Fact]
    public void AfterManyRebindsAWriteStillFindsEveryRowBoundToIt()
    {
        var (ctx, src, block, bound) = Setup();
        using var _ = ctx;
        // One run over every row, then 60 single-row rebinds of rows 1-5 (more runs than the list first holds, so
        // superseded runs are swept); row 0 keeps the first run alive.
        Copy(ctx, src, block.Slice(1, 0, Inner));
        var from = new int[Rows];
        for (int r = 0; r < Rows; r++) from[r] = r;
        var rng = new Random(5);
        for (int i = 0; i < 60; i++)
        {
            int r = 1 + rng.Next(Rows - 1), sr = rng.Next(Rows);
            Copy(ctx, src.Slice(0, sr, 1), block.Slice(0, r, 1).Slice(1, 0, Inner));
            from[r] = sr;
        }
        var other = ctx.Hbm.Allocate("other", DType.Int32, Rows, Inner, Lanes);
        other.Span<int>().Fill(-7);
        Copy(ctx, other, src); // every source row overwritten: every bound row must take its bytes first
        Assert.False(bound.AnyBound);
        for (int r = 0; r < Rows; r++)
            for (int i = 0; i < Inner * Lanes; i++) Assert.Equal(1000 + from[r] * Inner * Lanes + i, Word(block, r, i));
    }

    [Fact]
    public void CopiesOutOfBoundRowsReadTheSourcesWithoutMaterialising()
    {
        var (ctx, src, block, bound) = Setup();
        using var _ = ctx;
        Copy(ctx, src, block.Slice(1, 0, Inner));
        var dst = ctx.Hbm.Allocate("dst", DType.Int32, 2, Inner, Lanes);
        Copy(ctx, block.Slice(0, 4, 2).Slice(1, 0, Inner), dst);
        Assert.True(bound.AnyBound);
        var d = dst.Span<int>();
        for (int i = 0; i < d.Length; i++) Assert.Equal(1000 + 4 * Inner * Lanes + i, d[i]);
    }

    [Fact]
    public void WithoutCopyElisionTheBytesMove()
    {
        var (ctx, src, block, bound) = Setup();
        using var _ = ctx;
        ctx.CopyElision = false;
        Copy(ctx, src, block.Slice(1, 0, Inner));
        Assert.False(bound.AnyBound);
        Assert.Equal(1000, *(int*)block.RawPointer);
    }

    [Fact]
    public void TimingOnlyRunsHaveNothingToBind()
    {
        using var ctx = new KernelContext(ChipPresets.V6e, ExecutionMode.TimingOnly);
        var block = ctx.Vmem.Allocate("block", DType.Int32, Rows * Pitch, Lanes);
        Assert.Null(ctx.BindableRows(block, Pitch * Lanes * 4));
    }
}
