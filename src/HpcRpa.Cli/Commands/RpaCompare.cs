using HpcRpa.Dispatch;
using HpcRpa.Hardware;
using HpcRpa.Kernels.KvCacheUpdate;
using HpcRpa.Kernels.RaggedPagedAttention;
using HpcRpa.Pallas;
using HpcRpa.Timeline;
using HpcRpa.Workloads;
using HpcRpa.Cli.Output;

namespace HpcRpa.Cli.Commands;

/// <summary>`hpcrpa rpa --compare`: two variants on the same data, side by side.</summary>
internal static class RpaCompare
{
    public static int Run(ChipSpec chip, BuiltBatch built, string how, bool timingOnly, bool json)
    {
        var mode = timingOnly ? ExecutionMode.TimingOnly : ExecutionMode.Functional;
        var p = built.Problem;
        var o = built.Options;
        RpaProblem Copy() => p with { KvCache = timingOnly ? p.KvCache : (byte[])p.KvCache.Clone() };
        string nameA, nameB;
        RunReport a, b;
        byte[]? outA, outB, cacheA, cacheB;
        switch (how.Split(':')[0].ToLowerInvariant())
        {
            case "fused-vs-separate":
            {
                nameA = "fused update (RPA v3)";
                nameB = "KV-update kernel, then RPA";
                var pa = Copy();
                var ra = RpaRunner.Run(chip, pa, o, mode);
                var pb = Copy();
                var upd = RpaKvUpdate.For(pb, values: !timingOnly);
                var ru = KvUpdateKernel.Run(chip, upd, KvUpdateGrid.Dynamic, mode: mode);
                var rb = RpaRunner.Run(chip, pb, o with { UpdateKvCache = false }, mode);
                a = ra.Report;
                b = Sum(ru.Report, rb.Report, "kv update + " + rb.Report.Kernel);
                (outA, outB, cacheA, cacheB) = (ra.Output, rb.Output, pa.KvCache, pb.KvCache);
                break;
            }
            case "specialised-vs-mixed":
            {
                nameA = "specialised calls";
                nameB = "one mixed call";
                var pa = Copy();
                var ra = RpaRunner.Run(chip, pa, o, mode);
                var pb = Copy() with { Distribution = [0, 0, p.NumSeqs] };
                var rb = RpaRunner.Run(chip, pb, o, mode);
                (a, b, outA, outB, cacheA, cacheB) = (ra.Report, rb.Report, ra.Output, rb.Output, pa.KvCache, pb.KvCache);
                break;
            }
            case "blocks":
            {
                var other = RpaBlockSizes.Parse(how[(how.IndexOf(':') + 1)..]);
                nameA = "batch blocks";
                nameB = $"blocks {other}";
                var pa = Copy();
                var ra = RpaRunner.Run(chip, pa, o, mode);
                var pb = Copy();
                var rb = RpaRunner.Run(chip, pb, o with { DecodeBlocks = other, PrefillBlocks = other, MixedBlocks = other }, mode);
                (a, b, outA, outB, cacheA, cacheB) = (ra.Report, rb.Report, ra.Output, rb.Output, pa.KvCache, pb.KvCache);
                nameA += " " + string.Join("+", ra.Cases.Select(c => c.Blocks.ToString()).Distinct());
                break;
            }
            default:
                throw new ArgumentException($"--compare: unknown '{how}' (fused-vs-separate, specialised-vs-mixed, blocks:bq,bkv,bq_c,bkv_c)");
        }
        CompareTable.Print(nameA, a, nameB, b, json);
        if (!timingOnly)
        {
            bool sameCache = cacheA!.AsSpan().SequenceEqual(cacheB);
            var check = ReferenceCheck.Rpa(p, o, outB!, cacheB!);
            if (!json) Console.WriteLine($"both variants checked: caches {(sameCache ? "identical" : "DIFFER")}; B vs reference max abs err {check.MaxAbsErr:E2} ({(check.Pass ? "pass" : "FAIL")})");
            if (!sameCache || !check.Pass) return 1;
        }
        return 0;
    }

    /// <summary>Two kernels run one after the other: times and traffic add up; utilisation is over the sum.</summary>
    private static RunReport Sum(RunReport x, RunReport y, string kernel)
    {
        double seconds = x.Seconds + y.Seconds;
        var chip = ChipPresets.All.FirstOrDefault(c => c.Name == x.Chip);
        long bytes = x.HbmBytes + y.HbmBytes;
        return y with
        {
            Kernel = kernel,
            Cycles = x.Cycles + y.Cycles,
            Seconds = seconds,
            HbmBytesRead = x.HbmBytesRead + y.HbmBytesRead,
            HbmBytesWritten = x.HbmBytesWritten + y.HbmBytesWritten,
            Flops = x.Flops + y.Flops,
            Mbu = chip is null ? y.Mbu : bytes / (seconds * chip.HbmBandwidthPerCore),
            Mfu = chip is null ? y.Mfu : (x.Flops + y.Flops) / (seconds * chip.PeakBf16FlopsPerCore),
            DmaCount = x.DmaCount + y.DmaCount,
            ZeroByteDmaCount = x.ZeroByteDmaCount + y.ZeroByteDmaCount,
            DmaBytes = x.DmaBytes + y.DmaBytes,
            GridSteps = x.GridSteps + y.GridSteps,
            Events = x.Events + y.Events,
        };
    }
}
