using HpcRpa.Errors;
using HpcRpa.Hardware;
using HpcRpa.Kernels.KvCacheUpdate;
using HpcRpa.Numerics;
using HpcRpa.Pallas;
using HpcRpa.Reference;
using HpcRpa.Workloads;

namespace HpcRpa.Tests.Kernels;

public class KvUpdateKernelTests
{
    /// <summary>The official test data (rpa.md 5.3): 7 slices of lengths [7, P, P, 1, 1, 1, 9].</summary>
    private static KvUpdateProblem Official(int P, int C, int D, int nPad, int seed)
    {
        int[] lens = [7, P, P, 1, 1, 1, 9];
        int[] starts = [2 * P - 7, 2 * P, 3 * P, 4 * P + 6, 5 * P + 7, 6 * P + 8, 15 * P + 3];
        var slices = new int[3 * nPad];
        int acc = 0;
        for (int i = 0; i < 7; i++)
        {
            slices[i] = starts[i];
            slices[nPad + i] = acc;
            slices[2 * nPad + i] = lens[i];
            acc += lens[i];
        }
        var rng = new HpcRpa.Memory.SplitMix64((ulong)seed);
        return new KvUpdateProblem
        {
            NumTokens = 128, Combined = C, HeadDim = D, PageSize = P, NumPages = 20, DType = DType.BF16,
            NewKv = BatchBuilder.RandomBytes(DType.BF16, 128L * C * D, ref rng),
            KvCache = new byte[20L * P * C * D * 2],
            Slices = slices, NumSlices = 7,
        };
    }

    public static IEnumerable<object[]> OfficialMatrix()
    {
        foreach (int P in new[] { 32, 33 })
            foreach (int C in new[] { 2, 16 })
                foreach (int D in new[] { 128, 256 })
                    foreach (int? nb in new int?[] { null, 4, 8 })
                        foreach (var g in new[] { KvUpdateGrid.Padded, KvUpdateGrid.Dynamic })
                            yield return [P, C, D, nb!, g];
    }

    [Theory]
    [MemberData(nameof(OfficialMatrix))]
    public void MatchesTheReferenceExactlyOnTheOfficialMatrix(int P, int C, int D, int? nb, KvUpdateGrid grid)
    {
        int blocks = nb ?? KvUpdateProblem.AutoSlicesPerBlock(P, C, D, DType.BF16);
        int nPad = (7 + blocks - 1) / blocks * blocks;
        var p = Official(P, C, D, nPad, P * 1000 + C * 10 + D);
        // Canary: every cache byte starts at a pattern the update must leave alone outside the slices.
        for (int i = 0; i < p.KvCache.Length; i++) p.KvCache[i] = (byte)(0xA5 ^ i);
        var expected = (byte[])p.KvCache.Clone();
        KvUpdateReference.Run(p.NewKv, expected, (int)p.RowBytes, p.Slices, p.NumSlices);
        var r = KvUpdateKernel.Run(ChipPresets.V6e, p, grid, nb);
        Assert.Equal(expected, p.KvCache);
        Assert.True(r.Report.Cycles > 0);
    }

    [Theory]
    [InlineData("v6e", 16)]
    [InlineData("tpu7x", 32)]
    [InlineData("v5e", 64)]
    public void DynamicGridIssuesFewerDmasAndCyclesWheneverPaddingExistsAndWritesTheSameCache(string chip, int pageSize)
    {
        var spec = ChipPresets.Get(chip);
        var a = KvUpdateWorkload.Build(ModelPreset.Llama3_8B, KvUpdateWorkload.DefaultSegments, pageSize, DType.BF16, seed: 5);
        var b = KvUpdateWorkload.Build(ModelPreset.Llama3_8B, KvUpdateWorkload.DefaultSegments, pageSize, DType.BF16, seed: 5);
        Assert.True(a.PaddedSlices > a.NumSlices);
        var padded = KvUpdateKernel.Run(spec, a, KvUpdateGrid.Padded);
        var dynamic = KvUpdateKernel.Run(spec, b, KvUpdateGrid.Dynamic);
        Assert.Equal(a.KvCache, b.KvCache);
        Assert.True(dynamic.Report.DmaCount < padded.Report.DmaCount);
        Assert.True(dynamic.Report.Cycles < padded.Report.Cycles);
        Assert.Equal(padded.Report.HbmBytes, dynamic.Report.HbmBytes); // the trivial copies move nothing
        int nb = padded.SlicesPerBlock;
        Assert.Equal(2L * a.PaddedSlices + 1, padded.Report.DmaCount);                      // + the SMEM prefetch
        Assert.Equal(2L * ((a.NumSlices + nb - 1) / nb * nb) + 1, dynamic.Report.DmaCount);
    }

    [Fact]
    public void WithoutPaddingBothGridsAreTheSame()
    {
        var p = Official(32, 2, 128, 7, 1);
        var q = Official(32, 2, 128, 7, 1);
        var a = KvUpdateKernel.Run(ChipPresets.V6e, p, KvUpdateGrid.Padded, 7);
        var b = KvUpdateKernel.Run(ChipPresets.V6e, q, KvUpdateGrid.Dynamic, 7);
        Assert.Equal(a.Report.Cycles, b.Report.Cycles);
        Assert.Equal(a.Report.DmaCount, b.Report.DmaCount);
    }

    /// <summary>The nine mutations of tpu-inference's test_invalid_inputs (rpa.md 5.3), each a typed error, cache untouched.</summary>
    [Theory]
    [InlineData(1, 0, -1, "new_kv_start", "must be greater than or equal to 0")]
    [InlineData(0, 0, -1, "kv_cache_start", "must be greater than or equal to 0")]
    [InlineData(2, 0, 0, "slice_len", "greater than 0")]
    [InlineData(2, 0, 33, "slice_len", "less or equal to page_size=32")]
    [InlineData(1, 0, 128, "new_kv_start", "new_kv_start=128 + slice_len=7 must be less or equal to new_token_num=128")]
    [InlineData(0, 0, 640, "kv_cache_start", "kv_cache_start=640 + slice_len=7 must be less or equal to kv_cache_token_num=640")]
    [InlineData(-1, 0, 0, "kv_cache_start", "Each slice must reside in the same page")]
    [InlineData(1, 1, 8, "new_kv_start", "is expected to equal")]
    [InlineData(0, 4, -2, "kv_cache_start", "Overlap detected")]
    public void InvalidSlicesRaiseTheTypedErrorAndWriteNothing(int row, int col, int value, string field, string message)
    {
        var p = Official(32, 2, 128, 8, 3);
        if (row == -1) { p.Slices[0] = 31; p.Slices[16] = 32; }          // start 31 with length 32 crosses a page
        else if (value == -2) p.Slices[4] = p.Slices[3];                    // slice 4 starts where slice 3 does
        else p.Slices[row * 8 + col] = value;
        for (int i = 0; i < p.KvCache.Length; i++) p.KvCache[i] = (byte)i;
        var before = (byte[])p.KvCache.Clone();
        var e = Assert.Throws<ValidationException>(() => KvUpdateKernel.Run(ChipPresets.V6e, p, KvUpdateGrid.Dynamic, 8));
        Assert.Contains(field, e.Field);
        Assert.Contains(message, e.Message);
        Assert.Equal(before, p.KvCache);
    }
}
