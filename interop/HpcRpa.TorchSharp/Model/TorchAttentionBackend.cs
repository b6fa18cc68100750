using static TorchSharp.torch;

namespace HpcRpa.TorchSharp.Model;

/// <summary>
/// The torch backend: a contiguous K/V tensor per (sequence, layer), grown by concatenation, and SDPA with an
/// explicit bottom-right causal mask (SDPA's own causal flag is top-left aligned) over GQA-expanded heads.
/// The KV cache is stored in <paramref name="kvDType"/> (f32 or bf16) and attended in f32.
/// </summary>
public sealed class TorchAttentionBackend(LlamaConfig config, ScalarType kvDType = ScalarType.Float32) : IAttentionBackend, IDisposable
{
    private readonly Dictionary<(int Seq, int Layer), (Tensor K, Tensor V)> _cache = [];
    private StepBatch _batch = new([]);

    public string Name => "torch";

    public void BeginStep(StepBatch batch) => _batch = batch;

    public Tensor Attend(int layer, Tensor q, Tensor k, Tensor v)
    {
        Runtime.TorchRuntime.EnsureLoaded();
        int g = config.NumQHeads / config.NumKvHeads;
        var outs = new List<Tensor>();
        int t0 = 0;
        foreach (var s in _batch.Seqs)
        {
            var kNew = k.narrow(0, t0, s.New).to_type(kvDType);
            var vNew = v.narrow(0, t0, s.New).to_type(kvDType);
            if (_cache.TryGetValue((s.SeqId, layer), out var old))
            {
                if (old.K.shape[0] != s.Cached) throw new InvalidOperationException($"sequence {s.SeqId}: cache holds {old.K.shape[0]} tokens, step says {s.Cached}");
                kNew = cat([old.K, kNew], 0);
                vNew = cat([old.V, vNew], 0);
                old.K.Dispose();
                old.V.Dispose();
            }
            _cache[(s.SeqId, layer)] = (kNew.DetachFromDisposeScope(), vNew.DetachFromDisposeScope());
            int kv = s.Cached + s.New;
            var kk = kNew.to_type(ScalarType.Float32).repeat_interleave(g, dim: 1).permute(1, 0, 2).unsqueeze(0);
            var vv = vNew.to_type(ScalarType.Float32).repeat_interleave(g, dim: 1).permute(1, 0, 2).unsqueeze(0);
            var qq = q.narrow(0, t0, s.New).to_type(kvDType).to_type(ScalarType.Float32).permute(1, 0, 2).unsqueeze(0);
            var qpos = arange(s.Cached, kv, dtype: ScalarType.Int64).unsqueeze(1);
            var kpos = arange(0, kv, dtype: ScalarType.Int64).unsqueeze(0);
            var mask = kpos.le(qpos).unsqueeze(0).unsqueeze(0);
            outs.Add(nn.functional.scaled_dot_product_attention(qq, kk, vv, mask).squeeze(0).permute(1, 0, 2));
            t0 += s.New;
        }
        return cat(outs.ToArray(), 0);
    }

    public void Dispose()
    {
        foreach (var (k, v) in _cache.Values) { k.Dispose(); v.Dispose(); }
        _cache.Clear();
    }
}
