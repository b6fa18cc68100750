using HpcRpa.Engines;
using HpcRpa.Hardware;
using HpcRpa.Timeline;

namespace HpcRpa.Tests.Core;

/// <summary>The MXU cost formula: SCALE-Sim weight-stationary folds, one start-up bubble per pipeline.</summary>
public class MxuTimingTests
{
    /// <summary>A chip with one MXU so a single fold lands on a known unit.</summary>
    private static ChipSpec OneMxu(int rows, int cols) => ChipPresets.V5e with { Name = "one-mxu", MxusPerCore = 1, MxuRows = rows, MxuCols = cols };

    [Theory]
    [InlineData(128, 128, 128, 128, 128)]   // exact array
    [InlineData(128, 128, 100, 77, 120)]    // ragged: m, k, n not multiples of the array
    [InlineData(128, 128, 1, 1, 1)]         // one element
    [InlineData(256, 256, 8, 256, 256)]     // decode-like: few streamed rows
    [InlineData(256, 256, 200, 13, 250)]    // ragged on a 256 array
    [InlineData(128, 64, 50, 100, 60)]      // non-square array
    public void OneFoldOnOneMxuCostsTheFoldFormula(int r, int c, int m, int k, int n)
    {
        // m, n <= C and k <= R: either orientation is one fold; the streamed dimension is the other operand's
        // rows, and the model streams the shorter one.
        var tl = new Timeline.Timeline(OneMxu(r, c));
        long end = tl.Mxu.Matmul(0, 0, m, n, k, MxuInput.Bf16, "mm");
        long t = Math.Min(m, n);
        Assert.Equal(2L * r + c + t - 2, end);
        Assert.Equal(end, tl.Mxu.Units[0].BusyCycles);
    }

    [Fact]
    public void SingleFoldExactValues()
    {
        var tl = new Timeline.Timeline(OneMxu(128, 128));
        Assert.Equal(2 * 128 + 128 + 100 - 2, tl.Mxu.Matmul(0, 0, 100, 128, 77, MxuInput.Bf16, "mm")); // 482
        Assert.Equal(482, MxuArray.FoldCycles(128, 128, 100));
    }

    [Fact]
    public void FoldsInOneOpPipeline_FirstPaysTheBubbleTheRestMaxOfTAndR()
    {
        var tl = new Timeline.Timeline(OneMxu(128, 128));
        // B stationary: k = 300 -> 3 row folds, n = 200 -> 2 column folds: 6 folds streaming T = m = 512.
        // A stationary: 3 x ceil(512/128) = 12 folds streaming T = n = 200. The model takes the cheaper.
        long end = tl.Mxu.Matmul(0, 0, 512, 200, 300, MxuInput.Bf16, "mm");
        long bStationaryCost = (2 * 128 + 128 + 512 - 2) + 5 * 512;   // 3454
        long aStationaryCost = (2 * 128 + 128 + 200 - 2) + 11 * 200;  // 2782
        Assert.Equal(Math.Min(bStationaryCost, aStationaryCost), end);
        // m = n: both orientations are 2 x 4 = 8 folds of T = 512: one bubble, then 7 pipelined folds.
        var tl1 = new Timeline.Timeline(OneMxu(128, 128));
        Assert.Equal((2 * 128 + 128 + 512 - 2) + 7 * 512, tl1.Mxu.Matmul(0, 0, 512, 512, 200, MxuInput.Bf16, "mm"));

        // Short streams: each further fold waits for its weights (R cycles), not T.
        var tl2 = new Timeline.Timeline(OneMxu(128, 128));
        long end2 = tl2.Mxu.Matmul(0, 0, 16, 256, 256, MxuInput.Bf16, "mm"); // B: 4 folds of T=16; A-stationary: 2 folds of T=256
        long bStationary = (2 * 128 + 128 + 16 - 2) + 3 * 128;
        long aStationary = (2 * 128 + 128 + 256 - 2) + 1 * 256;
        Assert.Equal(Math.Min(bStationary, aStationary), end2);
    }

    [Fact]
    public void BackToBackOpsContinueThePipeline_AnIdleGapPaysTheBubbleAgain()
    {
        var tl = new Timeline.Timeline(OneMxu(128, 128));
        long first = tl.Mxu.Matmul(0, 0, 256, 128, 128, MxuInput.Bf16, "a");
        Assert.Equal(2 * 128 + 128 + 256 - 2, first);
        // Issued while the MXU is still busy: queued back to back, weights load during the stream, no bubble.
        long second = tl.Mxu.Matmul(10, 0, 256, 128, 128, MxuInput.Bf16, "b");
        Assert.Equal(first + 256, second);
        // Issued after the MXU went idle: a new pipeline, full fold cost again.
        long third = tl.Mxu.Matmul(second + 1000, 0, 256, 128, 128, MxuInput.Bf16, "c");
        Assert.Equal(second + 1000 + (2 * 128 + 128 + 256 - 2), third);
    }

    [Fact]
    public void FoldsAreDealtOverAllMxus()
    {
        var chip = ChipPresets.V5e; // 4 MXUs of 128
        var tl = new Timeline.Timeline(chip);
        // 8 folds (k 256 -> 2, n 512 -> 4), T = 512: two folds per MXU.
        long end = tl.Mxu.Matmul(0, 0, 512, 512, 256, MxuInput.Bf16, "mm");
        Assert.Equal((2 * 128 + 128 + 512 - 2) + 512, end);
        Assert.All(tl.Mxu.Units, u => Assert.Equal(end, u.BusyCycles));
        Assert.Equal(2.0 * 512 * 512 * 256, tl.Flops);
    }

    [Fact]
    public void PrecisionChangesTheStream()
    {
        var chip = OneMxu(128, 128);
        var f32 = new Timeline.Timeline(chip);
        Assert.Equal(2 * 128 + 128 + 3 * 64 - 2, f32.Mxu.Matmul(0, 0, 64, 128, 128, MxuInput.F32, "mm")); // 3 bf16 passes (assumption)
        var fp8 = new Timeline.Timeline(ChipPresets.Tpu7x with { MxusPerCore = 1 });
        Assert.Equal(2 * 256 + 256 + 32 - 2, fp8.Mxu.Matmul(0, 0, 64, 256, 256, MxuInput.Fp8, "mm")); // 2x rate on 7x
    }
}
