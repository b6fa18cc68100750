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
    private static readonly Dictionary<string, (ScalarType Type, int Bytes)> Types = new()
    {
        ["F32"] = (ScalarType.Float32, 4), ["F16"] = (ScalarType.Float16, 2), ["BF16"] = (ScalarType.BFloat16, 2),
        ["F64"] = (ScalarType.Float64, 8), ["I64"] = (ScalarType.Int64, 8), ["I32"] = (ScalarType.Int32, 4), ["I8"] = (ScalarType.Int8, 1), ["U8"] = (ScalarType.Byte, 1),
    };

    /// <summary>
    /// Every tensor of the file. The header is checked in full before any tensor is allocated — dtype, shape
    /// (non-negative dimensions whose byte size fits the file) and data_offsets (a range inside the data that
    /// is exactly the tensor's size) — so a malformed or hostile file is a <see cref="ValidationException"/>
    /// naming the tensor and the value, never a huge allocation or a torch error.
    /// </summary>
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
        long dataStart = 8 + (long)n, dataLength = bytes.Length - dataStart;
        var entries = new List<(string Name, ScalarType Type, long[] Shape, long Begin, long Length)>();
        foreach (var (name, node) in header)
        {
            if (name == "__metadata__") continue;
            var info = node as JsonObject ?? throw new ValidationException("safetensors.header", null, name, "entry is not an object");
            string field = $"safetensors.{name}";
            string dt = info["dtype"] is JsonValue dv && dv.TryGetValue<string>(out var dts) ? dts : throw new ValidationException(field + ".dtype", null, Json(info["dtype"]), "must be a dtype string");
            if (!Types.TryGetValue(dt, out var type)) throw new ValidationException(field + ".dtype", null, dt, $"unsupported (supported: {string.Join(", ", Types.Keys)})");
            var shape = Integers(info["shape"], field + ".shape");
            var offs = Integers(info["data_offsets"], field + ".data_offsets");
            long elements = 1;
            for (int i = 0; i < shape.Length; i++)
            {
                if (shape[i] < 0) throw new ValidationException(field + ".shape", i, shape[i].ToString(), "must be >= 0");
                // Bound the element count by what the data can hold before multiplying further: no overflow.
                if (shape[i] > 0 && elements > dataLength / type.Bytes / shape[i])
                    throw new ValidationException(field + ".shape", i, shape[i].ToString(), $"[{string.Join(", ", shape)}] of {dt} needs more than the file's {dataLength} data bytes");
                elements *= shape[i];
            }
            long need = elements * type.Bytes;
            if (offs.Length != 2) throw new ValidationException(field + ".data_offsets", null, Json(info["data_offsets"]), "must be [begin, end]");
            if (offs[0] < 0 || offs[1] < offs[0] || offs[1] > dataLength)
                throw new ValidationException(field + ".data_offsets", null, $"[{offs[0]}, {offs[1]}]", $"must be a range inside the {dataLength} data bytes");
            if (offs[1] - offs[0] != need)
                throw new ValidationException(field + ".data_offsets", null, $"[{offs[0]}, {offs[1]}]", $"must span {need} bytes ([{string.Join(", ", shape)}] of {dt})");
            entries.Add((name, type.Type, shape, dataStart + offs[0], need));
        }
        var result = new Dictionary<string, Tensor>();
        foreach (var (name, type, shape, begin, length) in entries)
        {
            var t = zeros(shape, dtype: type);
            t.bytes = bytes.AsSpan(checked((int)begin), checked((int)length));
            result[name] = t;
        }
        return result;
    }

    private static long[] Integers(JsonNode? node, string field)
    {
        if (node is not JsonArray a) throw new ValidationException(field, null, Json(node), "must be an array of integers");
        var v = new long[a.Count];
        for (int i = 0; i < a.Count; i++)
            if (a[i] is not JsonValue x || !x.TryGetValue(out v[i]))
                throw new ValidationException(field, i, Json(a[i]), "must be an integer");
        return v;
    }

    private static string Json(JsonNode? node) => node?.ToJsonString() ?? "missing";

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
            string dt = Types.First(kv => kv.Value.Type == c.dtype).Key;
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
