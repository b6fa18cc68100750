using HpcRpa.Hardware;
using HpcRpa.Kernels.RaggedPagedAttention;
using HpcRpa.Numerics;
using HpcRpa.Pallas;

namespace HpcRpa.Tests.Kernels;

public class RpaEdgeCaseTests
{
    private static readonly (int Q, int Kv)[] Ragged = [(1, 1), (1, 17), (7, 7), (3, 40), (16, 33)];

    [Theory]
    [InlineData(8, 1, 64, DType.F32)]    // G = 8
    [InlineData(4, 4, 64, DType.F32)]    // MHA
    [InlineData(8, 2, 256, DType.BF16)]  // head_dim 256
    [InlineData(6, 2, 80, DType.F32)]    // head_dim 80
    [InlineData(16, 2, 128, DType.BF16)]
    public void HeadShapes(int hq, int hkv, int d, DType dt) =>
        RpaReferenceMatrixTests.AssertMatches(RpaTestData.Build(Ragged, hq, hkv, d, dt, dt, pageSize: 8, numPages: 64),
            new RpaOptions { MixedBlocks = new(8, 16, 4, 8) });

    [Fact]
    public void DefaultBlocksWithARaggedLastComputeChunk()
    {
        // On tpu7x the heuristic gives this batch mixed blocks (64, 576, 64, 512): 576 is not a multiple of 512.
        var p = RpaTestData.Build([(128, 1152)], 32, 8, 128, DType.BF16, DType.BF16, pageSize: 64, numPages: 24);
        var blocks = RpaBlockSizes.Default(RpaCase.Mixed, ChipPresets.Tpu7x, p.QDType, p.KvDType, 32, 8, 128, 64, p.MaxNumTokens, p.PagesPerSeq);
        Assert.NotEqual(0, blocks.Bkv % blocks.BkvCompute);
        RpaReferenceMatrixTests.AssertMatches(p, new RpaOptions());
    }

    [Fact]
    public void ZeroLengthSequencesAndPaddedTokensAreSkipped()
    {
        // Sequence 1 has no new tokens this step; rows past cu_q_lens[num_seqs] are padding.
        var p = RpaTestData.Build([(4, 20), (0, 9), (2, 2)], 4, 2, 64, DType.F32, DType.F32, pageSize: 8, numPages: 32);
        RpaReferenceMatrixTests.AssertMatches(p, new RpaOptions { MixedBlocks = new(8, 16, 4, 8) });
    }

    [Fact]
    public void DecodePrefillAndMixedRangesEachRunTheirOwnVariant()
    {
        (int, int)[] seqs = [(1, 30), (1, 5), (8, 8), (8, 20), (5, 12), (1, 3)];
        var p = RpaTestData.Build(seqs, 8, 2, 64, DType.BF16, DType.BF16, pageSize: 4, numPages: 64, distribution: [2, 4, 6]);
        var o = new RpaOptions { ChunkPrefillSize = 8, DecodeBlocks = new(1, 16, 1, 8), PrefillBlocks = new(4, 8, 2, 4), MixedBlocks = new(8, 16, 4, 8) };
        RpaReferenceMatrixTests.AssertMatches(p, o);
        var r = RpaRunner.Run(ChipPresets.V6e, RpaTestData.Build(seqs, 8, 2, 64, DType.BF16, DType.BF16, pageSize: 4, numPages: 64, distribution: [2, 4, 6]), o);
        Assert.Equal(["RPAd-p_4-bq_1_1-bkv_16_8", "RPAp-p_4-bq_4_2-bkv_8_4", "RPAm-p_4-bq_8_4-bkv_16_8"], r.Cases.Select(c => c.Scope));
    }

    [Fact]
    public void PrefillRangeWithoutChunkSizeIsStillComputed()
    {
        // Upstream skips the prefill call when chunk_prefill_size is None (caveat C1); HpcRpa computes it.
        var p = RpaTestData.Build([(1, 9), (6, 6), (6, 10)], 4, 2, 64, DType.F32, DType.F32, pageSize: 4, numPages: 32, distribution: [1, 3, 3]);
        RpaReferenceMatrixTests.AssertMatches(p, new RpaOptions { PrefillBlocks = new(4, 8, 2, 4) });
    }

