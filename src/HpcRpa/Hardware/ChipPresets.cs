using System.Text.Json;
using System.Text.Json.Nodes;

namespace HpcRpa.Hardware;

/// <summary>
/// The four chips of the design card. Every figure carries its source key from
/// shared/spec/tpu-hardware.md section 5 (also listed in docs/chips.md):
/// [S2] Cloud TPU v5e page, [S3] v5p page, [S4] v6e page, [S5] TPU7x page, [S6] JAX tpu_info.py,
/// [S8] Ironwood performance page, [S9] Google developer forum (7x HBM bandwidth).
/// </summary>
public static class ChipPresets
{
    private const long MiB = 1L << 20;
    private const double GiB = 1024.0 * 1024 * 1024;

    public static ChipSpec V5e { get; } = new()
    {
        Name = "v5e",
        TensorCoresPerChip = 1,          // [S2][S6]
        MxusPerCore = 4,                 // [S2][S6]
        MxuRows = 128, MxuCols = 128,    // [S6][S7]
        PeakBf16FlopsPerChip = 197e12,   // [S2]
        Fp8RateMultiplier = 1,           // [S6] lists no fp8 peak; fp8 inputs run at the bf16 rate
        Int8RateMultiplier = 393.0 / 197.0, // [S2] 393 TOP/s int8
        HbmBytesPerChip = 16e9,          // [S2] 16 GB
        HbmBandwidthPerChip = 819e9,     // [S2] 819 GB/s (the Cloud page figure; JAX says 8.2e11)
        VmemBytesPerCore = 128 * MiB,    // [S6][S7]
        SmemBytesPerCore = 1 * MiB,      // [S6]
        NativeBf16Vpu = false,           // spec 2.8: bf16 widened to f32 before v6
    };

    public static ChipSpec V5p { get; } = new()
    {
        Name = "v5p",
        TensorCoresPerChip = 2,          // [S3][S6]
        MxusPerCore = 4,                 // [S3][S6]
        MxuRows = 128, MxuCols = 128,    // [S6]
        PeakBf16FlopsPerChip = 459e12,   // [S3]
        Fp8RateMultiplier = 1,           // [S3] fp8 row = 459 (bf16 rate)
        Int8RateMultiplier = 2,          // [S6][S7] 918 TOP/s
        HbmBytesPerChip = 95 * GiB,      // [S3] 95 GiB
        HbmBandwidthPerChip = 2765e9,    // [S3] 2765 GB/s
        VmemBytesPerCore = 64 * MiB,     // [S6]
        SmemBytesPerCore = 1 * MiB,      // [S6]
        NativeBf16Vpu = false,           // spec 2.8
    };

    public static ChipSpec V6e { get; } = new()
    {
        Name = "v6e",
        TensorCoresPerChip = 1,          // [S4][S6]
        MxusPerCore = 2,                 // [S4][S6] two 256x256 MXUs
        MxuRows = 256, MxuCols = 256,    // [S4][S6]
        PeakBf16FlopsPerChip = 918e12,   // [S4] (JAX 920)
        Fp8RateMultiplier = 1,           // [S5] Cloud table lists fp8 at the bf16 rate
        Int8RateMultiplier = 2,          // [S4] 1836 TOP/s
        HbmBytesPerChip = 32e9,          // [S4] 32 GB
        HbmBandwidthPerChip = 1638e9,    // [S4] 1638 GB/s
        VmemBytesPerCore = 128 * MiB,    // [S6]
        SmemBytesPerCore = 1 * MiB,      // [S6]
        NativeBf16Vpu = true,            // spec 2.8
    };

