using HpcRpa.Hardware;
using HpcRpa.Timeline;

namespace HpcRpa.Cli.Output;

/// <summary>The chip's roofline (bf16 peak and HBM bandwidth per core) with a run's points on it.</summary>
internal static class RooflinePlot
{
    public static bool TryWrite(string path, ChipSpec chip, IReadOnlyList<(string Name, RunReport Report)> points)
    {
        var plot = new ScottPlot.Plot();
        double peak = chip.PeakBf16FlopsPerCore / 1e12, bw = chip.HbmBandwidthPerCore / 1e12;
        double ridge = chip.RidgeFlopsPerByte;
        var xs = new List<double>();
        var ys = new List<double>();
        for (double ai = 0.01; ai <= 1e5; ai *= 1.1)
        {
            xs.Add(Math.Log10(ai));
            ys.Add(Math.Log10(Math.Min(peak, ai * bw)));
        }
        var roof = plot.Add.Scatter(xs.ToArray(), ys.ToArray());
        roof.LegendText = $"{chip.Name} roofline: {peak:0.#} TFLOP/s bf16, {bw * 1e3:0} GB/s HBM per core, ridge {ridge:0} FLOP/B";
        roof.MarkerSize = 0;
        roof.LineWidth = 2;
        foreach (var (name, r) in points)
        {
            if (r.HbmBytes == 0 || r.Flops == 0) continue;
            double ai = r.Flops / r.HbmBytes;
            double achieved = r.Flops / r.Seconds / 1e12;
            var p = plot.Add.Scatter(new[] { Math.Log10(ai) }, new[] { Math.Log10(achieved) });
            p.LegendText = $"{name}: {ai:0.#} FLOP/B, {achieved:0.##} TFLOP/s ({r.Bound.ToString().ToLowerInvariant()}-bound)";
            p.MarkerSize = 10;
        }
        plot.Title($"RPA on {chip.Name}: achieved vs roofline (log-log)");
        plot.XLabel("arithmetic intensity, log10(FLOP / HBM byte)");
        plot.YLabel("log10(TFLOP/s)");
        plot.ShowLegend(ScottPlot.Alignment.LowerRight);
        plot.SavePng(path, 1000, 650);
        return true;
    }
}
