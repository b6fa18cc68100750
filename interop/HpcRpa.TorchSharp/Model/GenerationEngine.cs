using static TorchSharp.torch;

namespace HpcRpa.TorchSharp.Model;

/// <summary>A request: its prompt and the step at which it arrives.</summary>
public sealed record GenerationRequest(int[] Prompt, int ArrivalStep = 0);

/// <summary>What one step did: per active sequence, its last-position logits and the greedy token chosen.</summary>
public sealed record StepRecord(int Step, IReadOnlyList<int> SeqIds, IReadOnlyList<int> NewTokens, IReadOnlyList<float[]> Logits, IReadOnlyList<int> Chosen);

/// <summary>
/// Continuous batching as a serving engine does it: each step runs the decode of every running sequence and the
/// whole prompt of every request arriving at that step, decodes first (rpa.md 2.2), in one forward pass; the
/// next token of each sequence is the argmax of its last position's logits (greedy).
/// </summary>
public sealed class GenerationEngine(LlamaModel model, IAttentionBackend attention)
{
    public IReadOnlyList<StepRecord> Generate(IReadOnlyList<GenerationRequest> requests, int steps)
    {
        Runtime.TorchRuntime.EnsureLoaded();
        var records = new List<StepRecord>();
        var cached = new Dictionary<int, int>();
        var next = new Dictionary<int, int>();
        using var noGrad = no_grad();
        for (int step = 0; step < steps; step++)
        {
            var parts = new List<(int Seq, int Cached, int[] Tokens)>();
            foreach (var (seq, len) in cached.OrderBy(kv => kv.Key)) parts.Add((seq, len, [next[seq]]));     // decodes first
            for (int r = 0; r < requests.Count; r++)
                if (requests[r].ArrivalStep == step) parts.Add((r, 0, requests[r].Prompt));                  // then new prompts
            if (parts.Count == 0) continue;
            var batch = new StepBatch(parts.Select(p => new SeqStep(p.Seq, p.Cached, p.Tokens.Length)).ToList());
            attention.BeginStep(batch);
            var ids = tensor(parts.SelectMany(p => p.Tokens.Select(t => (long)t)).ToArray());
            var pos = tensor(parts.SelectMany(p => Enumerable.Range(p.Cached, p.Tokens.Length).Select(x => (long)x)).ToArray());
            using var logits = model.Forward(ids, pos, attention);
            var lastLogits = new List<float[]>();
            var chosen = new List<int>();
            int t = 0;
            foreach (var p in parts)
            {
                t += p.Tokens.Length;
                using var row = logits[t - 1];
                var values = row.to_type(ScalarType.Float32).data<float>().ToArray();
                int best = 0;
                for (int i = 1; i < values.Length; i++) if (values[i] > values[best]) best = i;
                lastLogits.Add(values);
                chosen.Add(best);
                cached[p.Seq] = p.Cached + p.Tokens.Length;
                next[p.Seq] = best;
            }
            records.Add(new StepRecord(step, parts.Select(p => p.Seq).ToList(), parts.Select(p => p.Tokens.Length).ToList(), lastLogits, chosen));
        }
        return records;
    }
}
