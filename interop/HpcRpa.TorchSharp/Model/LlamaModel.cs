using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static HpcRpa.TorchSharp.Runtime.TorchRuntime;

namespace HpcRpa.TorchSharp.Model;

/// <summary>Attention for one layer over a step's tokens; the backend keeps the KV cache.</summary>
public interface IAttentionBackend
{
    /// <summary>A new step: which sequences run and how many new tokens each brings (decode sequences first).</summary>
    void BeginStep(StepBatch batch);

    /// <summary>q [T, Hq, D], k and v [T, Hkv, D] of this step's tokens (RoPE applied) -> attention output [T, Hq, D].</summary>
    Tensor Attend(int layer, Tensor q, Tensor k, Tensor v);

    string Name { get; }
}

/// <summary>One sequence's part of a step: it has <paramref name="Cached"/> tokens in the cache and brings <paramref name="New"/>.</summary>
public readonly record struct SeqStep(int SeqId, int Cached, int New);

/// <summary>A step's sequences in batch order (decode sequences first, as a serving engine orders them).</summary>
public sealed record StepBatch(IReadOnlyList<SeqStep> Seqs)
{
    public int Tokens => Seqs.Sum(s => s.New);
}

/// <summary>RMSNorm: x / sqrt(mean(x²) + eps) · weight.</summary>
public sealed class RmsNorm : nn.Module<Tensor, Tensor>
{
    private readonly Parameter weight;
    private readonly double _eps;

    public RmsNorm(string name, int dim, double eps) : base(Loaded(name))
    {
        weight = new Parameter(ones(dim));
        _eps = eps;
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => x * rsqrt(x.pow(2).mean([-1], keepdim: true) + _eps) * weight;
}

/// <summary>One decoder layer: pre-norm attention with GQA and RoPE, pre-norm SwiGLU MLP, residuals.</summary>
public sealed class LlamaLayer : nn.Module
{
    public readonly RmsNorm attn_norm, mlp_norm;
    public readonly Linear wq, wk, wv, wo, w_gate, w_up, w_down;

    public LlamaLayer(string name, LlamaConfig c) : base(Loaded(name))
    {
        attn_norm = new RmsNorm("attn_norm", c.Hidden, c.RmsEps);
        mlp_norm = new RmsNorm("mlp_norm", c.Hidden, c.RmsEps);
        wq = nn.Linear(c.Hidden, c.NumQHeads * c.HeadDim, hasBias: false);
        wk = nn.Linear(c.Hidden, c.NumKvHeads * c.HeadDim, hasBias: false);
        wv = nn.Linear(c.Hidden, c.NumKvHeads * c.HeadDim, hasBias: false);
        wo = nn.Linear(c.NumQHeads * c.HeadDim, c.Hidden, hasBias: false);
        w_gate = nn.Linear(c.Hidden, c.Intermediate, hasBias: false);
        w_up = nn.Linear(c.Hidden, c.Intermediate, hasBias: false);
        w_down = nn.Linear(c.Intermediate, c.Hidden, hasBias: false);
        RegisterComponents();
    }
}

/// <summary>
/// A Llama-style decoder in TorchSharp whose attention is pluggable: torch (contiguous KV, SDPA) or HpcRpa
/// (paged KV in emulated HBM, the KV-update kernel, RPA). Weights are seeded so two instances with one seed
/// are identical; <c>save</c>/<c>load</c> use TorchSharp's .dat format (what exportsd.py writes).
/// </summary>
public sealed class LlamaModel : nn.Module
{
    public readonly Embedding embed;
    public readonly ModuleList<LlamaLayer> layers;
    public readonly RmsNorm final_norm;
    public readonly Linear lm_head;

    public LlamaModel(LlamaConfig c) : base(Loaded("llama"))
    {
        c.Validate();
        Config = c;
        embed = nn.Embedding(c.Vocab, c.Hidden);
        layers = new ModuleList<LlamaLayer>(Enumerable.Range(0, c.Layers).Select(i => new LlamaLayer($"layer{i}", c)).ToArray());
        final_norm = new RmsNorm("final_norm", c.Hidden, c.RmsEps);
        lm_head = nn.Linear(c.Hidden, c.Vocab, hasBias: false);
        RegisterComponents();
        Initialise(c.Seed);
    }

    /// <summary>
    /// Weights from a generator of the model's own, not torch's process-global one, so a seed gives the same
    /// model whatever other threads draw meanwhile: embeddings N(0, 1), linear weights U(±1/√fan_in) (torch's
    /// default bound for nn.Linear), norms 1.
    /// </summary>
    private void Initialise(long seed)
    {
        using var g = new Generator((ulong)seed);
        using var noGrad = no_grad();
        foreach (var (name, p) in named_parameters())
        {
            if (name.EndsWith("norm.weight", StringComparison.Ordinal)) { p.fill_(1.0); continue; }
            if (name.StartsWith("embed", StringComparison.Ordinal)) { p.copy_(randn(p.shape, generator: g)); continue; }
            double bound = 1.0 / Math.Sqrt(p.shape[1]);
            p.copy_(rand(p.shape, generator: g) * (2 * bound) - bound);
        }
    }

    public LlamaConfig Config { get; }

    /// <summary>Logits [T, vocab] of a step's tokens (ids and absolute positions [T]).</summary>
    public Tensor Forward(Tensor ids, Tensor positions, IAttentionBackend attention)
    {
        EnsureLoaded();
        var c = Config;
        using var scope = NewDisposeScope();
        long T = ids.shape[0];
        var (cos, sin) = Rope(positions, c);
        var h = embed.forward(ids);
        for (int l = 0; l < c.Layers; l++)
        {
            var layer = layers[l];
            var x = layer.attn_norm.forward(h);
            var q = ApplyRope(layer.wq.forward(x).view(T, c.NumQHeads, c.HeadDim), cos, sin);
            var k = ApplyRope(layer.wk.forward(x).view(T, c.NumKvHeads, c.HeadDim), cos, sin);
            var v = layer.wv.forward(x).view(T, c.NumKvHeads, c.HeadDim);
            var a = attention.Attend(l, q, k, v).to_type(h.dtype);
            h = h + layer.wo.forward(a.reshape(T, c.NumQHeads * c.HeadDim));
            var x2 = layer.mlp_norm.forward(h);
            h = h + layer.w_down.forward(nn.functional.silu(layer.w_gate.forward(x2)) * layer.w_up.forward(x2));
        }
        return lm_head.forward(final_norm.forward(h)).MoveToOuterDisposeScope();
    }

    /// <summary>cos and sin [T, 1, D/2] of the RoPE angles pos · θ^(−2i/D).</summary>
    private static (Tensor Cos, Tensor Sin) Rope(Tensor positions, LlamaConfig c)
    {
        var i = arange(0, c.HeadDim / 2, dtype: ScalarType.Float64);
        var invFreq = pow(c.RopeTheta, -2.0 * i / c.HeadDim);
        var ang = positions.to_type(ScalarType.Float64).unsqueeze(1) * invFreq.unsqueeze(0);
        return (cos(ang).to_type(ScalarType.Float32).unsqueeze(1), sin(ang).to_type(ScalarType.Float32).unsqueeze(1));
    }

    /// <summary>Rotate-half RoPE: x·cos + rotate_half(x)·sin with rotate_half(x) = [−x₂, x₁].</summary>
    private static Tensor ApplyRope(Tensor x, Tensor cos, Tensor sin)
    {
        long half = x.shape[2] / 2;
        var x1 = x.narrow(2, 0, half);
        var x2 = x.narrow(2, half, half);
        return cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], 2);
    }
}
