using System.CommandLine;
using HpcRpa.Cli.Commands;

namespace HpcRpa.Cli;

public static class Program
{
    public static int Main(string[] args)
    {
        var root = new RootCommand("hpcrpa — run TPU kernels (RPA, KV-cache update, GEMM, copy) on an emulated TensorCore and report what a real TPU would take.");
        root.Subcommands.Add(DemoCommand.Create());
        root.Subcommands.Add(GemmCommand.Create());
        root.Subcommands.Add(CopyCommand.Create());
        root.Subcommands.Add(RpaCommand.Create());
        root.Subcommands.Add(KvUpdateCommand.Create());
        root.Subcommands.Add(ChipsCommand.Create());
        return root.Parse(args).Invoke();
    }
}
