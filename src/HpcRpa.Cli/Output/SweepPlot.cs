using HpcRpa.Cli.Commands;
using HpcRpa.Workloads;

namespace HpcRpa.Cli.Output;

/// <summary>Decode throughput against KV block size, one line per context length (first chip, page size and dtype of the sweep).</summary>
internal static class SweepPlot
{
    public static void Write(string path, IReadOnlyList<SweepRow> rows)
    {
        var plot = new ScottPlot.Plot();
        var decode = rows.Where(r => r.Config.Shape.Kind == SegmentKind.Decode).ToList();
        var pick = decode.Count > 0 ? decode : rows.ToList();
        if (pick.Count == 0) { plot.Title("sweep: no rows"); plot.SavePng(path, 800, 500); return; }
        var first = pick[0].Config;
        var subset = pick.Where(r => r.Config.Chip.Name == first.Chip.Name && r.Config.PageSize == first.PageSize && r.Config.KvDType == first.KvDType).ToList();
        foreach (var g in subset.GroupBy(r => r.Config.Shape).OrderBy(g => g.Key.KvLen))
        {
            // Best compute chunk per fetch block.
            var pts = g.GroupBy(r => r.Config.Blocks.Bkv).Select(b => (Bkv: b.Key, Tps: b.Max(r => r.TokensPerSecond))).OrderBy(p => p.Bkv).ToArray();
            var line = plot.Add.Scatter(pts.Select(p => Math.Log2(p.Bkv)).ToArray(), pts.Select(p => p.Tps / 1e3).ToArray());
            line.LegendText = g.Key.ToString();
            line.MarkerSize = 7;
        }
        plot.Title($"{(decode.Count > 0 ? "decode" : "RPA")} throughput vs KV block on {first.Chip.Name} (page {first.PageSize}, KV {first.KvDType})");
        plot.XLabel("log2(KV fetch block, tokens)");
        plot.YLabel("thousand query tokens / s (one layer)");
        plot.ShowLegend(ScottPlot.Alignment.UpperLeft);
        plot.SavePng(path, 1000, 600);
    }
}
