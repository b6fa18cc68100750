using System.CommandLine;
using HpcRpa.Cli.Output;
using HpcRpa.Kernels.Gemm;
using HpcRpa.Memory;
using HpcRpa.Numerics;
using HpcRpa.Pallas;
using HpcRpa.Timeline;

namespace HpcRpa.Cli.Commands;

internal static class GemmCommand
{
    public static Command Create()
    {
        var common = new CommonOptions();
        var m = new Option<int>("--m") { Description = "rows of A and C", DefaultValueFactory = _ => 4096 };
        var n = new Option<int>("--n") { Description = "columns of B and C", DefaultValueFactory = _ => 4096 };
        var k = new Option<int>("--k") { Description = "reduction size", DefaultValueFactory = _ => 4096 };
        var bm = new Option<int>("--bm") { Description = "block rows", DefaultValueFactory = _ => 512 };
        var bk = new Option<int>("--bk") { Description = "block reduction size", DefaultValueFactory = _ => 1024 };
        var bn = new Option<int>("--bn") { Description = "block columns", DefaultValueFactory = _ => 1024 };
        var dtype = new Option<string>("--dtype") { Description = "input dtype: bf16, f32, fp8_e4m3, fp8_e5m2, int8", DefaultValueFactory = _ => "bf16" };
        var schedule = new Option<string>("--schedule") { Description = "auto, tutorial (the JAX Pallas matmul tutorial's grid) or panel (RHS column panel resident in VMEM); auto takes panel when the tutorial's per-step intensity is below the chip's ridge point", DefaultValueFactory = _ => "auto" };
        var dispatch = new Option<bool>("--include-dispatch") { Description = "add the host's per-call dispatch (what Python timeit sees; used to replay the tutorial's table)" };
        var seed = new Option<int>("--seed") { Description = "seed of the random inputs (functional mode)", DefaultValueFactory = _ => 1 };
        var cmd = new Command("gemm", "Tiled, double-buffered matmul C = A·B on the emulated core.");
        common.AddTo(cmd);
        foreach (var o in new Option[] { m, n, k, bm, bk, bn, dtype, schedule, dispatch, seed }) cmd.Options.Add(o);
        cmd.SetAction(r =>
        {
            var chip = common.ResolveChip(r);
            var sched = r.GetValue(schedule)!.ToLowerInvariant() switch
            {
                "auto" => GemmSchedule.Auto,
                "tutorial" => GemmSchedule.Tutorial,
                "panel" or "rhs-panel" => GemmSchedule.RhsPanel,
                var s => throw new ArgumentException($"--schedule: unknown '{s}' (tutorial, panel)"),
            };
            var cfg = new GemmConfig(r.GetValue(m), r.GetValue(n), r.GetValue(k), r.GetValue(bm), r.GetValue(bk), r.GetValue(bn),
                DTypeInfo.Parse(r.GetValue(dtype)!), DType.BF16, sched);
            cfg.Validate();
            bool timingOnly = r.GetValue(common.TimingOnly);
            string? trace = r.GetValue(common.Trace);
            using var ctx = new KernelContext(chip, timingOnly ? ExecutionMode.TimingOnly : ExecutionMode.Functional, trace is not null);
            var a = ctx.Hbm.Allocate("a", cfg.InDType, cfg.M, cfg.K);
            var b = ctx.Hbm.Allocate("b", cfg.InDType, cfg.K, cfg.N);
            var z = ctx.Hbm.Allocate("z", cfg.OutDType, cfg.M, cfg.N);
            if (!timingOnly)
            {
                RandomFill.Uniform(a, r.GetValue(seed), -1, 1);
                RandomFill.Uniform(b, r.GetValue(seed) + 1, -1, 1);
            }
            var report = GemmKernel.Run(ctx, cfg, a, b, z, r.GetValue(dispatch));
            double? err = timingOnly ? null : GemmCheck.MaxRelativeErrorSampled(a, b, z, 64, r.GetValue(seed));
            if (trace is not null) TraceExport.Write(ctx.Timeline, trace, report.Kernel);
            var extra = new Dictionary<string, object?>
            {
                ["m"] = cfg.M, ["n"] = cfg.N, ["k"] = cfg.K, ["bm"] = cfg.Bm, ["bk"] = cfg.Bk, ["bn"] = cfg.Bn,
                ["dtype"] = cfg.InDType.Name(), ["schedule"] = cfg.Resolve(chip).ToString(), ["include_dispatch"] = r.GetValue(dispatch),
                ["max_rel_err_sampled"] = err,
            };
            if (r.GetValue(common.Json)) ReportPrinter.PrintJson(report, extra);
            else
            {
                ReportPrinter.PrintText(report);
                if (err is double e) Console.WriteLine($"  check     max relative error of 64 sampled outputs vs a double dot product: {e:E2} (output bf16)");
                if (trace is not null) Console.WriteLine($"  trace     {trace}");
            }
            return 0;
        });
        return cmd;
    }
}
