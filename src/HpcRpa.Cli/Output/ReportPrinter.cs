using System.Globalization;
using System.Text.Json;
using HpcRpa.Timeline;

namespace HpcRpa.Cli.Output;

/// <summary>Prints a run report as a readable block or as one JSON object.</summary>
internal static class ReportPrinter
{
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = false };

    public static void PrintJson(RunReport r, IDictionary<string, object?>? extra = null) =>
        Console.WriteLine(JsonSerializer.Serialize(r.ToJsonFields(extra), Json));

    public static void PrintText(RunReport r, TextWriter? w = null)
    {
        w ??= Console.Out;
        var inv = CultureInfo.InvariantCulture;
        w.WriteLine($"{r.Kernel} on {r.Chip} ({r.Mode})");
        w.WriteLine($"  time      {r.Cycles:N0} cycles = {FormatSeconds(r.Seconds)} at {r.ClockHz / 1e9:0.###} GHz");
        w.WriteLine($"  work      {r.Flops:E3} FLOP, HBM {FormatBytes(r.HbmBytesRead)} read + {FormatBytes(r.HbmBytesWritten)} written");
        w.WriteLine($"  MFU {r.Mfu.ToString("P1", inv)}   MBU {r.Mbu.ToString("P1", inv)}   bound: {r.Bound.ToString().ToLowerInvariant()} — {r.BoundReason}");
        w.WriteLine($"  DMAs {r.DmaCount:N0} ({r.ZeroByteDmaCount:N0} zero-byte), grid steps {r.GridSteps:N0}, stalls {r.StallCycles:N0} cycles, VMEM peak {FormatBytes(r.VmemPeakBytes)}");
        w.WriteLine("  busy      " + string.Join("  ", r.Engines.Select(kv => $"{kv.Key} {kv.Value.ToString("P1", inv)}")));
    }

    public static string FormatSeconds(double s) => s switch
    {
        >= 1 => $"{s:0.###} s",
        >= 1e-3 => $"{s * 1e3:0.###} ms",
        >= 1e-6 => $"{s * 1e6:0.###} us",
        _ => $"{s * 1e9:0.#} ns",
    };

    public static string FormatBytes(double b) => b switch
    {
        >= 1 << 30 => $"{b / (1 << 30):0.##} GiB",
        >= 1 << 20 => $"{b / (1 << 20):0.##} MiB",
        >= 1 << 10 => $"{b / (1 << 10):0.##} KiB",
        _ => $"{b:0} B",
    };
}
