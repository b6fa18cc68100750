using System.Globalization;
using System.Text;

namespace HpcRpa.Timeline;

/// <summary>
/// Chrome trace-event JSON (loads in Perfetto / chrome://tracing): one thread track per engine, "X" complete
/// events in microseconds, args carrying cycles, bytes and flops. Slices on one track never overlap because
/// each engine is in-order.
/// </summary>
public static class TraceExport
{
    public static void Write(Timeline tl, string path, string processName)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (!string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir);
        using var w = new StreamWriter(path, false, new UTF8Encoding(false), 1 << 16);
        Write(tl, w, processName);
    }

    public static void Write(Timeline tl, TextWriter w, string processName)
    {
        double usPerCycle = 1e6 / tl.Chip.ClockHz;
        var inv = CultureInfo.InvariantCulture;
        w.Write("{\"displayTimeUnit\":\"ns\",\"traceEvents\":[");
        w.Write($"{{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":1,\"tid\":0,\"args\":{{\"name\":{Quote(processName)}}}}}");
        foreach (var t in tl.Tracks)
        {
            w.Write($",{{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":1,\"tid\":{t.Id + 1},\"args\":{{\"name\":{Quote(t.Name)}}}}}");
            w.Write($",{{\"name\":\"thread_sort_index\",\"ph\":\"M\",\"pid\":1,\"tid\":{t.Id + 1},\"args\":{{\"sort_index\":{t.Id}}}}}");
        }
        foreach (var s in tl.Slices)
        {
            w.Write(",{\"name\":");
            w.Write(Quote(s.Name));
            w.Write(",\"ph\":\"X\",\"pid\":1,\"tid\":");
            w.Write((s.Track + 1).ToString(inv));
            w.Write(",\"ts\":");
            w.Write((s.Start * usPerCycle).ToString("R", inv));
            w.Write(",\"dur\":");
            w.Write((s.Duration * usPerCycle).ToString("R", inv));
            w.Write(",\"args\":{\"cycles\":");
            w.Write(s.Duration.ToString(inv));
            w.Write(",\"start_cycle\":");
            w.Write(s.Start.ToString(inv));
            if (s.Bytes != 0) { w.Write(",\"bytes\":"); w.Write(s.Bytes.ToString(inv)); }
            if (s.Flops != 0) { w.Write(",\"flops\":"); w.Write(s.Flops.ToString("R", inv)); }
            w.Write("}}");
        }
        w.Write("]}");
    }

    private static string Quote(string s)
    {
        var sb = new StringBuilder(s.Length + 2);
        sb.Append('"');
        foreach (var ch in s)
        {
            switch (ch)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                default:
                    if (ch < 0x20) sb.Append("\\u").Append(((int)ch).ToString("x4")); else sb.Append(ch);
                    break;
            }
        }
        return sb.Append('"').ToString();
    }
}
