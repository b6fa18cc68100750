using HpcRpa.Errors;

namespace HpcRpa.Cli.Tests;

/// <summary>Failures the user can act on end as one line on stderr with exit code 2, never a stack trace.</summary>
public class ErrorTests
{
    private static string TempDir() => Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "hpcrpa-" + Guid.NewGuid().ToString("N"))).FullName;

    private static string FailsWithOneLine(params string[] args)
    {
        var (code, output, err) = CliRunner.Run(args);
        Assert.True(code == 2, $"exit {code}: {err}{output}");
        string line = err.Trim();
        Assert.StartsWith("hpcrpa: ", line);
        Assert.DoesNotContain('\n', line);
        Assert.DoesNotContain(" at HpcRpa.", line);
        return line;
    }

    [Fact]
    public void ASweepWorkerFailureNamesTheConfigurationAndTheField()
    {
        string dir = TempDir();
        try
        {
            // fp8 packs 4 rows per sublane: a page of 2 tokens cannot hold them, which only the worker's validation finds.
            string line = FailsWithOneLine("sweep", "--chips", "v6e", "--decode", "4x256", "--page-sizes", "2", "--kv-dtypes", "fp8_e4m3", "--bkv", "256", "--bkv-c", "128", "--threads", "2", "--out", dir);
            Assert.Contains("sweep configuration 0 (v6e", line);
            Assert.Contains("page_size = 2", line);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void ADemoThatWouldFallBackIsATypedErrorNamingTheField()
    {
        string dir = TempDir();
        try
        {
            string line = FailsWithOneLine("demo", "--decode", "2x100", "--page-size", "16", "--kv-dtype", "f16", "--out", dir);
            Assert.Contains("kv_cache.dtype = f16", line);
            Assert.Contains("hpcrpa rpa", line);
            Assert.Empty(Directory.GetFileSystemEntries(dir)); // nothing written for a run that did not happen
        }
        finally { Directory.Delete(dir, true); }
    }

    [Theory]
    [InlineData("""{"Name": "m", "NumQHeads": 4, """, "model file")]
    [InlineData("""{"Name": "m", "NumQHeads": 4, "NumKvHeads": 2, "HeadDim": 64, "Layers": 2, "SlidingWindw": 5}""", "SlidingWindw")]
    [InlineData("""{"NumQHeads": 4, "NumKvHeads": 2, "HeadDim": 64, "Layers": 2}""", "Name is missing")]
    [InlineData("""{"Name": "m", "NumQHeads": 4, "NumKvHeads": 3, "HeadDim": 64, "Layers": 2}""", "not a valid attention shape")]
    [InlineData("""[1, 2]""", "model file")]
    public void ABadModelFileIsOneLine(string json, string expected)
    {
        string dir = TempDir();
        try
        {
            string file = Path.Combine(dir, "model.json");
            File.WriteAllText(file, json);
            string line = FailsWithOneLine("rpa", "--model", file, "--decode", "2x40", "--page-size", "16", "--timing-only");
            Assert.Contains(expected, line);
            Assert.Contains(file, line);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void AGoodModelFileStillRuns()
    {
        string dir = TempDir();
        try
        {
            string file = Path.Combine(dir, "model.json");
            File.WriteAllText(file, """{"Name": "mine", "NumQHeads": 16, "NumKvHeads": 4, "HeadDim": 128, "Layers": 24, "SoftCap": null, "SlidingWindow": null}""");
            var (code, output, err) = CliRunner.Run("rpa", "--model", file, "--decode", "2x40", "--page-size", "16", "--timing-only");
            Assert.True(code == 0, err + output);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void WrappedTorchLoadFailuresBecomeTheFixText()
    {
        var dll = new DllNotFoundException("Unable to load shared library 'LibTorchSharp': libLibTorchSharp.so: version `GLIBCXX_3.4.32' not found");
        string? m = Program.UserError(new TypeInitializationException("TorchSharp.torch", dll));
        Assert.NotNull(m);
        Assert.StartsWith("TorchSharp cannot load", m);
        Assert.Contains("GLIBCXX_3.4.32", m);
        Assert.Equal(m, Program.UserError(dll));
        var unavailable = HpcRpa.TorchSharp.Runtime.TorchUnavailableException.From(dll);
        Assert.Equal(unavailable.Message, Program.UserError(new TypeInitializationException("X", unavailable)));
    }

    [Fact]
    public void BugsKeepTheirStackTrace()
    {
        Assert.Null(Program.UserError(new NullReferenceException()));
        Assert.Null(Program.UserError(new InvalidOperationException("x")));
        // A parallel failure is a user error only when every inner error is one.
        var v = new ValidationException("page_size", null, "2", "bad");
        Assert.Equal(v.Message, Program.UserError(new AggregateException(v, new ArgumentException("y"))));
        Assert.Null(Program.UserError(new AggregateException(v, new IndexOutOfRangeException())));
    }
}
