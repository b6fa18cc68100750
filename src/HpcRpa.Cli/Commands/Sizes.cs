using System.Globalization;

namespace HpcRpa.Cli.Commands;

/// <summary>Parses byte sizes like 64, 4KiB, 1GiB, 2MB.</summary>
internal static class Sizes
{
    public static long ParseBytes(string s)
    {
        s = s.Trim();
        int i = 0;
        while (i < s.Length && (char.IsDigit(s[i]) || s[i] == '.')) i++;
        if (i == 0) throw new FormatException($"'{s}' is not a size (e.g. 64, 4KiB, 1GiB)");
        double v = double.Parse(s[..i], CultureInfo.InvariantCulture);
        string unit = s[i..].Trim().ToLowerInvariant();
        double mult = unit switch
        {
            "" or "b" => 1,
            "kib" or "k" => 1024,
            "mib" or "m" => 1 << 20,
            "gib" or "g" => 1 << 30,
            "kb" => 1e3,
            "mb" => 1e6,
            "gb" => 1e9,
            _ => throw new FormatException($"'{s}': unknown unit '{unit}' (B, KiB, MiB, GiB, KB, MB, GB)"),
        };
        double bytes = v * mult;
        if (bytes < 1 || bytes > long.MaxValue || bytes != Math.Floor(bytes)) throw new FormatException($"'{s}' is not a whole positive number of bytes");
        return (long)bytes;
    }
}
