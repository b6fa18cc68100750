using System.Globalization;

namespace HpcRpa.Workloads;

/// <summary>How one group of sequences arrives in a step.</summary>
public enum SegmentKind
{
    /// <summary>N sequences with one new token on C cached tokens.</summary>
    Decode,
    /// <summary>N sequences of Q new tokens and no cache.</summary>
    Prefill,
    /// <summary>N sequences of Q new tokens on C cached tokens (chunked prefill).</summary>
    Mixed,
}

/// <summary>A group of sequences in a ragged batch: --decode NxC, --prefill NxQ, --mixed NxQ+C.</summary>
public sealed record BatchSegment(SegmentKind Kind, int Count, int NewTokens, int Cached)
{
    public int KvLen => NewTokens + Cached;

    public static BatchSegment Parse(SegmentKind kind, string text)
    {
        string s = text.Trim().ToLowerInvariant();
        int x = s.IndexOf('x');
        if (x <= 0) throw new FormatException($"--{kind.ToString().ToLowerInvariant()} '{text}': expected N x ... (e.g. 64x2048)");
        int n = ParsePositive(s[..x], text);
        string rest = s[(x + 1)..];
        return kind switch
        {
            SegmentKind.Decode => new(kind, n, 1, ParseNonNegative(rest, text)),
            SegmentKind.Prefill => new(kind, n, ParsePositive(rest, text), 0),
            _ => rest.Split('+') is [var q, var c]
                ? new(kind, n, ParsePositive(q, text), ParseNonNegative(c, text))
                : throw new FormatException($"--mixed '{text}': expected NxQ+C (e.g. 4x128+1024)"),
        };
    }

    private static int ParsePositive(string s, string whole) =>
        int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out int v) && v > 0 ? v : throw new FormatException($"'{whole}': '{s}' is not a positive integer");

    private static int ParseNonNegative(string s, string whole) =>
        int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out int v) && v >= 0 ? v : throw new FormatException($"'{whole}': '{s}' is not a non-negative integer");

    public override string ToString() => Kind switch
    {
        SegmentKind.Decode => $"decode {Count}x{Cached}",
        SegmentKind.Prefill => $"prefill {Count}x{NewTokens}",
        _ => $"mixed {Count}x{NewTokens}+{Cached}",
    };
}
