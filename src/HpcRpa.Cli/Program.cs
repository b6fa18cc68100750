using System.CommandLine;
using HpcRpa.Cli.Commands;

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
        catch (Exception e) when (e is Errors.HpcRpaException or ArgumentException or FormatException or IOException)
        {
            // A user's mistake or an unsupported input: say what and where, no stack trace.
            Console.Error.WriteLine($"hpcrpa: {e.Message}");
            return 2;
        }
    }
}
