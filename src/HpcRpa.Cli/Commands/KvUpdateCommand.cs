using System.CommandLine;
using HpcRpa.Cli.Output;
using HpcRpa.Dispatch;
using HpcRpa.Kernels.KvCacheUpdate;
using HpcRpa.Numerics;
using HpcRpa.Pallas;
using HpcRpa.Timeline;
using HpcRpa.Workloads;

namespace HpcRpa.Cli.Commands;

internal static class KvUpdateCommand
{
    public static Command Create()
    {
        var common = new CommonOptions();
        var grid = new Option<string>("--grid") { Description = "padded (grid over the padded slot mapping) or dynamic (grid = cdiv(num_slices, N_b))", DefaultValueFactory = _ => "dynamic" };
        var model = new Option<string>("--model") { Description = "model preset or JSON file (KV heads and head_dim)", DefaultValueFactory = _ => "llama3-8b" };
        var page = new Option<int>("--page-size") { Description = "tokens per page", DefaultValueFactory = _ => 32 };
        var dtype = new Option<string>("--kv-dtype") { Description = "KV dtype", DefaultValueFactory = _ => "bf16" };
        var nb = new Option<int?>("--slices-per-block") { Description = "num_slices_per_block N_b (default: tpu-inference's rule, rpa.md 4.4)" };
        var reqs = new Option<int>("--max-num-reqs") { Description = "max_num_reqs of the padding bound N_pad = min(2·reqs + T_pad/P, T_pad)", DefaultValueFactory = _ => 256 };
        var decode = new Option<string[]>("--decode") { Description = "NxC decode sequences" };
        var prefill = new Option<string[]>("--prefill") { Description = "NxQ prefill sequences" };
        var mixed = new Option<string[]>("--mixed") { Description = "NxQ+C chunked-prefill sequences" };
        var seed = new Option<int>("--seed") { Description = "seed", DefaultValueFactory = _ => 0 };
        var compare = new Option<bool>("--compare") { Description = "run the padded and the dynamic grid on the same data and print both with the ratio" };
        var cmd = new Command("kv-update", "The KV-cache-update kernel (padded or dynamic grid) on the emulated core, checked against the reference.");
        common.AddTo(cmd);
        foreach (Option o in new Option[] { grid, model, page, dtype, nb, reqs, decode, prefill, mixed, seed, compare }) cmd.Options.Add(o);
        cmd.SetAction(r =>
        {
            var chip = common.ResolveChip(r);
            bool timingOnly = r.GetValue(common.TimingOnly);
            string? trace = r.GetValue(common.Trace);
            var g = r.GetValue(grid)!.ToLowerInvariant() switch
            {
                "padded" => KvUpdateGrid.Padded,
                "dynamic" => KvUpdateGrid.Dynamic,
                var s => throw new ArgumentException($"--grid: unknown '{s}' (padded, dynamic)"),
            };
            var segs = new List<BatchSegment>();
            foreach (var s in r.GetValue(decode) ?? []) segs.Add(BatchSegment.Parse(SegmentKind.Decode, s));
            foreach (var s in r.GetValue(prefill) ?? []) segs.Add(BatchSegment.Parse(SegmentKind.Prefill, s));
            foreach (var s in r.GetValue(mixed) ?? []) segs.Add(BatchSegment.Parse(SegmentKind.Mixed, s));
            if (segs.Count == 0) segs.AddRange(KvUpdateWorkload.DefaultSegments);
            var problem = KvUpdateWorkload.Build(ModelPreset.Resolve(r.GetValue(model)!), segs, r.GetValue(page), DTypeInfo.Parse(r.GetValue(dtype)!),
                r.GetValue(reqs), r.GetValue(nb), r.GetValue(seed), values: !timingOnly);
            if (r.GetValue(compare))
            {
                var copy = new KvUpdateProblem
                {
                    NumTokens = problem.NumTokens, Combined = problem.Combined, HeadDim = problem.HeadDim, PageSize = problem.PageSize, NumPages = problem.NumPages,
                    DType = problem.DType, NewKv = problem.NewKv, KvCache = (byte[])problem.KvCache.Clone(), Slices = problem.Slices, NumSlices = problem.NumSlices,
                };
                var mode = timingOnly ? ExecutionMode.TimingOnly : ExecutionMode.Functional;
                var padded = KvUpdateKernel.Run(chip, problem, KvUpdateGrid.Padded, r.GetValue(nb), mode);
                var dynamic = KvUpdateKernel.Run(chip, copy, KvUpdateGrid.Dynamic, r.GetValue(nb), mode);
                if (!r.GetValue(common.Json))
                    Console.WriteLine($"batch: {string.Join(", ", segs)}; {problem.NumSlices} real slices padded to {problem.PaddedSlices}; N_b {padded.SlicesPerBlock}: padded grid {padded.Programs} programs, dynamic grid {dynamic.Programs}");
                CompareTable.Print("padded grid", padded.Report, "dynamic grid", dynamic.Report, r.GetValue(common.Json),
                    new Dictionary<string, object?> { ["programs"] = padded.Programs }, new Dictionary<string, object?> { ["programs"] = dynamic.Programs });
                if (!timingOnly && !problem.KvCache.AsSpan().SequenceEqual(copy.KvCache)) { Console.Error.WriteLine("padded and dynamic grids wrote different caches"); return 1; }
                return 0;
            }
            var original = timingOnly ? null : (byte[])problem.KvCache.Clone();
            var result = KvUpdateKernel.Run(chip, problem, g, r.GetValue(nb), timingOnly ? ExecutionMode.TimingOnly : ExecutionMode.Functional, trace is not null);
            bool? exact = original is null ? null : ReferenceCheck.KvUpdate(problem, original);
            if (trace is not null) TraceExport.Write(result.Timeline, trace, result.Report.Kernel);
            var extra = new Dictionary<string, object?>
            {
                ["grid"] = g.ToString().ToLowerInvariant(),
                ["programs"] = result.Programs,
                ["slices_per_block"] = result.SlicesPerBlock,
                ["num_slices"] = problem.NumSlices,
                ["padded_slices"] = problem.PaddedSlices,
                ["batch"] = string.Join(", ", segs),
                ["matches_reference"] = exact,
                ["max_abs_err"] = exact is null ? null : exact.Value ? 0.0 : double.NaN,
                ["variant"] = result.Report.Kernel,
            };
            if (r.GetValue(common.Json)) ReportPrinter.PrintJson(result.Report, extra);
            else
            {
                Console.WriteLine($"batch: {string.Join(", ", segs)}; {problem.NumSlices} real slices padded to {problem.PaddedSlices}; N_b {result.SlicesPerBlock}; {g} grid of {result.Programs} programs");
                ReportPrinter.PrintText(result.Report);
                if (exact is bool e) Console.WriteLine($"  check     cache {(e ? "identical to" : "DIFFERS FROM")} the reference update");
            }
            return exact == false ? 1 : 0;
        });
        return cmd;
    }
}
