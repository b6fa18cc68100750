using System.Text.Json;

namespace HpcRpa.Workloads;

/// <summary>Attention shape of a model: what RPA needs of it (public model cards / config.json figures).</summary>
public sealed record ModelPreset(string Name, int NumQHeads, int NumKvHeads, int HeadDim, int Layers, double? SoftCap = null, int? SlidingWindow = null)
{
    public static ModelPreset Llama3_8B { get; } = new("llama3-8b", 32, 8, 128, 32);        // Meta Llama 3 8B config.json
    public static ModelPreset Llama3_70B { get; } = new("llama3-70b", 64, 8, 128, 80);      // Meta Llama 3 70B config.json
    public static ModelPreset Llama31_405B { get; } = new("llama3.1-405b", 128, 8, 128, 126); // Meta Llama 3.1 405B config.json
    public static ModelPreset Gemma2_9B { get; } = new("gemma2-9b", 16, 8, 256, 42, SoftCap: 50.0, SlidingWindow: 4096); // Gemma 2: head_dim 256, attn soft cap 50, local window 4096
    public static ModelPreset Qwen3_32B { get; } = new("qwen3-32b", 64, 8, 128, 64);        // Qwen3-32B config.json
    public static ModelPreset GptOss_120B { get; } = new("gpt-oss-120b", 64, 8, 64, 36, SlidingWindow: 128); // gpt-oss: head_dim 64, alternating 128-token window

    public static IReadOnlyList<ModelPreset> All { get; } = [Llama3_8B, Llama3_70B, Llama31_405B, Gemma2_9B, Qwen3_32B, GptOss_120B];

    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        PropertyNameCaseInsensitive = true,
        // As for chip files: a misspelt field must not silently leave a figure at its default.
        UnmappedMemberHandling = System.Text.Json.Serialization.JsonUnmappedMemberHandling.Disallow,
    };

    /// <summary>
    /// A preset name, or a JSON file {"Name": ..., "NumQHeads": ..., "NumKvHeads": ..., "HeadDim": ..., "Layers": ...,
    /// "SoftCap": ..., "SlidingWindow": ...}. Unknown fields and malformed JSON are an <see cref="ArgumentException"/>
    /// naming the file.
    /// </summary>
    public static ModelPreset Resolve(string nameOrPath)
    {
        if (File.Exists(nameOrPath))
        {
            ModelPreset? parsed;
            try { parsed = JsonSerializer.Deserialize<ModelPreset>(File.ReadAllText(nameOrPath), JsonOptions); }
            catch (JsonException e) { throw new ArgumentException($"model file {nameOrPath}: {e.Message}", e); }
            var m = parsed ?? throw new ArgumentException($"model file {nameOrPath} is empty (null)");
            if (string.IsNullOrWhiteSpace(m.Name))
                throw new ArgumentException($"model file {nameOrPath}: Name is missing or empty");
            if (m.NumQHeads <= 0 || m.NumKvHeads <= 0 || m.HeadDim <= 0 || m.NumQHeads % m.NumKvHeads != 0 || m.Layers <= 0)
                throw new ArgumentException($"model file {nameOrPath}: heads {m.NumQHeads}/{m.NumKvHeads}, head_dim {m.HeadDim}, layers {m.Layers} are not a valid attention shape");
            return m;
        }
        var key = nameOrPath.Trim().ToLowerInvariant();
        return All.FirstOrDefault(m => m.Name == key)
            ?? throw new ArgumentException($"unknown model '{nameOrPath}' (presets: {string.Join(", ", All.Select(m => m.Name))}; or a JSON file)");
    }
}
