using System.CommandLine;
using System.Globalization;
using System.Text;
using HpcRpa.Cli.Output;
using HpcRpa.Dispatch;
using HpcRpa.Kernels.RaggedPagedAttention;
using HpcRpa.Pallas;
using HpcRpa.Timeline;
using HpcRpa.Workloads;
using Spectre.Console;

namespace HpcRpa.Cli.Commands;

/// <summary>
/// The main demo: a Llama-3-8B-shaped mixed batch (decode, prefill, chunked prefill) on TPU7x, run functionally
/// through RPA on the core model, checked against the reference, reported per case, with a Perfetto trace and a
/// markdown report written under an output folder.
/// </summary>
internal static class DemoCommand
{
    public static readonly IReadOnlyList<BatchSegment> DefaultBatch =
        [new(SegmentKind.Decode, 32, 1, 2048), new(SegmentKind.Prefill, 2, 512, 0), new(SegmentKind.Mixed, 4, 128, 1024)];

    public static Command Create()
    {
        var common = new CommonOptions();
        var batch = new BatchOptions();
        var output = new Option<string>("--out") { Description = "folder for the trace, plot and report", DefaultValueFactory = _ => "hpcrpa-out" };
        var cmd = new Command("demo", "Run RPA on a Llama-3-8B-shaped mixed batch on TPU7x; print the per-case report; write trace, roofline plot and report.");
        common.AddTo(cmd);
        batch.AddTo(cmd);
        cmd.Options.Add(output);
        cmd.SetAction(r =>
        {
            var chip = common.ResolveChip(r);
            var built = batch.Build(r, values: !r.GetValue(common.TimingOnly), fallback: DefaultBatch);
            string model = r.GetValue(batch.Model)!;
            string dir = Path.Combine(r.GetValue(output)!, $"demo-{chip.Name}-{Path.GetFileNameWithoutExtension(model)}");
            bool timingOnly = r.GetValue(common.TimingOnly);
            var original = timingOnly ? null : (byte[])built.Problem.KvCache.Clone();
            var dispatcher = new RpaDispatcher(chip);
            // The demo is about the TPU model's account (trace, roofline, per-case table); a batch that would
            // fall back to the reference has none, so it is the caller's input, named, not a crash.
            if (dispatcher.Unsupported(built.Problem, built.Options) is { } unsupported)
                throw new Errors.ValidationException(unsupported.Field, null, unsupported.Value,
                    $"the demo needs the TPU model, and {unsupported.Reason}; `hpcrpa rpa` runs such a batch on the reference");
            Directory.CreateDirectory(dir);
            var result = dispatcher.Run(built.Problem, built.Options, timingOnly ? ExecutionMode.TimingOnly : ExecutionMode.Functional, trace: true);
            var report = result.Report ?? throw new InvalidOperationException("the dispatcher ran the TPU model but returned no report");
            var timeline = result.Timeline ?? throw new InvalidOperationException("the dispatcher ran the TPU model with a trace but returned no timeline");
            var check = original is null ? null : ReferenceCheck.Rpa(built.Problem with { KvCache = original }, built.Options, result.Output!, built.Problem.KvCache);
            string tracePath = Path.Combine(dir, "trace.json");
            TraceExport.Write(timeline, tracePath, result.Variant);
            string plotPath = Path.Combine(dir, "roofline.png");
            bool plotted = RooflinePlot.TryWrite(plotPath, chip, result.Cases.Select(c => (c.Case.ToString().ToLowerInvariant(), c.Report)).Append(("all", report)).ToList());
            string reportPath = Path.Combine(dir, "report.md");
            File.WriteAllText(reportPath, Markdown(chip.Name, model, built, result, check, plotted));

            if (r.GetValue(common.Json))
            {
                ReportPrinter.PrintJson(report, new Dictionary<string, object?>
                {
                    ["variant"] = result.Variant, ["out"] = dir, ["max_abs_err"] = check?.MaxAbsErr, ["matches_reference"] = check?.Pass,
                    ["cases"] = result.Cases.Select(c => c.Report.ToJsonFields(new Dictionary<string, object?> { ["case"] = c.Case.ToString().ToLowerInvariant() })).ToList(),
                });
                return check is { Pass: false } ? 1 : 0;
            }
            if (Console.IsOutputRedirected || AnsiConsole.Profile.Width < 150) AnsiConsole.Profile.Width = 150; // the table is wide; do not wrap it in logs
            AnsiConsole.MarkupLine($"[bold]HpcRpa demo[/]: ragged paged attention, {Markup.Escape(model)} on [bold]{chip.Name}[/], page size {built.Problem.PageSize}, KV {built.Problem.KvDType}");
            AnsiConsole.MarkupLine($"batch: {Markup.Escape(string.Join(", ", built.Segments))} — {built.Problem.NumSeqs} sequences, {built.Problem.TotalQTokens} query tokens");
            AnsiConsole.Write(CaseTable(result));
            if (check is not null)
                AnsiConsole.MarkupLine($"check against the independent reference: max abs err {check.MaxAbsErr:E2} (tolerance {check.Tolerance:E0}) {(check.Pass ? "[green]PASS[/]" : "[red]FAIL[/]")}, KV cache {(check.CacheEqual ? "[green]identical[/]" : "[red]differs[/]")}");
            AnsiConsole.MarkupLine($"wrote [bold]{Markup.Escape(tracePath)}[/] (open in ui.perfetto.dev), {(plotted ? $"[bold]{Markup.Escape(plotPath)}[/], " : "")}[bold]{Markup.Escape(reportPath)}[/]");
            return check is { Pass: false } or { CacheEqual: false } ? 1 : 0;
        });
        return cmd;
    }

