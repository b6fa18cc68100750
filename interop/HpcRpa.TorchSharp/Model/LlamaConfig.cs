namespace HpcRpa.TorchSharp.Model;

/// <summary>Sizes of a Llama-style decoder (RMSNorm, RoPE, GQA attention, SwiGLU MLP) and its seed.</summary>
public sealed record LlamaConfig(
    int Vocab = 256, int Hidden = 128, int Layers = 2, int NumQHeads = 4, int NumKvHeads = 2, int HeadDim = 32,
    int Intermediate = 256, double RopeTheta = 10000.0, double RmsEps = 1e-5, long Seed = 0)
{
    public void Validate()
    {
        if (Vocab <= 0 || Hidden <= 0 || Layers <= 0 || NumQHeads <= 0 || NumKvHeads <= 0 || HeadDim <= 0 || Intermediate <= 0)
            throw new ArgumentException($"Llama config: every size must be positive ({this})");
        if (NumQHeads % NumKvHeads != 0) throw new ArgumentException($"Llama config: {NumQHeads} q heads not a multiple of {NumKvHeads} KV heads");
        if (HeadDim % 2 != 0) throw new ArgumentException($"Llama config: RoPE needs an even head_dim, not {HeadDim}");
    }
}
