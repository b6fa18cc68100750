using System.Globalization;
using System.Text.Json;
using HpcRpa.Timeline;
using Spectre.Console;

namespace HpcRpa.Cli.Output;

/// <summary>Two runs side by side with the ratio B / A, as a table or one JSON object.</summary>
internal static class CompareTable
{
    public static void Print(string nameA, RunReport a, string nameB, RunReport b, bool json, IDictionary<string, object?>? extraA = null, IDictionary<string, object?>? extraB = null)
    {
        if (json)
        {
            Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object?>
            {
                ["a"] = a.ToJsonFields(new Dictionary<string, object?>(extraA ?? new Dictionary<string, object?>()) { ["name"] = nameA }),
                ["b"] = b.ToJsonFields(new Dictionary<string, object?>(extraB ?? new Dictionary<string, object?>()) { ["name"] = nameB }),
                ["ratio_cycles_b_over_a"] = (double)b.Cycles / a.Cycles,
                ["ratio_dma_count_b_over_a"] = a.DmaCount == 0 ? null : (double)b.DmaCount / a.DmaCount,
                ["faster"] = b.Cycles < a.Cycles ? nameB : a.Cycles < b.Cycles ? nameA : "equal",
            }));
            return;
        }
        if (Console.IsOutputRedirected) AnsiConsole.Profile.Width = 140;
        var inv = CultureInfo.InvariantCulture;
        var t = new Table().Border(TableBorder.Rounded).AddColumn("").AddColumn(Markup.Escape(nameA)).AddColumn(Markup.Escape(nameB)).AddColumn("B / A");
        void Row(string label, double x, double y, string fmt) =>
            t.AddRow(label, x.ToString(fmt, inv), y.ToString(fmt, inv), x == 0 ? "-" : (y / x).ToString("0.###", inv));
        Row("cycles", a.Cycles, b.Cycles, "N0");
        Row("time (us)", a.Seconds * 1e6, b.Seconds * 1e6, "0.###");
        Row("DMAs", a.DmaCount, b.DmaCount, "N0");
        Row("zero-byte DMAs", a.ZeroByteDmaCount, b.ZeroByteDmaCount, "N0");
        Row("HBM bytes", a.HbmBytes, b.HbmBytes, "N0");
        Row("FLOPs", a.Flops, b.Flops, "E3");
        Row("grid steps", a.GridSteps, b.GridSteps, "N0");
        t.AddRow("MBU", a.Mbu.ToString("P1", inv), b.Mbu.ToString("P1", inv), "");
        t.AddRow("MFU", a.Mfu.ToString("P1", inv), b.Mfu.ToString("P1", inv), "");
        t.AddRow("bound", a.Bound.ToString().ToLowerInvariant(), b.Bound.ToString().ToLowerInvariant(), "");
        AnsiConsole.Write(t);
        AnsiConsole.MarkupLine(b.Cycles < a.Cycles
            ? $"{Markup.Escape(nameB)} is {(double)a.Cycles / b.Cycles:0.###}x faster"
            : a.Cycles < b.Cycles ? $"{Markup.Escape(nameA)} is {(double)b.Cycles / a.Cycles:0.###}x faster" : "equal cycles");
    }
}
