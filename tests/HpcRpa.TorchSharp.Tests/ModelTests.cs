using HpcRpa.Hardware;
using HpcRpa.Numerics;
using HpcRpa.TorchSharp.Model;
using static TorchSharp.torch;

namespace HpcRpa.TorchSharp.Tests;

public class ModelTests
{
    private static readonly LlamaConfig Config = new(Vocab: 96, Hidden: 64, Layers: 2, NumQHeads: 4, NumKvHeads: 2, HeadDim: 16, Intermediate: 128, Seed: 3);

    /// <summary>Prompts of different lengths; two more arrive mid-generation (mixed decode + prefill steps).</summary>
    private static List<GenerationRequest> Requests()
    {
        var rng = new Random(11);
        int[] Prompt(int n) => Enumerable.Range(0, n).Select(_ => rng.Next(Config.Vocab)).ToArray();
        return [new(Prompt(5)), new(Prompt(17)), new(Prompt(1)), new(Prompt(9), ArrivalStep: 4), new(Prompt(23), ArrivalStep: 10)];
    }

    private static IReadOnlyList<StepRecord> Run(IAttentionBackend backend, int steps)
    {
        using var model = new LlamaModel(Config);
        return new GenerationEngine(model, backend).Generate(Requests(), steps);
    }

    [Fact]
    public void F32GreedyTokensAreIdenticalAndLogitsWithin1e4Over33DecodeSteps()
    {
        const int steps = 34; // one prefill step, then 33 decode steps (two of them also prefill new arrivals)
        using var torchBackend = new TorchAttentionBackend(Config);
        var hpc = new HpcRpaAttentionBackend(Config, ChipPresets.Tpu7x, DType.F32, pageSize: 8);
        var a = Run(torchBackend, steps);
        var b = Run(hpc, steps);
        Assert.Equal(steps, a.Count);
        for (int s = 0; s < steps; s++)
        {
            Assert.Equal(a[s].SeqIds, b[s].SeqIds);
            Assert.Equal(a[s].Chosen, b[s].Chosen);
            for (int i = 0; i < a[s].Logits.Count; i++)
                for (int v = 0; v < Config.Vocab; v++)
                    Assert.True(Math.Abs(a[s].Logits[i][v] - b[s].Logits[i][v]) <= 1e-4, $"step {s}, seq {a[s].SeqIds[i]}, token {v}: {a[s].Logits[i][v]} vs {b[s].Logits[i][v]}");
        }
        Assert.Contains(a, r => r.NewTokens.Count(n => n == 1) > 0 && r.NewTokens.Any(n => n > 1)); // a mixed step happened
        Assert.Equal(steps * Config.Layers, hpc.RpaReports.Count);
        Assert.All(hpc.RpaReports, r => Assert.True(r.Cycles > 0));
        Assert.Equal(hpc.RpaReports.Count, hpc.KvUpdateReports.Count);
    }

    /// <summary>
    /// bf16 KV: both backends store K and V in bf16 and feed bf16 queries, but HpcRpa also keeps the running max,
    /// sum and accumulator in bf16 (as the TPU kernel does) and rounds its output to bf16, while torch attends in
    /// f32. Those are a few bf16 ulps (2^-8 relative) per attention output, which reach the logits attenuated by
    /// the MLP and head: the first step's logits agree to 0.05, and greedy tokens agree on most steps.
    /// </summary>
    [Fact]
    public void Bf16StaysCloseToTorch()
    {
        const int steps = 12;
        using var torchBackend = new TorchAttentionBackend(Config, ScalarType.BFloat16);
        var a = Run(torchBackend, steps);
        var b = Run(new HpcRpaAttentionBackend(Config, ChipPresets.V6e, DType.BF16, pageSize: 8), steps);
        for (int i = 0; i < a[0].Logits.Count; i++)
            for (int v = 0; v < Config.Vocab; v++)
                Assert.True(Math.Abs(a[0].Logits[i][v] - b[0].Logits[i][v]) <= 0.05, $"seq {i}, token {v}: {a[0].Logits[i][v]} vs {b[0].Logits[i][v]}");
        int same = 0, total = 0;
        for (int s = 0; s < steps; s++)
            for (int i = 0; i < a[s].Chosen.Count; i++) { total++; if (a[s].Chosen[i] == b[s].Chosen[i]) same++; }
        Assert.True(same >= 0.9 * total, $"{same} of {total} greedy tokens agree");
    }

    [Fact]
    public void SeededModelsAreIdentical()
    {
        using var m1 = new LlamaModel(Config);
        using var m2 = new LlamaModel(Config);
        using var m3 = new LlamaModel(Config with { Seed = 4 });
        var p1 = m1.parameters().ToList();
        var p2 = m2.parameters().ToList();
        Assert.True(p1.Zip(p2).All(x => x.First.eq(x.Second).all().item<bool>()));
        Assert.False(p1.Zip(m3.parameters()).All(x => x.First.eq(x.Second).all().item<bool>()));
    }
}
