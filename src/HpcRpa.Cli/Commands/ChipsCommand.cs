using System.CommandLine;
using HpcRpa.Hardware;

namespace HpcRpa.Cli.Commands;

internal static class ChipsCommand
{
    public static Command Create()
    {
        var name = new Argument<string?>("chip") { Description = "a preset to print as JSON (a starting point for a custom chip file)", Arity = ArgumentArity.ZeroOrOne };
        var cmd = new Command("chips", "List the chip presets, or print one as JSON.");
        cmd.Arguments.Add(name);
        cmd.SetAction(r =>
        {
            var n = r.GetValue(name);
            if (n is not null)
            {
                Console.WriteLine(ChipPresets.ToJson(ChipPresets.Resolve(n)));
                return 0;
            }
            Console.WriteLine($"{"chip",-7} {"TC",2} {"MXU",8} {"clock GHz",9} {"bf16 TF/core",12} {"HBM GB/s/core",13} {"VMEM MiB",8} {"ridge F/B",9}");
            foreach (var c in ChipPresets.All)
                Console.WriteLine($"{c.Name,-7} {c.TensorCoresPerChip,2} {c.MxusPerCore + "x" + c.MxuRows,8} {c.ClockHz / 1e9,9:0.###} {c.PeakBf16FlopsPerCore / 1e12,12:0.#} {c.HbmBandwidthPerCore / 1e9,13:0} {c.VmemBytesPerCore >> 20,8} {c.RidgeFlopsPerByte,9:0}");
            return 0;
        });
        return cmd;
    }
}
