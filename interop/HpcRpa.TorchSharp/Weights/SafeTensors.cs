using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using HpcRpa.Errors;
using static TorchSharp.torch;

namespace HpcRpa.TorchSharp.Weights;

/// <summary>
/// The safetensors format: an 8-byte little-endian header length, a JSON header mapping each tensor name to
/// {dtype, shape, data_offsets [begin, end)} (offsets relative to the data after the header, optional
/// "__metadata__"), then the raw little-endian bytes. Read and written here without extra packages.
/// </summary>
public static class SafeTensors
{
    private static readonly Dictionary<string, ScalarType> Types = new()
    {
        ["F32"] = ScalarType.Float32, ["F16"] = ScalarType.Float16, ["BF16"] = ScalarType.BFloat16,
        ["F64"] = ScalarType.Float64, ["I64"] = ScalarType.Int64, ["I32"] = ScalarType.Int32, ["I8"] = ScalarType.Int8, ["U8"] = ScalarType.Byte,
    };

    public static Dictionary<string, Tensor> Load(string path)
    {
        Runtime.TorchRuntime.EnsureLoaded();
        var bytes = File.ReadAllBytes(path);
        if (bytes.Length < 8) throw new ValidationException("safetensors", null, path, "is shorter than its 8-byte header length");
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        if (n > (ulong)bytes.Length - 8) throw new ValidationException("safetensors.header_size", null, n.ToString(), $"exceeds the file ({bytes.Length} bytes)");
        JsonObject header;
        try
        {
            header = JsonNode.Parse(Encoding.UTF8.GetString(bytes, 8, (int)n)) as JsonObject
                ?? throw new ValidationException("safetensors.header", null, path, "is not a JSON object");
        }
        catch (JsonException e)
        {
            throw new ValidationException("safetensors.header", null, path, $"is not valid JSON: {e.Message}");
        }
        long dataStart = 8 + (long)n;
        var result = new Dictionary<string, Tensor>();
        foreach (var (name, node) in header)
        {
            if (name == "__metadata__") continue;
            var info = node as JsonObject ?? throw new ValidationException("safetensors.header", null, name, "entry is not an object");
            string dt = info["dtype"]?.GetValue<string>() ?? throw new ValidationException($"safetensors.{name}.dtype", null, "missing", "required");
            if (!Types.TryGetValue(dt, out var st)) throw new ValidationException($"safetensors.{name}.dtype", null, dt, "unsupported");
            var shape = (info["shape"] as JsonArray ?? throw new ValidationException($"safetensors.{name}.shape", null, "missing", "required")).Select(x => x!.GetValue<long>()).ToArray();
            var offs = (info["data_offsets"] as JsonArray ?? throw new ValidationException($"safetensors.{name}.data_offsets", null, "missing", "required")).Select(x => x!.GetValue<long>()).ToArray();
            var t = zeros(shape, dtype: st);
            long need = t.NumberOfElements * t.ElementSize;
            if (offs.Length != 2 || offs[1] - offs[0] != need || offs[0] < 0 || dataStart + offs[1] > bytes.Length)
                throw new ValidationException($"safetensors.{name}.data_offsets", null, $"[{string.Join(", ", offs)}]", $"must span {need} bytes inside the file");
            t.bytes = bytes.AsSpan((int)(dataStart + offs[0]), (int)need);
            result[name] = t;
        }
        return result;
    }

    public static void Save(string path, IReadOnlyDictionary<string, Tensor> tensors)
    {
        Runtime.TorchRuntime.EnsureLoaded();
        var header = new JsonObject();
        long offset = 0;
        var blobs = new List<byte[]>();
        foreach (var (name, t) in tensors.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            var c = t.contiguous();
            var b = c.bytes.ToArray();
            string dt = Types.First(kv => kv.Value == c.dtype).Key;
            header[name] = new JsonObject
            {
                ["dtype"] = dt,
                ["shape"] = new JsonArray(c.shape.Select(s => (JsonNode)s).ToArray()),
                ["data_offsets"] = new JsonArray(offset, offset + b.Length),
            };
            offset += b.Length;
            blobs.Add(b);
        }
        var json = Encoding.UTF8.GetBytes(header.ToJsonString(new JsonSerializerOptions { WriteIndented = false }));
        int pad = (8 - json.Length % 8) % 8; // the format allows trailing spaces; keeps the data 8-byte aligned
        using var f = File.Create(path);
        Span<byte> len = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)(json.Length + pad));
        f.Write(len);
        f.Write(json);
        for (int i = 0; i < pad; i++) f.WriteByte((byte)' ');
        foreach (var b in blobs) f.Write(b);
    }
}
