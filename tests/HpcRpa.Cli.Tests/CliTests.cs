using System.Text.Json;

[assembly: CollectionBehavior(DisableTestParallelization = true)]

namespace HpcRpa.Cli.Tests;

/// <summary>The hpcrpa commands, run in-process as a user would type them.</summary>
public class CliTests
{
    private static (int Code, string Out, string Err) Run(params string[] args) => CliRunner.Run(args);

    private static JsonElement Json(params string[] args)
    {
        var (code, output, err) = Run(args);
        Assert.True(code == 0, $"exit {code}: {err}{output}");
        return JsonDocument.Parse(output).RootElement;
    }

    [Fact]
    public void GemmJsonCarriesTheReportFields()
    {
        var j = Json("gemm", "--chip", "v6e", "--m", "512", "--n", "512", "--k", "1024", "--bm", "256", "--bk", "512", "--bn", "256", "--json");
        foreach (var f in new[] { "chip", "cycles", "seconds", "flops", "hbm_bytes", "mfu", "mbu", "bound", "engines" })
            Assert.True(j.TryGetProperty(f, out _), $"missing {f}");
        Assert.Equal("v6e", j.GetProperty("chip").GetString());
        Assert.Equal(2.0 * 512 * 512 * 1024, j.GetProperty("flops").GetDouble());
        Assert.True(j.GetProperty("engines").GetProperty("mxu").GetDouble() > 0);
        Assert.True(j.GetProperty("max_rel_err_sampled").GetDouble() < 1e-2); // bf16 output of an f32 sum
    }

    [Fact]
    public void GemmTimingOnlyMatchesFunctionalCycles()
    {
        string[] a = ["gemm", "--chip", "v5e", "--m", "256", "--n", "256", "--k", "256", "--bm", "128", "--bk", "128", "--bn", "128", "--json"];
        var f = Json(a);
        var t = Json([.. a, "--timing-only"]);
        Assert.Equal(f.GetProperty("cycles").GetInt64(), t.GetProperty("cycles").GetInt64());
        Assert.Equal("timing-only", t.GetProperty("mode").GetString());
    }

    [Fact]
    public void CopyOfOneGiBIsMemoryBoundAndTheTraceLoads()
    {
        string trace = Path.Combine(Path.GetTempPath(), $"hpcrpa-copy-{Guid.NewGuid():N}.json");
        try
        {
            var j = Json("copy", "--chip", "v6e", "--bytes", "1GiB", "--timing-only", "--json", "--trace", trace);
            Assert.Equal("memory", j.GetProperty("bound").GetString());
            Assert.True(j.GetProperty("mbu").GetDouble() >= 0.9);
            using var doc = JsonDocument.Parse(File.ReadAllText(trace));
            Assert.True(doc.RootElement.GetProperty("traceEvents").GetArrayLength() > 10);
        }
        finally { File.Delete(trace); }
    }

    [Fact]
    public void RpaJsonChecksAgainstTheReference()
    {
        var j = Json("rpa", "--chip", "tpu7x", "--model", "llama3-8b", "--decode", "3x100", "--mixed", "1x20+40", "--page-size", "16", "--json");
        Assert.True(j.GetProperty("matches_reference").GetBoolean());
        Assert.True(j.GetProperty("max_abs_err").GetDouble() < 2e-2);
        Assert.StartsWith("RPAd-p_16", j.GetProperty("variant").GetString());
        Assert.Contains("RPAm-p_16", j.GetProperty("variant").GetString());
        Assert.True(j.GetProperty("cycles").GetInt64() > 0);
        Assert.True(j.GetProperty("mbu").GetDouble() > 0);
    }

    [Fact]
    public void RpaIsReproducibleWithASeed()
    {
        string[] a = ["rpa", "--chip", "v6e", "--mixed", "2x10+30", "--page-size", "16", "--seed", "7", "--json"];
        var x = Json(a);
        var y = Json(a);
        Assert.Equal(x.GetProperty("cycles").GetInt64(), y.GetProperty("cycles").GetInt64());
        Assert.Equal(x.GetProperty("max_abs_err").GetDouble(), y.GetProperty("max_abs_err").GetDouble());
    }

    [Fact]
    public void KvUpdateDynamicBeatsPaddedOnTheDefaultWorkload()
    {
        var padded = Json("kv-update", "--chip", "v6e", "--grid", "padded", "--json");
        var dynamic = Json("kv-update", "--chip", "v6e", "--grid", "dynamic", "--json");
        Assert.True(padded.GetProperty("padded_slices").GetInt32() > padded.GetProperty("num_slices").GetInt32());
        Assert.True(dynamic.GetProperty("dma_count").GetInt64() < padded.GetProperty("dma_count").GetInt64());
        Assert.True(dynamic.GetProperty("cycles").GetInt64() < padded.GetProperty("cycles").GetInt64());
        Assert.True(padded.GetProperty("matches_reference").GetBoolean());
        Assert.True(dynamic.GetProperty("matches_reference").GetBoolean());
    }

    [Fact]
    public void BadInputsSayWhatIsWrong()
    {
        var (code, output, err) = Run("gemm", "--m", "1000", "--bm", "512", "--timing-only");
        Assert.NotEqual(0, code);
        Assert.Contains("bm", err + output);
        var (code2, o2, e2) = Run("rpa", "--decode", "4xabc");
        Assert.NotEqual(0, code2);
        Assert.Contains("4xabc", e2 + o2);
        var (code3, o3, e3) = Run("copy", "--chip", "v9z", "--bytes", "64");
        Assert.NotEqual(0, code3);
        Assert.Contains("v9z", e3 + o3);
    }

    [Fact]
    public void RpaFallbackHasNoErrorAgainstTheReferenceItself()
    {
        string[] a = ["rpa", "--chip", "v6e", "--mixed", "2x10+30", "--page-size", "16", "--kv-dtype", "f16"];
        var j = Json([.. a, "--json"]);
        Assert.True(j.GetProperty("fell_back").GetBoolean());
        Assert.Equal(JsonValueKind.Null, j.GetProperty("max_abs_err").ValueKind);
        Assert.Equal(JsonValueKind.Null, j.GetProperty("matches_reference").ValueKind);
        var (code, output, err) = Run(a);
        Assert.True(code == 0, err + output);
        Assert.Contains("the reference computed this output (fallback)", output);
        Assert.DoesNotContain("max abs err", output);
        // Without the fallback the error is a real comparison.
        var k = Json("rpa", "--chip", "v6e", "--mixed", "2x10+30", "--page-size", "16", "--json");
        Assert.False(k.GetProperty("fell_back").GetBoolean());
        Assert.Equal(JsonValueKind.Number, k.GetProperty("max_abs_err").ValueKind);
    }
}
