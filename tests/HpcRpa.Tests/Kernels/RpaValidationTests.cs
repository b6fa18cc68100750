using HpcRpa.Errors;
using HpcRpa.Hardware;
using HpcRpa.Kernels.RaggedPagedAttention;
using HpcRpa.Numerics;
using HpcRpa.Workloads;

namespace HpcRpa.Tests.Kernels;

/// <summary>Every bad input gets a typed error naming field, index and value, and the cache is left as it was.</summary>
public class RpaValidationTests
{
    private static BuiltBatch Batch() => BatchBuilder.Build(new ModelPreset("t", 4, 2, 64, 1),
        [new(SegmentKind.Decode, 2, 1, 30), new(SegmentKind.Mixed, 2, 9, 20)], 16, DType.BF16, DType.BF16, seed: 2);

    private static ValidationException Fails(Func<RpaProblem, RpaProblem> mutate, RpaOptions? options = null)
    {
        var b = Batch();
        var p = mutate(b.Problem);
        var before = (byte[])p.KvCache.Clone();
        var e = Assert.Throws<ValidationException>(() => RpaRunner.Run(ChipPresets.Tpu7x, p, options ?? b.Options));
        Assert.Equal(before, p.KvCache);
        return e;
    }

    [Fact]
    public void KvLenBeyondThePageTable()
    {
        var e = Fails(p => { var k = (int[])p.KvLens.Clone(); k[1] = p.PagesPerSeq * p.PageSize + 1; return p with { KvLens = k }; });
        Assert.Equal("kv_lens", e.Field);
        Assert.Equal(1, e.Index);
        Assert.Contains("pages_per_seq", e.Message);
    }

    [Fact]
    public void PageIndexOutOfRange()
    {
        var e = Fails(p => { var pi = (int[])p.PageIndices.Clone(); pi[p.PagesPerSeq * 2] = p.NumPages; return p with { PageIndices = pi }; });
        Assert.Equal("page_indices", e.Field);
        Assert.Equal(2 * Batch().Problem.PagesPerSeq, e.Index);
        Assert.Equal(Batch().Problem.NumPages.ToString(), e.Value);
    }

    [Fact]
    public void CuQLensNotMonotonic()
    {
        var e = Fails(p => { var c = (int[])p.CuQLens.Clone(); c[3] = c[2] - 1; return p with { CuQLens = c }; });
        Assert.Equal("cu_q_lens", e.Field);
        Assert.Equal(3, e.Index);
    }

    [Fact]
    public void CuQLensBeyondTheTokenCount()
    {
        var e = Fails(p => { var c = (int[])p.CuQLens.Clone(); for (int i = 4; i < c.Length; i++) c[i] = p.MaxNumTokens + 1; var k = (int[])p.KvLens.Clone(); k[3] = 400; return p with { CuQLens = c, KvLens = k }; });
        Assert.Equal("cu_q_lens", e.Field);
        Assert.Contains("max_num_tokens", e.Message);
    }

    [Fact]
    public void DistributionInconsistentWithQueryLengths()
    {
        var e = Fails(p => p with { Distribution = [3, 3, 4] }); // sequence 2 has 9 new tokens, not a decode
        Assert.Equal("cu_q_lens", e.Field);
        Assert.Contains("decode range", e.Message);
        var e2 = Fails(p => p with { Distribution = [2, 1, 4] });
        Assert.Equal("distribution", e2.Field);
    }

    [Fact]
    public void QLenLongerThanKvLen()
    {
        var e = Fails(p => { var k = (int[])p.KvLens.Clone(); k[2] = 3; return p with { KvLens = k }; });
        Assert.Equal("kv_lens", e.Field);
        Assert.Equal(2, e.Index);
        Assert.Contains("q_len", e.Message);
    }

    [Fact]
    public void TwoSequencesWritingOneSlot()
    {
        var e = Fails(p => { var pi = (int[])p.PageIndices.Clone(); pi[1 * p.PagesPerSeq + 1] = pi[0 * p.PagesPerSeq + 1]; return p with { PageIndices = pi }; });
        Assert.Equal("page_indices", e.Field);
        Assert.Contains("both write", e.Message);
    }

    /// <summary>Sequence 1 (decode, 30 cached tokens) reads as its page 0 the page 1 of sequence 2 (mixed, 9 new on 20), whose new tokens go to slots 4–12 there.</summary>
    [Fact]
    public void ASlotReadAsCachedAndWrittenAsNew()
    {
        var e = Fails(p => { var pi = (int[])p.PageIndices.Clone(); pi[1 * p.PagesPerSeq] = pi[2 * p.PagesPerSeq + 1]; return p with { PageIndices = pi }; });
        Assert.Equal("page_indices", e.Field);
        Assert.Equal(Batch().Problem.PagesPerSeq, e.Index);
        Assert.Contains("race", e.Message);
        Assert.Contains("sequence 2 writes", e.Message);
    }

    /// <summary>Sharing a page only for reading (a common prefix) is fine: both sequences read it, neither writes it.</summary>
    [Fact]
    public void APageSharedForReadingIsValid()
    {
        var b = Batch();
        var pi = (int[])b.Problem.PageIndices.Clone();
        pi[1 * b.Problem.PagesPerSeq] = pi[0]; // decode sequences 0 and 1 share their first (fully cached) page
        var p = b.Problem with { PageIndices = pi };
        var r = RpaRunner.Run(ChipPresets.Tpu7x, p, b.Options);
        Assert.NotNull(r.Output);
    }

    [Fact]
    public void ShapesAndDtypes()
    {
        Assert.Equal("num_q_heads", Fails(p => p with { NumQHeads = 5 }).Field);
        Assert.Equal("kv_cache.dtype", Fails(p => p with { KvDType = DType.Int8 }).Field);
        Assert.Equal("queries.dtype", Fails(p => p with { QDType = DType.Fp8E4M3 }).Field);
        Assert.Equal("kv_cache", Fails(p => p with { KvCache = new byte[10] }).Field);
        Assert.Equal("queries", Fails(p => p with { Queries = new byte[10] }).Field);
        Assert.Equal("page_indices", Fails(p => p with { PageIndices = new int[3] }).Field);
    }

    [Theory]
    [InlineData("sliding_window", "must be positive")]
    [InlineData("soft_cap", "must not be 0.0")]
    [InlineData("k_scale", "positive")]
    [InlineData("mixed_block_sizes.bkv_sz", "divisible by bkv_csz")]
    [InlineData("mixed_block_sizes.bkv_csz", "divisible by page_size")]
    [InlineData("mixed_block_sizes.bq_sz", "divisible by bq_csz")]
    [InlineData("mixed_block_sizes", "VMEM")]
    public void BadOptionsAndBlockSizes(string field, string message)
    {
        var o = Batch().Options;
        o = field switch
        {
            "sliding_window" => o with { SlidingWindow = 0 },
            "soft_cap" => o with { SoftCap = 0.0 },
            "k_scale" => o with { KScale = -1 },
            "mixed_block_sizes.bkv_sz" => o with { MixedBlocks = new RpaBlockSizes(8, 48, 8, 32) },
            "mixed_block_sizes.bkv_csz" => o with { MixedBlocks = new RpaBlockSizes(8, 48, 8, 24) },
            "mixed_block_sizes.bq_sz" => o with { MixedBlocks = new RpaBlockSizes(12, 32, 8, 16) },
            _ => o with { MixedBlocks = new RpaBlockSizes(8, 1 << 20, 8, 16) },
        };
        var e = Fails(p => p, o);
        Assert.Equal(field, e.Field);
        Assert.Contains(message, e.Message);
    }
}
