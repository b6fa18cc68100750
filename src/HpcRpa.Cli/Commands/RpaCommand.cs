using System.CommandLine;
using HpcRpa.Cli.Output;
using HpcRpa.Dispatch;
using HpcRpa.Pallas;
using HpcRpa.Timeline;

namespace HpcRpa.Cli.Commands;

internal static class RpaCommand
{
    public static Command Create()
    {
        var common = new CommonOptions();
        var batch = new BatchOptions();
        var verbose = new Option<bool>("--log") { Description = "log which variant ran on which shapes (stderr)" };
        var compare = new Option<string?>("--compare")
        {
            Description = "run two variants on the same data: fused-vs-separate (KV update fused into RPA, or the KV-update kernel then RPA), " +
                          "specialised-vs-mixed (decode/prefill/mixed calls, or everything in one mixed call), or blocks:bq,bkv,bq_c,bkv_c (the batch's blocks vs these, every case)",
        };
        var cmd = new Command("rpa", "Ragged paged attention (RPA v3) on the emulated core, checked against the independent reference.");
        common.AddTo(cmd);
        batch.AddTo(cmd);
        cmd.Options.Add(verbose);
        cmd.Options.Add(compare);
        cmd.SetAction(r =>
        {
            var chip = common.ResolveChip(r);
            bool timingOnly = r.GetValue(common.TimingOnly);
            string? trace = r.GetValue(common.Trace);
            var built = batch.Build(r, values: !timingOnly);
            using var logs = CliLogging.Create(r.GetValue(verbose));
            if (r.GetValue(compare) is string how) return RpaCompare.Run(chip, built, how, timingOnly, r.GetValue(common.Json));
            var dispatcher = new RpaDispatcher(chip, logs.Logger);
            var original = timingOnly ? null : (byte[])built.Problem.KvCache.Clone();
            var result = dispatcher.Run(built.Problem, built.Options, timingOnly ? ExecutionMode.TimingOnly : ExecutionMode.Functional, trace is not null);
            // A fallback's output is the reference's own: comparing it with the reference would always report 0.
            var check = original is null || result.Output is null || result.FellBack ? null : ReferenceCheck.Rpa(built.Problem with { KvCache = original }, built.Options, result.Output, built.Problem.KvCache);
            if (trace is not null && result.Timeline is not null) TraceExport.Write(result.Timeline, trace, result.Variant);
            var extra = new Dictionary<string, object?>
            {
                ["variant"] = result.Variant,
                ["fell_back"] = result.FellBack,
                ["fallback_reason"] = result.FallbackReason,
                ["batch"] = string.Join(", ", built.Segments),
                ["model"] = r.GetValue(batch.Model),
                ["page_size"] = built.Problem.PageSize,
                ["kv_dtype"] = built.Problem.KvDType.ToString(),
                ["q_tokens"] = built.Problem.TotalQTokens,
                ["sequences"] = built.Problem.NumSeqs,
                ["max_abs_err"] = check?.MaxAbsErr,
                ["max_rel_err"] = check?.MaxRelErr,
                ["tolerance"] = check?.Tolerance,
                ["matches_reference"] = check?.Pass,
                ["cache_matches_reference"] = check?.CacheEqual,
                ["cases"] = result.Cases.Where(c => c.SeqEnd > c.SeqStart).Select(c => new Dictionary<string, object?> { ["case"] = c.Case.ToString().ToLowerInvariant(), ["scope"] = c.Scope, ["blocks"] = c.Blocks.ToString(), ["seqs"] = c.SeqEnd - c.SeqStart }).ToList(),
            };
            if (r.GetValue(common.Json))
            {
                if (result.Report is not null) ReportPrinter.PrintJson(result.Report, extra);
                else Console.WriteLine(System.Text.Json.JsonSerializer.Serialize(extra));
            }
            else
            {
                Console.WriteLine($"batch: {string.Join(", ", built.Segments)} ({built.Problem.NumSeqs} sequences, {built.Problem.TotalQTokens} q tokens), page size {built.Problem.PageSize}, KV {built.Problem.KvDType}");
                Console.WriteLine($"variant: {result.Variant}{(result.FellBack ? $" (fallback: {result.FallbackReason})" : "")}");
                if (result.Report is not null) ReportPrinter.PrintText(result.Report);
                if (result.FellBack && !timingOnly) Console.WriteLine("  check     none: the reference computed this output (fallback), so there is nothing independent to compare it with");
                if (check is not null) Console.WriteLine($"  check     vs reference: max abs err {check.MaxAbsErr:E2}, max rel err {check.MaxRelErr:E2} (tolerance {check.Tolerance:E0}): {(check.Pass ? "PASS" : "FAIL")}; cache {(check.CacheEqual ? "identical" : "DIFFERS")}");
                if (trace is not null) Console.WriteLine($"  trace     {trace}");
            }
            return check is { Pass: false } or { CacheEqual: false } ? 1 : 0;
        });
        return cmd;
    }
}