    [Theory]
    [InlineData(3, true)]
    [InlineData(9, true)]
    [InlineData(3, false)]
    public void WindowSmallerThanABlockWritesEveryNewToken(int window, bool causal)
    {
        // A long prefill with a small window: the last q block starts past the first KV blocks (caveat C2).
        var p = RpaTestData.Build([(40, 50), (1, 30)], 4, 2, 64, DType.F32, DType.F32, pageSize: 4, numPages: 40);
        RpaReferenceMatrixTests.AssertMatches(p, new RpaOptions { SlidingWindow = window, Causal = causal, MixedBlocks = new(8, 8, 4, 4) });
    }

    [Fact]
    public void SoftCapWithScalesOnFp8()
    {
        var p = RpaTestData.Build(Ragged, 8, 2, 128, DType.BF16, DType.Fp8E4M3, pageSize: 8, numPages: 64);
        RpaReferenceMatrixTests.AssertMatches(p, new RpaOptions { SoftCap = 20, SmScale = 0.2, QScale = 0.25, KScale = 0.5, VScale = 1.5, MixedBlocks = new(8, 16, 4, 8) });
    }

    [Fact]
    public void FusedUpdateWritesExactlyTheNewSlotsAndACanarySurvives()
    {
        var p = RpaTestData.Build(Ragged, 4, 2, 64, DType.BF16, DType.BF16, pageSize: 8, numPages: 64);
        for (int i = 0; i < p.KvCache.Length; i++) p.KvCache[i] = (byte)(0x5A ^ (i * 7));
        var before = (byte[])p.KvCache.Clone();
        RpaRunner.Run(ChipPresets.Tpu7x, p, new RpaOptions { MixedBlocks = new(8, 16, 4, 8) });
        long tokenBytes = p.Layout.TokenBytes;
        var written = new HashSet<long>();
        for (int s = 0; s < Ragged.Length; s++)
            for (int pos = Ragged[s].Kv - Ragged[s].Q; pos < Ragged[s].Kv; pos++)
                written.Add((long)p.PageIndices[s * p.PagesPerSeq + pos / 8] * 8 + pos % 8);
        for (long slot = 0; slot < (long)p.NumPages * 8; slot++)
        {
            var a = before.AsSpan((int)(slot * tokenBytes), (int)tokenBytes);
            var b = p.KvCache.AsSpan((int)(slot * tokenBytes), (int)tokenBytes);
            if (written.Contains(slot)) Assert.False(a.SequenceEqual(b), $"slot {slot} should have been written");
            else Assert.True(a.SequenceEqual(b), $"slot {slot} changed but holds no new token");
        }
    }

    [Fact]
    public void RunsAreBitIdenticalInOutputsAndCycles()
    {
        RpaResult Once() => RpaRunner.Run(ChipPresets.Tpu7x, RpaTestData.Build(RpaTestData.Rng5, 8, 2, 128, DType.BF16, DType.BF16), new RpaOptions());
        var a = Once();
        var b = Once();
        Assert.Equal(a.Output, b.Output);
        Assert.Equal(a.Report.Cycles, b.Report.Cycles);
        Assert.Equal(a.Report.Events, b.Report.Events);
    }

    [Fact]
    public void TimingOnlyChargesTheSameCyclesAsFunctional()
    {
        var p = RpaTestData.Build(RpaTestData.Rng5, 8, 2, 128, DType.BF16, DType.BF16);
        var f = RpaRunner.Run(ChipPresets.V6e, p, new RpaOptions());
        var t = RpaRunner.Run(ChipPresets.V6e, p with { Queries = [], Keys = [], Values = [], KvCache = [] }, new RpaOptions(), ExecutionMode.TimingOnly);
        Assert.Equal(f.Report.Cycles, t.Report.Cycles);
        Assert.Equal(f.Report.DmaCount, t.Report.DmaCount);
        Assert.Null(t.Output);
    }
}
