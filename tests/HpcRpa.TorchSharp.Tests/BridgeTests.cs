using HpcRpa.Dispatch;
using HpcRpa.Errors;
using HpcRpa.Hardware;
using HpcRpa.Kernels.RaggedPagedAttention;
using HpcRpa.Numerics;
using HpcRpa.Pallas;
using HpcRpa.Tests.Kernels;
using HpcRpa.TorchSharp.Compare;
using HpcRpa.TorchSharp.Reference;
using HpcRpa.TorchSharp.Tensors;
using TorchSharp;
using static TorchSharp.torch;

namespace HpcRpa.TorchSharp.Tests;

public class BridgeTests
{
    [Fact]
    public void ZeroCopyWritesThroughTheTensorAreSeenByHpcRpa()
    {
        using var t = zeros(4, 128, dtype: ScalarType.Float32);
        using var ctx = new KernelContext(ChipPresets.V6e);
        var r = TensorBridge.WrapHbm(ctx.Hbm, t, "t");
        t[2, 5] = tensor(42.5f);
        Assert.Equal(42.5f, r.Span<float>()[2 * 128 + 5]);
        r.Span<float>()[0] = -1f;                 // and the other way
        Assert.Equal(-1f, t[0, 0].item<float>());
        using var b = ones(8, 128, dtype: ScalarType.BFloat16);
        var rb = TensorBridge.WrapHbm(ctx.Hbm, b, "b");
        Assert.Equal(DType.BF16, rb.DType);
        b[7, 127] = tensor(3.0f).to_type(ScalarType.BFloat16);
        Assert.Equal(3.0f, Bf16.ToFloat(rb.Span<ushort>()[7 * 128 + 127]));
        var owned = new float[6];
        using var view = TensorBridge.ShareArray(owned, 2, 3);
        view[1, 2] = tensor(9f);
        Assert.Equal(9f, owned[5]);
    }

    /// <summary>A torch tensor shared as the KV cache is the kernels' cache itself: read and updated in place, no copy.</summary>
    [Fact]
    public void ACacheTensorSharedWithRpaIsReadAndUpdatedInPlace()
    {
        var p = RpaTestData.Build([(1, 30), (7, 40), (12, 12)], 8, 2, 128, DType.BF16, DType.BF16, pageSize: 16, numPages: 16);
        var o = new RpaOptions { SmScale = 0.1, MixedBlocks = new(16, 32, 8, 16) };
        var original = (byte[])p.KvCache.Clone();
        using var cache = tensor(p.KvCache); // uint8, a copy of the cache's bytes
        using var shared = TensorBridge.Share(cache, "kv_cache");
        var onTensor = new RpaDispatcher(ChipPresets.Tpu7x).Run(p with { KvCache = [], KvCacheBuffer = shared }, o);
        var onArray = new RpaDispatcher(ChipPresets.Tpu7x).Run(p, o);
        Assert.Equal(onArray.Output, onTensor.Output);
        Assert.NotEqual(original, p.KvCache);
        Assert.Equal(p.KvCache, cache.data<byte>().ToArray()); // the new tokens went into the tensor
    }

    [Fact]
    public void ShapesDtypesAndContiguityAreChecked()
    {
        using var t = randn(3, 4);
        var e = Assert.Throws<ValidationException>(() => TensorBridge.Prepare(t, "q", DType.BF16));
        Assert.Equal("q.dtype", e.Field);
        var s = Assert.Throws<ValidationException>(() => TensorBridge.Prepare(t, "q", DType.F32, 4, 3));
        Assert.Equal("q.shape", s.Field);
        using var tt = t.t();
        Assert.False(tt.is_contiguous());
        using var c = TensorBridge.Prepare(tt, "q", DType.F32, 4, 3); // made contiguous (a copy)
        Assert.True(c.is_contiguous());
        Assert.Equal(t[1, 2].item<float>(), c[2, 1].item<float>());
        Assert.Throws<ValidationException>(() => TensorBridge.Share(tt, "q"));
        using var i64 = zeros(2, dtype: ScalarType.Int64);
        Assert.Throws<ValidationException>(() => TensorBridge.DTypeOf(i64, "x"));
    }

