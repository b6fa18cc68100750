using HpcRpa.Dispatch;
using HpcRpa.Hardware;
using HpcRpa.Kernels.RaggedPagedAttention;
using HpcRpa.Numerics;
using HpcRpa.Pallas;

namespace HpcRpa.Tests.Kernels;

/// <summary>
/// RPA on the core model against the independent reference, over the official v3 test matrix (rpa.md 5.1)
/// and edge cases. Tolerance per q dtype (|got − want| ≤ tol·(1 + |want|)): f32 1e-5, bf16 2e-2 (see
/// <see cref="ReferenceCheck"/>). The updated cache must equal the reference's byte for byte.
/// </summary>
public class RpaReferenceMatrixTests
{
    private static readonly RpaBlockSizes DefaultM = new(64, 256, 32, 128);

    internal static void AssertMatches(RpaProblem p, RpaOptions o, string chip = "tpu7x")
    {
        var original = (byte[])p.KvCache.Clone();
        var r = RpaRunner.Run(ChipPresets.Get(chip), p, o);
        var check = ReferenceCheck.Rpa(p with { KvCache = original }, o, r.Output!, p.KvCache);
        Assert.True(check.Pass, $"max abs err {check.MaxAbsErr:E3}, max rel err {check.MaxRelErr:E3} above tolerance {check.Tolerance:E0}");
        Assert.True(check.CacheEqual, "the updated cache differs from the reference's");
        Assert.True(r.Report.Cycles > 0);
    }

    private static RpaOptions M(RpaBlockSizes? b = null, bool causal = true) => new() { MixedBlocks = b ?? DefaultM, Causal = causal };

    public static IEnumerable<object[]> BasicCases()
    {
        foreach (var dt in new[] { DType.F32, DType.BF16 })
            foreach (var b in new[] { "64,256,32,128", "60,48,30,48" })
                foreach (var causal in new[] { true, false })
                    yield return [dt, b, causal];
    }

    [Theory]
    [MemberData(nameof(BasicCases))]
    public void Basic(DType dt, string blocks, bool causal) =>
        AssertMatches(RpaTestData.Build(RpaTestData.Basic, 32, 8, 128, dt, dt), M(RpaBlockSizes.Parse(blocks), causal));

    [Theory]
    [InlineData(DType.Fp8E5M2, 0.5, 0.5)]
    [InlineData(DType.Fp8E5M2, null, null)]
    [InlineData(DType.Fp8E4M3, 0.5, 0.5)]
    [InlineData(DType.Fp8E4M3, null, null)]
    public void QuantizedKvCache(DType kv, double? ks, double? vs) =>
        AssertMatches(RpaTestData.Build(RpaTestData.Basic, 32, 8, 128, DType.BF16, kv), M() with { KScale = ks, VScale = vs });

    [Theory]
    [InlineData(DType.Fp8E5M2, 0.5, 0.5)]
    [InlineData(DType.Fp8E5M2, null, null)]
    [InlineData(DType.Fp8E4M3, 0.5, 0.5)]
    [InlineData(DType.Fp8E4M3, null, null)]
    public void QuantizedAttention(DType kv, double? ks, double? vs) =>
        AssertMatches(RpaTestData.Build(RpaTestData.Basic, 32, 8, 128, DType.BF16, kv), M() with { QScale = 0.5, KScale = ks, VScale = vs });

    [Theory]
    [InlineData("decode", DType.F32)]
    [InlineData("decode", DType.BF16)]
    [InlineData("prefill", DType.F32)]
    [InlineData("prefill", DType.BF16)]
    [InlineData("mixed", DType.F32)]
    [InlineData("mixed", DType.BF16)]
    public void DecodePrefillMixed(string which, DType dt)
    {
        var seqs = which switch { "decode" => RpaTestData.Decode16, "prefill" => RpaTestData.Prefill16, _ => RpaTestData.Mixed16 };
        AssertMatches(RpaTestData.Build(seqs, 32, 8, 128, dt, dt), M());
    }

    public static IEnumerable<object[]> ComplexCases()
    {
        foreach (var seqs in new[] { "rng1", "rng17" })
            foreach (var (hq, hkv) in new[] { (32, 8), (12, 2), (5, 1), (3, 3) })
                foreach (var d in new[] { 80, 240 })
                    foreach (var dt in new[] { DType.F32, DType.BF16 })
                        yield return [seqs, hq, hkv, d, dt];
    }

    [Theory]
    [MemberData(nameof(ComplexCases))]
    public void Complex(string seqs, int hq, int hkv, int d, DType dt) =>
        AssertMatches(RpaTestData.Build(seqs == "rng1" ? RpaTestData.Rng1 : RpaTestData.Rng17, hq, hkv, d, dt, dt), M());

    [Theory]
    [InlineData(null)]
    [InlineData(5)]
    [InlineData(128)]
    public void SlidingWindow(int? w) =>
        AssertMatches(RpaTestData.Build(RpaTestData.Rng5, 4, 4, 128, DType.F32, DType.F32), M() with { SlidingWindow = w });

    [Theory]
    [InlineData(null)]
    [InlineData(50.0)]
    public void LogitSoftCapping(double? cap) =>
        AssertMatches(RpaTestData.Build(RpaTestData.Rng2, 16, 2, 128, DType.F32, DType.F32), M() with { SoftCap = cap });

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    public void SlidingWindowShouldBePositive(int w)
    {
        var p = RpaTestData.Build(RpaTestData.Basic, 32, 8, 128, DType.F32, DType.F32);
        var before = (byte[])p.KvCache.Clone();
        var e = Assert.Throws<Errors.ValidationException>(() => RpaRunner.Run(ChipPresets.Tpu7x, p, M() with { SlidingWindow = w }));
        Assert.Equal("sliding_window", e.Field);
        Assert.Equal(w.ToString(), e.Value);
        Assert.Contains("must be positive", e.Message);
        Assert.Equal(before, p.KvCache);
    }

    [Fact]
    public void SoftCapCannotBeZero()
    {
        var p = RpaTestData.Build(RpaTestData.Basic, 32, 8, 128, DType.F32, DType.F32);
        var e = Assert.Throws<Errors.ValidationException>(() => RpaRunner.Run(ChipPresets.Tpu7x, p, M() with { SoftCap = 0.0 }));
        Assert.Equal("soft_cap", e.Field);
        Assert.Contains("must not be 0.0", e.Message);
    }
}
