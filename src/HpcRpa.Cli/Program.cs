using System.CommandLine;
using System.Reflection;
using System.Text.Json;
using HpcRpa.Cli.Commands;
using HpcRpa.TorchSharp.Runtime;

namespace HpcRpa.Cli;

public static class Program
{
    public static int Main(string[] args)
    {
        var root = new RootCommand("hpcrpa — run TPU kernels (RPA, KV-cache update, GEMM, copy) on an emulated TensorCore and report what a real TPU would take.");
        root.Subcommands.Add(DemoCommand.Create());
        root.Subcommands.Add(SweepCommand.Create());
        root.Subcommands.Add(GemmCommand.Create());
        root.Subcommands.Add(CopyCommand.Create());
        root.Subcommands.Add(RpaCommand.Create());
        root.Subcommands.Add(KvUpdateCommand.Create());
        root.Subcommands.Add(CompareTorchCommand.Create());
        root.Subcommands.Add(BenchCommand.Create());
        root.Subcommands.Add(ChipsCommand.Create());
        try
        {
            return root.Parse(args).Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
        }
        catch (Exception e) when (UserError(e) is { } message)
        {
            // A user's mistake, an unsupported input or a missing native library: say what and where, no stack trace.
            Console.Error.WriteLine($"hpcrpa: {message}");
            return 2;
        }
    }

    /// <summary>
    /// The one-line message for an error the user can act on, looking through the wrappers the runtime adds
    /// (parallel workers, static constructors, reflection); null for anything else, which is a bug and keeps
    /// its stack trace.
    /// </summary>
    internal static string? UserError(Exception e) => e switch
    {
        AggregateException a => a.Flatten().InnerExceptions is { Count: > 0 } inner && inner.All(x => UserError(x) is not null) ? UserError(inner[0]) : null,
        TypeInitializationException { InnerException: { } inner } => UserError(inner),
        TargetInvocationException { InnerException: { } inner } => UserError(inner),
        // TorchSharp's native library failing to load surfaces as one of these when it is touched outside
        // TorchRuntime.EnsureLoaded; the explanation names the missing GLIBCXX version and the fix.
        DllNotFoundException or EntryPointNotFoundException when IsTorch(e) => TorchUnavailableException.From(e).Message,
        DllNotFoundException => $"a native library is missing: {e.Message}",
        Errors.HpcRpaException or Hardware.ChipSpecException or ArgumentException or FormatException or IOException or JsonException => e.Message,
        _ => null,
    };

    private static bool IsTorch(Exception e) => e.Message.Contains("Torch", StringComparison.OrdinalIgnoreCase) || e.Message.Contains("GLIBCXX", StringComparison.Ordinal);
}