    public static ChipSpec Tpu7x { get; } = new()
    {
        Name = "tpu7x",
        TensorCoresPerChip = 2,          // [S5][S6]
        MxusPerCore = 2,                 // [S6]
        MxuRows = 256, MxuCols = 256,    // [S6] column size 256; 256x256 assumed (not stated as such)
        PeakBf16FlopsPerChip = 2307e12,  // [S5] (JAX 2310)
        Fp8RateMultiplier = 2,           // [S5][S8] 4614 TFLOP/s fp8
        Int8RateMultiplier = 1,          // [S6] no int8 MXU path: int8 matmuls run in bf16
        HbmBytesPerChip = 192 * GiB,     // [S5] 192 GiB
        HbmBandwidthPerChip = 7.38e12,   // [S9] 7.38 TB/s (JAX 7.40e12)
        VmemBytesPerCore = 64 * MiB,     // [S6]
        SmemBytesPerCore = 1 * MiB,      // [S6]
        NativeBf16Vpu = true,            // spec 2.8
    };

    public static IReadOnlyList<ChipSpec> All { get; } = [V5e, V5p, V6e, Tpu7x];

    public static IReadOnlyList<string> Names { get; } = All.Select(c => c.Name).ToArray();

    /// <summary>A preset by name (case-insensitive; "v7x"/"ironwood" accepted for tpu7x).</summary>
    public static ChipSpec Get(string name)
    {
        var key = name.Trim().ToLowerInvariant() switch
        {
            "v7x" or "v7" or "7x" or "ironwood" => "tpu7x",
            "trillium" => "v6e",
            var k => k,
        };
        return All.FirstOrDefault(c => c.Name == key)
            ?? throw new ArgumentException($"unknown chip '{name}' (presets: {string.Join(", ", Names)}; or a JSON file path)", nameof(name));
    }

    /// <summary>
    /// A preset name, or a path to a JSON file: {"base": "v6e", "Name": "v6e-fast-hbm", "HbmBandwidthPerChip": 3.2e12, ...}.
    /// Without "base" every required field must be present. Unknown fields are an error, so a typo cannot
    /// silently leave a figure at its default.
    /// </summary>
    public static ChipSpec Resolve(string nameOrPath)
    {
        if (!File.Exists(nameOrPath) && !nameOrPath.EndsWith(".json", StringComparison.OrdinalIgnoreCase))
            return Get(nameOrPath);
        return FromJson(File.ReadAllText(nameOrPath), nameOrPath);
    }

    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        PropertyNameCaseInsensitive = true,
        UnmappedMemberHandling = System.Text.Json.Serialization.JsonUnmappedMemberHandling.Disallow,
        WriteIndented = true,
    };

    public static ChipSpec FromJson(string json, string source = "<json>")
    {
        JsonObject over;
        try { over = JsonNode.Parse(json) as JsonObject ?? throw new JsonException("top level must be an object"); }
        catch (JsonException e) { throw new ArgumentException($"chip file {source}: {e.Message}", nameof(json), e); }

        JsonObject merged;
        if (over.TryGetPropertyValue("base", out var baseNode) && baseNode is not null)
        {
            var basis = Get(baseNode.GetValue<string>());
            merged = (JsonObject)JsonSerializer.SerializeToNode(basis, JsonOptions)!;
            over.Remove("base");
            foreach (var (k, v) in over)
            {
                var existing = merged.FirstOrDefault(p => string.Equals(p.Key, k, StringComparison.OrdinalIgnoreCase)).Key;
                if (existing is not null) merged.Remove(existing);
                merged[k] = v?.DeepClone();
            }
            if (!over.Any(p => string.Equals(p.Key, "Name", StringComparison.OrdinalIgnoreCase)))
                merged["Name"] = basis.Name + "-custom";
        }
        else merged = over;

        ChipSpec spec;
        try { spec = merged.Deserialize<ChipSpec>(JsonOptions) ?? throw new JsonException("empty"); }
        catch (JsonException e) { throw new ArgumentException($"chip file {source}: {e.Message}", nameof(json), e); }
        spec.Validate();
        return spec;
    }

    public static string ToJson(ChipSpec spec) => JsonSerializer.Serialize(spec, JsonOptions);
}
