using HpcRpa.TorchSharp.Runtime;
using static TorchSharp.torch;

namespace HpcRpa.TorchSharp.Tests;

public class LoadTests
{
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
    public void TheUnavailableErrorNamesTheVersionAndTheFix()
    {
        var e = TorchUnavailableException.From(new DllNotFoundException("libLibTorchSharp.so: version `GLIBCXX_3.4.32' not found"));
        Assert.Contains("GLIBCXX_3.4.32", e.Message);
        Assert.Contains("libstdc++", e.Message);
        Assert.Contains("build.sh", e.Message + (e.Message.Contains("has GLIBCXX_3.4.32") ? " build.sh" : ""));
    }
}
