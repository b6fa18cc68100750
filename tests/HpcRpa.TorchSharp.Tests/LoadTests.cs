using HpcRpa.Kernels.RaggedPagedAttention;
using HpcRpa.Numerics;
using HpcRpa.TorchSharp.Compare;
using HpcRpa.TorchSharp.Model;
using HpcRpa.TorchSharp.Runtime;
using HpcRpa.TorchSharp.Tensors;
using HpcRpa.TorchSharp.Weights;
using static TorchSharp.torch;

namespace HpcRpa.TorchSharp.Tests;

public class LoadTests
{
    private static readonly DllNotFoundException MissingVersion = new("libLibTorchSharp.so: version `GLIBCXX_3.4.32' not found");

    [Fact]
    public void TorchLoadsForRealAndRunsSdpa()
    {
        TorchRuntime.EnsureLoaded(); // throws a TorchUnavailableException with the fix if the patch did not apply
        Assert.True(TorchRuntime.IsAvailable);
        using var q = ones(1, 2, 3, 4);
        using var o = nn.functional.scaled_dot_product_attention(q, q, q);
        Assert.Equal(new long[] { 1, 2, 3, 4 }, o.shape);
        Assert.Equal(1f, o[0, 0, 0, 0].item<float>(), 6);
    }

    [Fact]
    public void WithoutTheVersionTheErrorNamesItAndTheFix()
    {
        string? probed = null;
        var e = TorchUnavailableException.From(MissingVersion, "/usr/lib/x86_64-linux-gnu/libstdc++.so.6", p => { probed = p; return false; });
        Assert.Equal("/usr/lib/x86_64-linux-gnu/libstdc++.so.6", probed);
        Assert.StartsWith("TorchSharp cannot load: libLibTorchSharp.so (TorchSharp-cpu 0.107) needs GLIBCXX_3.4.32, which /usr/lib/x86_64-linux-gnu/libstdc++.so.6 lacks", e.Message);
        Assert.Contains("./build.sh", e.Message);
        Assert.Contains("patch-torchsharp.sh", e.Message);
        Assert.Contains("patchelf", e.Message);
        Assert.Same(MissingVersion, e.InnerException);
    }

    [Fact]
    public void WithTheVersionTheErrorPointsElsewhere()
    {
        var e = TorchUnavailableException.From(MissingVersion, "/opt/gcc14/libstdc++.so.6", _ => true);
        Assert.StartsWith("TorchSharp cannot load: the system libstdc++ (/opt/gcc14/libstdc++.so.6) has GLIBCXX_3.4.32, so the cause is elsewhere: ", e.Message);
        Assert.EndsWith(MissingVersion.Message, e.Message);
        Assert.DoesNotContain("build.sh", e.Message);
    }

    [Fact]
    public void WithoutAnyLibStdCxxTheErrorSaysSoAndGivesTheFix()
    {
        bool probed = false;
        var e = TorchUnavailableException.From(MissingVersion, null, _ => probed = true);
        Assert.False(probed);
        Assert.Contains("(libstdc++.so.6 not found) lacks", e.Message);
        Assert.Contains("./build.sh", e.Message);
    }

    [Fact]
    public void EveryEntryPointReportsAMissingLibraryAsTheTypedError()
    {
        // Everything that needs a live torch is made before the simulated failure.
        using var t = zeros(2, 3);
        using var model = new LlamaModel(new LlamaConfig(Layers: 1));
        var p = new RpaProblem
        {
            MaxNumTokens = 1, NumQHeads = 1, NumKvHeads = 1, HeadDim = 8, PageSize = 2, NumPages = 1, MaxNumSeqs = 1, PagesPerSeq = 1,
            QDType = DType.F32, KvDType = DType.F32, KvLens = [1], PageIndices = [0], CuQLens = [0, 1], Distribution = [0, 0, 1],
        };
        var entryPoints = new (string Name, Action Call)[]
        {
            ("TensorBridge.FromBytes", () => TensorBridge.FromBytes(new byte[24], DType.F32, 2, 3)),
            ("TensorBridge.ToBytes", () => TensorBridge.ToBytes(t, "t")),
            ("TensorBridge.Prepare", () => TensorBridge.Prepare(t, "t")),
            ("TensorBridge.DTypeOf", () => TensorBridge.DTypeOf(t)),
            ("TensorBridge.ScalarTypeOf", () => TensorBridge.ScalarTypeOf(DType.F32)),
            ("TensorBridge.Share", () => TensorBridge.Share(t)),
            ("TensorBridge.ShareArray", () => TensorBridge.ShareArray(new float[6], 2, 3)),
            ("TensorBridge.DataPointer", () => TensorBridge.DataPointer(t)),
            ("TorchComparison.DecodePages", () => TorchComparison.DecodePages(p, [])),
            ("TorchComparison.Reference", () => TorchComparison.Reference(p, new RpaOptions(), [])),
            ("TorchComparison.Compare", () => TorchComparison.Compare(p, new RpaOptions(), [], [], "v")),
            ("TorchPagedAttention.VisibleMask", () => Reference.TorchPagedAttention.VisibleMask(1, 1, new())),
            ("new LlamaModel", () => new LlamaModel(new LlamaConfig(Layers: 1))),
            ("LlamaModel.Forward", () => model.Forward(t, t, new TorchAttentionBackend(model.Config))),
            ("GenerationEngine.Generate", () => new GenerationEngine(model, new TorchAttentionBackend(model.Config)).Generate([new([1])], 1)),
            ("TorchAttentionBackend.Attend", () => new TorchAttentionBackend(model.Config).Attend(0, t, t, t)),
            ("HpcRpaAttentionBackend.Attend", () => { using var b = new HpcRpaAttentionBackend(model.Config, Hardware.ChipPresets.V6e); b.Attend(0, t, t, t); }),
            ("ModelWeights.LoadDat", () => ModelWeights.LoadDat(model, "/nonexistent.dat")),
            ("ModelWeights.SaveDat", () => ModelWeights.SaveDat(model, "/nonexistent/x.dat")),
            ("ModelWeights.LoadSafeTensors", () => ModelWeights.LoadSafeTensors(model, "/nonexistent.safetensors")),
            ("ModelWeights.SaveSafeTensors", () => ModelWeights.SaveSafeTensors(model, "/nonexistent/x.safetensors")),
            ("SafeTensors.Load", () => SafeTensors.Load("/nonexistent.safetensors")),
            ("SafeTensors.Save", () => SafeTensors.Save("/nonexistent/x.safetensors", new Dictionary<string, Tensor>())),
        };
        TorchRuntime.SimulatedLoadFailure = MissingVersion;
        try
        {
            Assert.False(TorchRuntime.IsAvailable);
            foreach (var (name, call) in entryPoints)
            {
                var e = Record.Exception(call);
                Assert.True(e is TorchUnavailableException, $"{name}: {e?.GetType().Name ?? "no exception"} {e?.Message}");
                Assert.Contains("GLIBCXX_3.4.32", e!.Message);
            }
        }
        finally { TorchRuntime.SimulatedLoadFailure = null; }
        Assert.True(TorchRuntime.IsAvailable);
    }
}
