using System.Text.Json;

namespace HpcRpa.Cli.Tests;

/// <summary>The workbench commands: demo outputs, sweep rows and reruns, --compare.</summary>
public class WorkbenchTests
{
    private static (int Code, string Out, string Err) Run(params string[] args) => CliRunner.Run(args);

    private static string TempDir() => Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "hpcrpa-" + Guid.NewGuid().ToString("N"))).FullName;

    [Fact]
    public void DemoWritesATraceWithOneTrackPerEngineAPlotAndAReport()
    {
        string dir = TempDir();
        try
        {
            var (code, output, err) = Run("demo", "--decode", "4x300", "--prefill", "1x64", "--mixed", "1x16+100", "--page-size", "16", "--out", dir);
            Assert.True(code == 0, err + output);
            Assert.Contains("PASS", output);
            string run = Path.Combine(dir, "demo-tpu7x-llama3-8b");
            using var trace = JsonDocument.Parse(File.ReadAllText(Path.Combine(run, "trace.json")));
            var names = trace.RootElement.GetProperty("traceEvents").EnumerateArray()
                .Where(e => e.GetProperty("ph").GetString() == "M" && e.GetProperty("name").GetString() == "thread_name")
                .Select(e => e.GetProperty("args").GetProperty("name").GetString()).ToList();
            Assert.Equal(names.Count, names.Distinct().Count());
            foreach (var engine in new[] { "mxu0", "mxu1", "vpu", "eup", "xlu", "hbm", "scalar", "kernel" }) Assert.Contains(engine, names);
            var png = File.ReadAllBytes(Path.Combine(run, "roofline.png"));
            Assert.True(png.Length > 10_000);
            Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, png[..4]);
            var report = File.ReadAllText(Path.Combine(run, "report.md"));
            Assert.Contains("| decode |", report);
            Assert.Contains("RPAm-p_16", report);
        }
        finally { Directory.Delete(dir, true); }
    }

    /// <summary>The README's first command as a newcomer runs it: no arguments, the Llama-3-8B batch on tpu7x, checked.</summary>
    [Fact]
    public void TheDefaultDemoRunsAndPasses()
    {
        string dir = TempDir();
        try
        {
            // --json: the table goes through Spectre's console, which keeps the writer it first saw (another test's).
            var (code, output, err) = Run("demo", "--json", "--out", dir);
            Assert.True(code == 0, err + output);
            using var doc = JsonDocument.Parse(output);
            Assert.True(doc.RootElement.GetProperty("matches_reference").GetBoolean());
            Assert.Contains("RPAd-p_64-bq_1_1-bkv_2112_2112", doc.RootElement.GetProperty("variant").GetString());
            string run = Path.Combine(dir, "demo-tpu7x-llama3-8b");
            Assert.True(File.Exists(Path.Combine(run, "trace.json")));
            Assert.Contains(": pass;", File.ReadAllText(Path.Combine(run, "report.md")));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void ASweepOfOverAThousandConfigurationsGivesIdenticalRowsOnARerun()
    {
        string a = TempDir(), b = TempDir();
        try
        {
            string[] args = ["sweep", "--chips", "tpu7x,v6e", "--decode", "16x1024", "--decode", "16x2048", "--prefill", "1x512", "--page-sizes", "16,32,64", "--kv-dtypes", "bf16,fp8_e4m3", "--bq", "32,64,128"];
            var (c1, o1, e1) = Run([.. args, "--out", a]);
            var (c2, _, _) = Run([.. args, "--out", b]);
            Assert.True(c1 == 0, e1 + o1);
            Assert.Equal(0, c2);
            var rows = File.ReadAllLines(Path.Combine(a, "sweep.csv"));
            Assert.True(rows.Length > 1000, $"{rows.Length - 1} configurations");
            Assert.Equal(rows, File.ReadAllLines(Path.Combine(b, "sweep.csv")));
            Assert.True(new FileInfo(Path.Combine(a, "sweep.png")).Length > 10_000);
            Assert.Contains("best decode 16x1024 on tpu7x: ['TPU v7']", o1);
            Assert.Contains("sweep of", e1); // the progress bar went to stderr
        }
        finally { Directory.Delete(a, true); Directory.Delete(b, true); }
    }

    [Fact]
    public void CompareShowsTheDynamicGridBeatingThePaddedOneWithItsDmaCounts()
    {
        var (code, output, err) = Run("kv-update", "--chip", "tpu7x", "--page-size", "16", "--compare", "--json");
        Assert.True(code == 0, err);
        var j = JsonDocument.Parse(output).RootElement;
        Assert.Equal("dynamic grid", j.GetProperty("faster").GetString());
        Assert.True(j.GetProperty("b").GetProperty("dma_count").GetInt64() < j.GetProperty("a").GetProperty("dma_count").GetInt64());
        Assert.True(j.GetProperty("a").GetProperty("zero_byte_dma_count").GetInt64() > j.GetProperty("b").GetProperty("zero_byte_dma_count").GetInt64());
        var (c2, o2, e2) = Run("rpa", "--decode", "4x200", "--mixed", "1x32+64", "--page-size", "16", "--compare", "fused-vs-separate", "--json");
        Assert.True(c2 == 0, e2 + o2);
        var k = JsonDocument.Parse(o2).RootElement;
        Assert.True(k.GetProperty("ratio_cycles_b_over_a").GetDouble() > 0);
    }

    [Fact]
    public void CompareTorchJsonHasARowPerSequenceAndHead()
    {
        var (code, output, err) = Run("compare-torch", "--decode", "2x40", "--mixed", "1x8+20", "--page-size", "16", "--json");
        Assert.True(code == 0, err + output);
        var j = JsonDocument.Parse(output).RootElement;
        var rows = j.GetProperty("rows").EnumerateArray().ToList();
        Assert.Equal(3 * 32, rows.Count);
        foreach (var f in new[] { "seq", "head", "max_abs_err", "max_rel_err", "pass" }) Assert.True(rows[0].TryGetProperty(f, out _), f);
        Assert.True(j.GetProperty("pass").GetBoolean());
    }

    [Fact]
    public void BenchJsonReportsEveryFigureAgainstTheHostLimits()
    {
        var (code, output, err) = Run("bench", "--quick", "--json");
        Assert.True(code == 0, err + output);
        var j = JsonDocument.Parse(output).RootElement;
        foreach (var f in new[] { "decode_bw_fraction", "decode_vs_torch", "prefill_peak_fraction", "prefill_vs_torch", "cores_scaling", "timing_only_step_ms", "timing_only_events_per_s" })
            Assert.True(j.GetProperty(f).GetDouble() > 0, f);
        Assert.True(j.GetProperty("host_read_gb_s").GetDouble() > 1);
        Assert.InRange(j.GetProperty("read_with_decode_fmas_fraction").GetDouble(), 0.01, 2.0); // a ratio of two readings of a shared machine
        Assert.InRange(j.GetProperty("decode_layout_read_fraction").GetDouble(), 0.01, 2.0);
        Assert.Equal(4, j.GetProperty("decode_layout_read_gb_s_by_pages_in_flight").EnumerateObject().Count());
        Assert.True(j.GetProperty("decode_in_cache_seconds").GetDouble() > 0);
        Assert.True(j.GetProperty("decode_in_cache_kv_gb_s").GetDouble() > 0);
        Assert.True(j.GetProperty("decode_array_cache_seconds").GetDouble() > 0);
        Assert.True(j.GetProperty("decode_array_cache_bw_fraction").GetDouble() > 0);
        Assert.True(j.GetProperty("decode_layout_read_one_core_gb_s").GetDouble() > 0);
        // Both derived from figures of the same object: the arithmetic against the target's time, and perfect overlap.
        double readBw = j.GetProperty("host_read_gb_s").GetDouble() * 1e9, inCache = j.GetProperty("decode_in_cache_seconds").GetDouble();
        double kvBytes = j.GetProperty("decode_in_cache_kv_gb_s").GetDouble() * 1e9 * inCache;
        Assert.Equal(inCache / (kvBytes / (0.8 * readBw)), j.GetProperty("decode_in_cache_share_of_target_time").GetDouble(), 6);
        double layout = j.GetProperty("decode_layout_read_gb_s").GetDouble() * 1e9;
        Assert.Equal(j.GetProperty("decode_layout_read_fraction").GetDouble() > 1, j.GetProperty("host_read_below_layout_read").GetBoolean());
        Assert.Equal(kvBytes / Math.Max(inCache, kvBytes / layout) / readBw, j.GetProperty("decode_perfect_overlap_bw_fraction").GetDouble(), 6);
    }

    [Fact]
    public void FusedVsSeparateChecksBothVariantsAndMergesTheReportOnAJsonChip()
    {
        string dir = TempDir();
        try
        {
            // A chip from a file, with figures no preset has: MBU/MFU of the merged report must use them.
            string chip = Path.Combine(dir, "slow.json");
            File.WriteAllText(chip, """{"base": "v6e", "Name": "v6e-slow", "HbmBandwidthPerChip": 4.0e11, "PeakBf16FlopsPerChip": 4.59e14}""");
            var (code, output, err) = Run("rpa", "--chip", chip, "--decode", "4x200", "--mixed", "1x32+64", "--page-size", "16", "--compare", "fused-vs-separate", "--json");
            Assert.True(code == 0, err + output);
            var j = JsonDocument.Parse(output).RootElement;
            foreach (var side in new[] { "a", "b" })
            {
                var s = j.GetProperty(side);
                Assert.True(s.GetProperty("matches_reference").GetBoolean(), side);
                Assert.True(s.GetProperty("cache_matches_reference").GetBoolean(), side);
                Assert.True(s.GetProperty("max_abs_err").GetDouble() < 2e-2, side);
                Assert.Equal("v6e-slow", s.GetProperty("chip").GetString());
                double seconds = s.GetProperty("seconds").GetDouble();
                Assert.Equal(s.GetProperty("hbm_bytes").GetDouble() / (seconds * 4.0e11), s.GetProperty("mbu").GetDouble(), 9);
                Assert.Equal(s.GetProperty("flops").GetDouble() / (seconds * 4.59e14), s.GetProperty("mfu").GetDouble(), 9);
            }
            var b = j.GetProperty("b");
            Assert.StartsWith("kv update + ", b.GetProperty("kernel").GetString());
            // The separate variant's engines cover the whole merged run; its bound follows from them.
            var engines = b.GetProperty("engines").EnumerateObject().ToDictionary(e => e.Name, e => e.Value.GetDouble());
            var (bound, reason) = HpcRpa.Timeline.RunReport.DecideBound(engines);
            Assert.Equal(bound.ToString().ToLowerInvariant(), b.GetProperty("bound").GetString());
            Assert.Equal(reason, b.GetProperty("bound_reason").GetString());

            var (c2, o2, e2) = Run("rpa", "--chip", chip, "--decode", "4x200", "--page-size", "16", "--compare", "specialised-vs-mixed");
            Assert.True(c2 == 0, e2 + o2);
            Assert.Matches(@"both variants checked against the reference: A max abs err \S+ \(pass\), B max abs err \S+ \(pass\); caches identical", o2);
        }
        finally { Directory.Delete(dir, true); }
    }
}
