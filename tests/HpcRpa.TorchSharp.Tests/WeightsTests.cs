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
}
