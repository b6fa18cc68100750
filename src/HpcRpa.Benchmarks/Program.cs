using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;

namespace HpcRpa.Benchmarks;

/// <summary>
/// BenchmarkDotNet microbenchmarks of the host-side work: RPA decode and prefill in functional mode, the KV
/// update, the numeric primitives and the TorchSharp reference on the same data. In-process (no per-run project
/// build) with a short job, memory diagnoser on. `dotnet run -c Release --project src/HpcRpa.Benchmarks -- --filter '*'`.
/// </summary>
public static class Program
{
    public static void Main(string[] args)
    {
        var config = DefaultConfig.Instance
            .AddJob(Job.ShortRun.WithToolchain(InProcessEmitToolchain.Instance).WithWarmupCount(2).WithIterationCount(5))
            .AddDiagnoser(MemoryDiagnoser.Default)
            .WithOptions(ConfigOptions.DisableOptimizationsValidator);
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args, config);
    }
}