    private static Table CaseTable(RpaDispatchResult result)
    {
        var t = new Table().Border(TableBorder.Rounded);
        foreach (var h in new[] { "case", "variant", "seqs", "cycles", "time", "MBU", "MFU", "bound", "busy mxu/vpu/eup/xlu/hbm" }) t.AddColumn(h);
        foreach (var c in result.Cases)
            t.AddRow(Row(c.Case.ToString().ToLowerInvariant(), c.Scope, (c.SeqEnd - c.SeqStart).ToString(), c.Report));
        t.AddRow(Row("[bold]all[/]", "", result.Cases.Sum(c => c.SeqEnd - c.SeqStart).ToString(), result.Report!));
        return t;
    }

    private static string[] Row(string name, string scope, string seqs, RunReport r) =>
    [
        name, Markup.Escape(scope), seqs, r.Cycles.ToString("N0", CultureInfo.InvariantCulture), ReportPrinter.FormatSeconds(r.Seconds),
        r.Mbu.ToString("P1", CultureInfo.InvariantCulture), r.Mfu.ToString("P1", CultureInfo.InvariantCulture), r.Bound.ToString().ToLowerInvariant(),
        string.Join(" / ", new[] { "mxu", "vpu", "eup", "xlu", "hbm" }.Select(e => r.Engines.GetValueOrDefault(e).ToString("P0", CultureInfo.InvariantCulture))),
    ];

    private static string Markdown(string chip, string model, BuiltBatch b, RpaDispatchResult r, RpaCheck? check, bool plotted)
    {
        var inv = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.AppendLine($"# HpcRpa demo: ragged paged attention on {chip}");
        sb.AppendLine();
        sb.AppendLine($"Model `{model}` (Hq {b.Problem.NumQHeads}, Hkv {b.Problem.NumKvHeads}, head_dim {b.Problem.HeadDim}), page size {b.Problem.PageSize}, KV {b.Problem.KvDType}, q {b.Problem.QDType}.");
        sb.AppendLine($"Batch: {string.Join(", ", b.Segments)} ({b.Problem.NumSeqs} sequences, {b.Problem.TotalQTokens} query tokens). One layer's attention, as the emulated TensorCore runs it.");
        sb.AppendLine();
        sb.AppendLine("| case | variant | sequences | cycles | time | MBU | MFU | bound | HBM bytes | FLOPs | DMAs |");
        sb.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|");
        foreach (var c in r.Cases)
            sb.AppendLine($"| {c.Case.ToString().ToLowerInvariant()} | `{c.Scope}` | {c.SeqEnd - c.SeqStart} | {c.Report.Cycles:N0} | {ReportPrinter.FormatSeconds(c.Report.Seconds)} | {c.Report.Mbu.ToString("P1", inv)} | {c.Report.Mfu.ToString("P1", inv)} | {c.Report.Bound.ToString().ToLowerInvariant()} | {c.Report.HbmBytes:N0} | {c.Report.Flops:E3} | {c.Report.DmaCount:N0} |");
        var all = r.Report!;
        sb.AppendLine($"| **all** | | {b.Problem.NumSeqs} | {all.Cycles:N0} | {ReportPrinter.FormatSeconds(all.Seconds)} | {all.Mbu.ToString("P1", inv)} | {all.Mfu.ToString("P1", inv)} | {all.Bound.ToString().ToLowerInvariant()} | {all.HbmBytes:N0} | {all.Flops:E3} | {all.DmaCount:N0} |");
        sb.AppendLine();
        sb.AppendLine("Busy fraction per engine over the whole run: " + string.Join(", ", all.Engines.Select(kv => $"{kv.Key} {kv.Value.ToString("P1", inv)}")) + ".");
        sb.AppendLine();
        sb.AppendLine($"Why this bound: {all.BoundReason}.");
        sb.AppendLine();
        if (check is not null)
            sb.AppendLine($"Numerics: against the independent reference (double precision), max abs error {check.MaxAbsErr:E2}, tolerance {check.Tolerance:E0}: {(check.Pass ? "pass" : "FAIL")}; updated KV cache {(check.CacheEqual ? "identical" : "DIFFERENT")}.");
        sb.AppendLine();
        sb.AppendLine("Files: `trace.json` (Chrome trace events; open in https://ui.perfetto.dev — one track per engine)" + (plotted ? ", `roofline.png` (each case on the chip's roofline)" : "") + ".");
        return sb.ToString();
    }
}
