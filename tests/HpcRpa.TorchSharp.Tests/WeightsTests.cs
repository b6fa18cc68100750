using System.Buffers.Binary;
using System.Text;
using HpcRpa.Errors;
using HpcRpa.TorchSharp.Model;
using HpcRpa.TorchSharp.Weights;
using static TorchSharp.torch;

namespace HpcRpa.TorchSharp.Tests;

public class WeightsTests
{
    private static readonly LlamaConfig Config = new(Vocab: 50, Hidden: 32, Layers: 1, NumQHeads: 2, NumKvHeads: 1, HeadDim: 16, Intermediate: 64, Seed: 1);

    private static float[] Logits(LlamaModel m)
    {
        using var noGrad = no_grad();
        using var torchBackend = new TorchAttentionBackend(m.Config);
        torchBackend.BeginStep(new StepBatch([new SeqStep(0, 0, 4)]));
        using var l = m.Forward(tensor(new long[] { 1, 7, 3, 9 }), tensor(new long[] { 0, 1, 2, 3 }), torchBackend);
        return l.data<float>().ToArray();
    }

    [Fact]
    public void DatCheckpointRoundTrips()
    {
        string path = Path.Combine(Path.GetTempPath(), $"hpcrpa-{Guid.NewGuid():N}.dat");
        try
        {
            using var a = new LlamaModel(Config);
            using var b = new LlamaModel(Config with { Seed = 99 });
            Assert.NotEqual(Logits(a), Logits(b));
            ModelWeights.SaveDat(a, path);
            ModelWeights.LoadDat(b, path);
            Assert.Equal(Logits(a), Logits(b));
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void SafeTensorsCheckpointRoundTrips()
    {
        string path = Path.Combine(Path.GetTempPath(), $"hpcrpa-{Guid.NewGuid():N}.safetensors");
        try
        {
            using var a = new LlamaModel(Config);
            using var b = new LlamaModel(Config with { Seed = 42 });
            ModelWeights.SaveSafeTensors(a, path);
            ModelWeights.LoadSafeTensors(b, path);
            Assert.Equal(Logits(a), Logits(b));
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void SafeTensorsReaderFollowsTheFormatByteForByte()
    {
        // Written by hand from the format description: a bf16 [2] tensor (1.0, -2.0) and an f32 [1] tensor 0.5.
        string header = """{"__metadata__":{"format":"pt"},"a":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}""";
        var h = Encoding.UTF8.GetBytes(header);
        var file = new byte[8 + h.Length + 8];
        BinaryPrimitives.WriteUInt64LittleEndian(file, (ulong)h.Length);
        h.CopyTo(file, 8);
        new byte[] { 0x80, 0x3F, 0x00, 0xC0 }.CopyTo(file, 8 + h.Length);
        BitConverter.GetBytes(0.5f).CopyTo(file, 8 + h.Length + 4);
        string path = Path.Combine(Path.GetTempPath(), $"hpcrpa-{Guid.NewGuid():N}.safetensors");
        try
        {
            File.WriteAllBytes(path, file);
            var t = SafeTensors.Load(path);
            Assert.Equal(ScalarType.BFloat16, t["a"].dtype);
            Assert.Equal(new[] { 1f, -2f }, t["a"].to_type(ScalarType.Float32).data<float>().ToArray());
            Assert.Equal(0.5f, t["b"].item<float>());
            file[8 + h.Length - 4] = (byte)'9'; // corrupt b's end offset: "[4,8]}}" becomes "[4,9]}}"
            File.WriteAllBytes(path, file);
            Assert.Throws<ValidationException>(() => SafeTensors.Load(path));
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void MismatchedCheckpointsAreTypedErrors()
    {
        string path = Path.Combine(Path.GetTempPath(), $"hpcrpa-{Guid.NewGuid():N}.safetensors");
        try
        {
            using var small = new LlamaModel(Config);
            ModelWeights.SaveSafeTensors(small, path);
            using var big = new LlamaModel(Config with { Hidden = 64 });
            var e = Assert.Throws<ValidationException>(() => ModelWeights.LoadSafeTensors(big, path));
            Assert.Contains("shape", e.Field);
        }
        finally { File.Delete(path); }
    }

    private static string WriteSafeTensors(string header, int dataBytes)
    {
        var h = Encoding.UTF8.GetBytes(header);
        var file = new byte[8 + h.Length + dataBytes];
        BinaryPrimitives.WriteUInt64LittleEndian(file, (ulong)h.Length);
        h.CopyTo(file, 8);
        string path = Path.Combine(Path.GetTempPath(), $"hpcrpa-{Guid.NewGuid():N}.safetensors");
        File.WriteAllBytes(path, file);
        return path;
    }

    [Theory]
    // A shape whose byte size dwarfs the file (and overflows long when multiplied out): refused before any allocation.
    [InlineData("""{"w":{"dtype":"F32","shape":[1000000000000,1000000000000],"data_offsets":[0,8]}}""", "safetensors.w.shape", 0, "1000000000000")]
    [InlineData("""{"w":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,8]}}""", "safetensors.w.shape", 0, "4611686018427387904")]
    [InlineData("""{"w":{"dtype":"F32","shape":[2,-1],"data_offsets":[0,8]}}""", "safetensors.w.shape", 1, "-1")]
    [InlineData("""{"w":{"dtype":"F32","shape":["2"],"data_offsets":[0,8]}}""", "safetensors.w.shape", 0, "\"2\"")]
    [InlineData("""{"w":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}}""", "safetensors.w.shape", 0, "2.5")]
    [InlineData("""{"w":{"dtype":"F32","data_offsets":[0,8]}}""", "safetensors.w.shape", null, "missing")]
    [InlineData("""{"w":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[0,8]}}""", "safetensors.w.dtype", null, "F8_E4M3")]
    [InlineData("""{"w":{"dtype":7,"shape":[2],"data_offsets":[0,8]}}""", "safetensors.w.dtype", null, "7")]
    [InlineData("""{"w":{"dtype":"F32","shape":[2],"data_offsets":[-8,0]}}""", "safetensors.w.data_offsets", null, "[-8, 0]")]
    [InlineData("""{"w":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}""", "safetensors.w.data_offsets", null, "[8, 0]")]
    [InlineData("""{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,16]}}""", "safetensors.w.data_offsets", null, "[0, 16]")]
    [InlineData("""{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}""", "safetensors.w.shape", 0, "3")]
    [InlineData("""{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,8]}}""", "safetensors.w.data_offsets", null, "[0, 8]")]
    [InlineData("""{"w":{"dtype":"F32","shape":[2],"data_offsets":[0]}}""", "safetensors.w.data_offsets", null, "[0]")]
    public void MalformedSafeTensorsHeadersAreTypedErrorsNamingTheTensorAndValue(string header, string field, int? index, string value)
    {
        string path = WriteSafeTensors(header, 8);
        try
        {
            var e = Assert.Throws<ValidationException>(() => SafeTensors.Load(path));
            Assert.Equal(field, e.Field);
            Assert.Equal(index, e.Index);
            Assert.Equal(value, e.Value);
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void AValidTensorAfterAMalformedOneIsNotAllocated()
    {
        // The whole header is checked first: a bad second entry fails the load with nothing half-built.
        string path = WriteSafeTensors("""{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[-3],"data_offsets":[0,8]}}""", 8);
        try
        {
            var e = Assert.Throws<ValidationException>(() => SafeTensors.Load(path));
            Assert.Equal("safetensors.b.shape", e.Field);
        }
        finally { File.Delete(path); }
    }

    /// <summary>Unsigned LEB128, as exportsd.py's leb128.u.encode writes it (7 bits per byte, low first, high bit = more).</summary>
    private static void Leb128(Stream s, ulong v)
    {
        do
        {
            byte b = (byte)(v & 0x7F);
            v >>= 7;
            s.WriteByte(v != 0 ? (byte)(b | 0x80) : b);
        } while (v != 0);
    }

    [Fact]
    public void DatFileWrittenInExportsdLayoutLoadsIntoTheModel()
    {
        // exportsd.py (TorchSharp src/Python): LEB128 tensor count; per tensor LEB128 name length, UTF-8 name,
        // then LEB128 dtype code (torch ScalarType: 6 = float32), LEB128 rank, LEB128 dims, raw little-endian data.
        var ms0 = new MemoryStream();
        Leb128(ms0, 200);
        Assert.Equal(new byte[] { 0xC8, 0x01 }, ms0.ToArray()); // 200 = 0b1_1001000: two bytes, as the dims below need

        var config = Config with { Vocab = 200 };
        using var model = new LlamaModel(config);
        var state = model.state_dict();
        var expected = new Dictionary<string, float[]>();
        string path = Path.Combine(Path.GetTempPath(), $"hpcrpa-{Guid.NewGuid():N}.dat");
        try
        {
            using (var f = File.Create(path))
            {
                Leb128(f, (ulong)state.Count);
                int k = 0;
                // Reverse order: TorchSharp matches entries by name, not position.
                foreach (var (name, p) in state.Reverse())
                {
                    var nameBytes = Encoding.UTF8.GetBytes(name);
                    Leb128(f, (ulong)nameBytes.Length);
                    f.Write(nameBytes);
                    Leb128(f, 6);
                    Leb128(f, (ulong)p.shape.Length);
                    foreach (long d in p.shape) Leb128(f, (ulong)d);
                    var values = new float[p.NumberOfElements];
                    for (int i = 0; i < values.Length; i++) values[i] = (float)Math.Sin(0.37 * i + k) * 0.25f;
                    k++;
                    expected[name] = values;
                    var raw = new byte[values.Length * 4];
                    for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(raw.AsSpan(4 * i), values[i]);
                    f.Write(raw);
                }
            }
            ModelWeights.LoadDat(model, path);
            foreach (var (name, p) in model.state_dict())
                Assert.Equal(expected[name], p.contiguous().data<float>().ToArray());
            Assert.Equal(200, model.state_dict()["embed.weight"].shape[0]);
        }
        finally { File.Delete(path); }
    }
}
