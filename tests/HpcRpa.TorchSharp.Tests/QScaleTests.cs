using HpcRpa.Dispatch;
using HpcRpa.Hardware;
using HpcRpa.Kernels.RaggedPagedAttention;
using HpcRpa.Numerics;
using HpcRpa.Tests.Kernels;
using HpcRpa.TorchSharp.Compare;
using HpcRpa.TorchSharp.Reference;
using static TorchSharp.torch;

namespace HpcRpa.TorchSharp.Tests;

/// <summary>q_scale in the torch reference (rpa.md 2.4): q / q_scale, clipped to the KV format's range, rounded to it; logits · q_scale.</summary>
public class QScaleTests
{
    public static TheoryData<string, double, double> RoundingCases() => new()
    {
        // Worked by hand: e4m3 has 3 mantissa bits, normals from 2^-6, max 448.
        { "fp8_e4m3", 0.3, 0.3125 },          // [0.25, 0.5): spacing 2^-5; 0.3 / 2^-5 = 9.6 -> 10
        { "fp8_e4m3", -0.3, -0.3125 },
        { "fp8_e4m3", 17, 16 },               // [16, 32): spacing 2; 8.5 is a tie -> even 8
        { "fp8_e4m3", 19, 20 },               // 9.5 is a tie -> even 10
        { "fp8_e4m3", 500, 448 },             // clipped to the largest finite value
        { "fp8_e4m3", 0.003, 0.00390625 },    // subnormal: spacing 2^-9; 1.536 -> 2
        { "fp8_e5m2", 60000, 57344 },
        { "fp8_e5m2", 0.3, 0.3125 },          // 2 mantissa bits: spacing 2^-4 in [0.25, 0.5); 4.8 -> 5
        { "bf16", 1.00390625, 1.0 },          // 1 + 2^-8 is a tie between 1 and 1 + 2^-7 -> even
        { "bf16", 1.01171875, 1.015625 },     // 1 + 3·2^-8: tie -> even 1 + 2^-6
        { "f32", 0.1, 0.100000001490116119384765625 },
        { "f16", 70000, 65504 },
        { "bf16", 0.0, 0.0 },
    };

    [Theory]
    [MemberData(nameof(RoundingCases))]
    public void RoundingToAFormatIsNearestEvenWithClipping(string format, double x, double expected)
    {
        var f = format switch
        {
            "fp8_e4m3" => TorchFloatFormat.Fp8E4M3, "fp8_e5m2" => TorchFloatFormat.Fp8E5M2, "bf16" => TorchFloatFormat.BF16,
            "f16" => TorchFloatFormat.F16, _ => TorchFloatFormat.F32,
        };
        using var t = tensor(new[] { x });
        Assert.Equal(expected, f.Round(t).item<double>());
    }

    [Theory]
    [InlineData(DType.Fp8E4M3, 0.5)]
    [InlineData(DType.Fp8E4M3, 0.001)] // q / q_scale up to 1000: clipped at 448
    [InlineData(DType.Fp8E5M2, 0.5)]
    [InlineData(DType.BF16, 0.3)]
    public void TorchReferenceWithQScaleAgreesWithTheHpcRpaReference(DType kv, double qScale)
    {
        var p = RpaTestData.Build([(1, 18), (5, 37), (16, 16)], 4, 2, 64, DType.BF16, kv, pageSize: 16, numPages: 16);
        var o = new RpaOptions { SmScale = 0.125, QScale = qScale, KScale = 0.5, VScale = 2 };
        var (refOut, refCache) = ReferenceBridge.Run(p, o);
        var (torchOut, _) = TorchComparison.Reference(p, o, refCache);
        // Both compute in high precision from the same rounded q: f32 torch against the double reference.
        for (int i = 0; i < refOut.Length; i++)
            Assert.True(Math.Abs(refOut[i] - torchOut[i]) <= 1e-5 * (1 + Math.Abs(refOut[i])), $"element {i}: torch {torchOut[i]} vs reference {refOut[i]}");
        // The quantisation of q is visible in the data: without it (same logit scale) the output moves at least ten
        // times the comparison's tolerance (bf16's 2^-8 rounding moves it least, ~1.5e-4 here), so a torch reference
        // that skipped the rounding or the clipping would fail above.
        var (plain, _) = ReferenceBridge.Run(p, o with { QScale = null });
        double moved = refOut.Zip(plain, (a, b) => Math.Abs(a - b)).Max();
        Assert.True(moved > 1e-4, $"q_scale rounding changed the output by only {moved:E2}");
    }

    [Fact]
    public void KernelWithQScaleMatchesTheTorchReferencePerSequenceAndHead()
    {
        var p = RpaTestData.Build([(1, 30), (7, 40), (12, 12)], 8, 2, 128, DType.BF16, DType.Fp8E4M3, pageSize: 16, numPages: 16);
        var o = new RpaOptions { SmScale = 0.1, QScale = 0.5, KScale = 0.5, VScale = 0.5, MixedBlocks = new(16, 32, 8, 16) };
        var r = new RpaDispatcher(ChipPresets.Tpu7x).Run(p, o);
        var report = TorchComparison.Compare(p, o, r.Output!, p.KvCache, r.Variant);
        Assert.Equal(3 * 8, report.Rows.Count);
        Assert.True(report.Pass, $"max abs err {report.MaxAbsErr:E2} (tolerance {report.Tolerance})");
    }

    [Fact]
    public void QScaleWithoutAFormatIsRefused()
    {
        using var q = zeros(1, 1, 8);
        using var k = zeros(1, 1, 1, 8);
        var e = Assert.Throws<ArgumentException>(() => TorchPagedAttention.Run(q, k, k, [1], [0], 1, [0, 1], 1, new TorchRpaOptions(QScale: 0.5)));
        Assert.Contains("QScaleFormat", e.Message);
    }
}
