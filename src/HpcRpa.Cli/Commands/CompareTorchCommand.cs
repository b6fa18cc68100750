using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using HpcRpa.Dispatch;
using HpcRpa.TorchSharp.Compare;
using Spectre.Console;

namespace HpcRpa.Cli.Commands;

internal static class CompareTorchCommand
{
    public static Command Create()
    {
        var common = new CommonOptions();
        var batch = new BatchOptions();
        var cmd = new Command("compare-torch", "Run RPA on the emulated core and compare it with TorchSharp reference attention, per sequence and head.");
        common.AddTo(cmd);
        batch.AddTo(cmd);
        cmd.SetAction(r =>
        {
            var chip = common.ResolveChip(r);
            var built = batch.Build(r, values: true);
            var result = new RpaDispatcher(chip).Run(built.Problem, built.Options);
            var report = TorchComparison.Compare(built.Problem, built.Options, result.Output!, built.Problem.KvCache, result.Variant);
            if (r.GetValue(common.Json))
            {
                Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object?>
                {
                    ["chip"] = chip.Name,
                    ["variant"] = report.Variant,
                    ["tolerance"] = report.Tolerance,
                    ["pass"] = report.Pass,
                    ["max_abs_err"] = report.MaxAbsErr,
                    ["rows"] = report.Rows.Select(x => new Dictionary<string, object>
                    {
                        ["seq"] = x.Seq, ["head"] = x.Head, ["max_abs_err"] = x.MaxAbsErr, ["max_rel_err"] = x.MaxRelErr,
                        ["pass"] = x.Pass, ["torch_path"] = x.Path.ToString().ToLowerInvariant(),
                    }).ToList(),
                }));
                return report.Pass ? 0 : 1;
            }
            if (Console.IsOutputRedirected) AnsiConsole.Profile.Width = 120;
            AnsiConsole.MarkupLine($"HpcRpa ({Markup.Escape(report.Variant)} on {chip.Name}) vs TorchSharp reference; tolerance {report.Tolerance:E0}·(1 + |want|)");
            var t = new Table().Border(TableBorder.Rounded);
            foreach (var h in new[] { "seq", "head", "max abs err", "max rel err", "pass", "torch path" }) t.AddColumn(h);
            foreach (var x in report.Rows)
                t.AddRow(x.Seq.ToString(), x.Head.ToString(), x.MaxAbsErr.ToString("E2", CultureInfo.InvariantCulture), x.MaxRelErr.ToString("E2", CultureInfo.InvariantCulture),
                    x.Pass ? "[green]yes[/]" : "[red]NO[/]", x.Path.ToString().ToLowerInvariant());
            AnsiConsole.Write(t);
            AnsiConsole.MarkupLine(report.Pass ? $"[green]all {report.Rows.Count} (sequence, head) pairs pass[/]" : $"[red]{report.Rows.Count(x => !x.Pass)} pairs fail[/]");
            return report.Pass ? 0 : 1;
        });
        return cmd;
    }
}