    [Fact]
    public void RoundTripOfBytesKeepsEveryBit()
    {
        using var t = randn(5, 7).to_type(ScalarType.BFloat16);
        var bytes = TensorBridge.ToBytes(t, "t", DType.BF16, 5, 7);
        using var back = TensorBridge.FromBytes(bytes, DType.BF16, 5, 7);
        Assert.True(back.eq(t).all().item<bool>());
    }

    public static IEnumerable<object[]> Options() =>
    [
        [new RpaOptions()],
        [new RpaOptions { SlidingWindow = 5 }],
        [new RpaOptions { SoftCap = 30 }],
        [new RpaOptions { SmScale = 0.125, KScale = 0.5, VScale = 2 }],
        [new RpaOptions { Causal = false }],
    ];

    [Theory]
    [MemberData(nameof(Options))]
    public void TorchReferenceAgreesWithTheHpcRpaReference(RpaOptions o)
    {
        // (q_len, kv_len) = (1, 18), (5, 37), (16, 16); Hq 4, Hkv 2, D 64, P 16; pages in order.
        var p = RpaTestData.Build([(1, 18), (5, 37), (16, 16)], 4, 2, 64, DType.F32, DType.F32, pageSize: 16, numPages: 16);
        var (refOut, refCache) = ReferenceBridge.Run(p, o);
        var (torchOut, paths) = TorchComparison.Reference(p, o, refCache);
        for (int i = 0; i < refOut.Length; i++)
            Assert.True(Math.Abs(refOut[i] - torchOut[i]) <= 1e-5 * (1 + Math.Abs(refOut[i])), $"element {i}: torch {torchOut[i]} vs reference {refOut[i]}");
        Assert.All(paths, path => Assert.Equal(o.SoftCap is null ? TorchAttentionPath.Sdpa : TorchAttentionPath.Explicit, path));
    }

    [Fact]
    public void SdpaAndExplicitPathsAgree()
    {
        var p = RpaTestData.Build([(3, 20), (8, 8)], 4, 2, 64, DType.F32, DType.F32, pageSize: 8, numPages: 16);
        var (k, v) = TorchComparison.DecodePages(p, p.KvCache);
        using var q = TensorBridge.FromBytes(p.Queries, DType.F32, p.MaxNumTokens, 4, 64);
        var o = new TorchRpaOptions(SmScale: 0.2, SlidingWindow: 6);
        var (a, pa) = TorchPagedAttention.Run(q, k, v, p.KvLens, p.PageIndices, p.PagesPerSeq, p.CuQLens, p.NumSeqs, o);
        var (b, pb) = TorchPagedAttention.Run(q, k, v, p.KvLens, p.PageIndices, p.PagesPerSeq, p.CuQLens, p.NumSeqs, o, forceExplicit: true);
        Assert.Equal(TorchAttentionPath.Sdpa, pa[0]);
        Assert.Equal(TorchAttentionPath.Explicit, pb[0]);
        Assert.True(allclose(a, b, rtol: 1e-5, atol: 1e-6));
    }

    [Theory]
    [InlineData(DType.F32, DType.F32)]
    [InlineData(DType.BF16, DType.BF16)]
    [InlineData(DType.BF16, DType.Fp8E4M3)]
    public void ComparisonReportPassesPerSequenceAndHead(DType q, DType kv)
    {
        var p = RpaTestData.Build([(1, 30), (7, 40), (12, 12)], 8, 2, 128, q, kv, pageSize: 16, numPages: 16);
        var o = new RpaOptions { SmScale = 0.1, MixedBlocks = new(16, 32, 8, 16) };
        var r = new RpaDispatcher(ChipPresets.Tpu7x).Run(p, o);
        var report = TorchComparison.Compare(p, o, r.Output!, p.KvCache, r.Variant);
        Assert.Equal(3 * 8, report.Rows.Count);
        Assert.True(report.Pass, $"max abs err {report.MaxAbsErr:E2} (tolerance {report.Tolerance})");
        Assert.Equal("RPAm-p_16-bq_16_8-bkv_32_16", report.Variant);
    }
}
