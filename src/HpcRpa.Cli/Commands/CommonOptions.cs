using System.CommandLine;
using HpcRpa.Hardware;

namespace HpcRpa.Cli.Commands;

/// <summary>Options every model-running command shares.</summary>
internal sealed class CommonOptions
{
    public Option<string> Chip { get; } = new("--chip") { Description = $"chip preset ({string.Join(", ", ChipPresets.Names)}) or a JSON file overriding one", DefaultValueFactory = _ => "tpu7x" };
    public Option<bool> TimingOnly { get; } = new("--timing-only") { Description = "charge cycles without computing values (fast, no buffers allocated)" };
    public Option<bool> Json { get; } = new("--json") { Description = "print one JSON object on stdout" };
    public Option<string?> Trace { get; } = new("--trace") { Description = "write a Chrome/Perfetto trace-event JSON file" };

    public void AddTo(Command c)
    {
        c.Options.Add(Chip);
        c.Options.Add(TimingOnly);
        c.Options.Add(Json);
        c.Options.Add(Trace);
    }

    public ChipSpec ResolveChip(ParseResult r) => ChipPresets.Resolve(r.GetValue(Chip)!);
}
