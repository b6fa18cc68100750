using System.CommandLine;
using HpcRpa.Cli.Output;
using HpcRpa.Kernels.Copy;
using HpcRpa.Memory;
using HpcRpa.Numerics;
using HpcRpa.Pallas;
using HpcRpa.Timeline;

namespace HpcRpa.Cli.Commands;

internal static class CopyCommand
{
    public static Command Create()
    {
        var common = new CommonOptions();
        var bytes = new Option<string>("--bytes") { Description = "bytes to copy (64, 4MiB, 1GiB, ...)", DefaultValueFactory = _ => "1GiB" };
        var block = new Option<string>("--block") { Description = "pipeline block size", DefaultValueFactory = _ => "4MiB" };
        var method = new Option<string>("--method") { Description = "pipeline (HBM->VMEM->HBM blocks) or dma (one HBM->HBM DMA)", DefaultValueFactory = _ => "pipeline" };
        var cmd = new Command("copy", "HBM-to-HBM copy on the emulated core.");
        common.AddTo(cmd);
        cmd.Options.Add(bytes);
        cmd.Options.Add(block);
        cmd.Options.Add(method);
        cmd.SetAction(r =>
        {
            var chip = common.ResolveChip(r);
            long n = Sizes.ParseBytes(r.GetValue(bytes)!);
            long blk = Sizes.ParseBytes(r.GetValue(block)!);
            var how = r.GetValue(method)!.ToLowerInvariant() switch
            {
                "pipeline" => CopyMethod.Pipeline,
                "dma" => CopyMethod.Dma,
                var s => throw new ArgumentException($"--method: unknown '{s}' (pipeline, dma)"),
            };
            bool timingOnly = r.GetValue(common.TimingOnly);
            string? trace = r.GetValue(common.Trace);
            using var ctx = new KernelContext(chip, timingOnly ? ExecutionMode.TimingOnly : ExecutionMode.Functional, trace is not null);
            var shape = CopyKernel.Layout(n);
            var src = ctx.Hbm.Allocate("src", DType.Int8, shape);
            var dst = ctx.Hbm.Allocate("dst", DType.Int8, shape);
            if (!timingOnly) RandomFill.Bytes(src, 7);
            var report = CopyKernel.Run(ctx, src, dst, how, blk);
            bool? same = timingOnly ? null : src.Span<byte>().SequenceEqual(dst.Span<byte>());
            if (trace is not null) TraceExport.Write(ctx.Timeline, trace, report.Kernel);
            var extra = new Dictionary<string, object?> { ["bytes"] = n, ["method"] = how.ToString().ToLowerInvariant(), ["copied_exactly"] = same };
            if (r.GetValue(common.Json)) ReportPrinter.PrintJson(report, extra);
            else
            {
                ReportPrinter.PrintText(report);
                Console.WriteLine($"  achieved  {n * 2 / report.Seconds / 1e9:0.#} GB/s of HBM traffic (read + write) vs peak {chip.HbmBandwidthPerCore / 1e9:0.#} GB/s per core");
                if (same is bool s) Console.WriteLine($"  check     destination {(s ? "equals" : "DIFFERS FROM")} source");
                if (trace is not null) Console.WriteLine($"  trace     {trace}");
            }
            return same == false ? 1 : 0;
        });
        return cmd;
    }
}
