using HpcRpa.Timeline;

namespace HpcRpa.Kernels.RaggedPagedAttention;

/// <summary>One kernel call of an RPA run (decode, prefill or mixed), as <see cref="RpaCaseRun"/> says it, filled in place.</summary>
public sealed class RpaCaseStats
{
    internal RpaCaseStats(RpaCase c) => Case = c;

    public RpaCase Case { get; }
    public string Scope { get; internal set; } = "";
    public RpaBlockSizes Blocks { get; internal set; } = null!;
    public int SeqStart { get; internal set; }
    public int SeqEnd { get; internal set; }
    public RunStats Report { get; } = new();

    public RpaCaseRun ToCaseRun() => new(Case, Scope, Blocks, SeqStart, SeqEnd, Report.ToReport());
}

/// <summary>
/// What a session's last call ran: the whole run and each kernel call, the figures of <see cref="RpaResult"/>
/// without the output. The session fills this one object on every call (nothing is allocated): read it before
/// the next call, or keep <see cref="ToResult"/>'s copy.
/// </summary>
public sealed class RpaCallReport
{
    private readonly RpaCaseStats?[] _byCase = new RpaCaseStats?[3];
    private readonly List<RpaCaseStats> _cases = new(3);

    internal RpaCallReport() => Cases = _cases.AsReadOnly();

    public RunStats Total { get; } = new();

    /// <summary>The calls that ran, in order (a range without sequences makes none).</summary>
    public IReadOnlyList<RpaCaseStats> Cases { get; }

    internal void Clear() => _cases.Clear();

    internal RpaCaseStats Add(RpaCase c)
    {
        var s = _byCase[(int)c] ??= new RpaCaseStats(c);
        _cases.Add(s);
        return s;
    }

    /// <summary>The immutable result of this call, with its output and timeline (what <see cref="RpaRunner.Run"/> returns).</summary>
    public RpaResult ToResult(byte[]? output, Timeline.Timeline timeline)
    {
        var cases = new List<RpaCaseRun>(_cases.Count);
        foreach (var c in _cases) cases.Add(c.ToCaseRun());
        return new RpaResult(output, Total.ToReport(), cases, timeline);
    }
}
