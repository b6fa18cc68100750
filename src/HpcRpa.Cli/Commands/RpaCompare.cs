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
                b = ReportSum.Sequential(ru.Report, rb.Report, "kv update + " + rb.Report.Kernel);
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
        if (timingOnly)
        {
            CompareTable.Print(nameA, a, nameB, b, json);
            return 0;
        }
        // Each variant against the reference on the original cache (p's cache was never written: both ran on copies).
        var checkA = ReferenceCheck.Rpa(p, o, outA!, cacheA!);
        var checkB = ReferenceCheck.Rpa(p, o, outB!, cacheB!);
        bool sameCache = cacheA!.AsSpan().SequenceEqual(cacheB);
        CompareTable.Print(nameA, a, nameB, b, json, CheckFields(checkA), CheckFields(checkB));
        if (!json)
            Console.WriteLine($"both variants checked against the reference: A max abs err {checkA.MaxAbsErr:E2} ({Verdict(checkA)}), " +
                              $"B max abs err {checkB.MaxAbsErr:E2} ({Verdict(checkB)}); caches {(sameCache ? "identical" : "DIFFER")}");
        return sameCache && Ok(checkA) && Ok(checkB) ? 0 : 1;
    }

    private static bool Ok(RpaCheck c) => c.Pass && c.CacheEqual;

    private static string Verdict(RpaCheck c) => (c.Pass ? "pass" : "FAIL") + (c.CacheEqual ? "" : ", cache DIFFERS from the reference");

    private static Dictionary<string, object?> CheckFields(RpaCheck c) => new()
    {
        ["max_abs_err"] = c.MaxAbsErr,
        ["tolerance"] = c.Tolerance,
        ["matches_reference"] = c.Pass,
        ["cache_matches_reference"] = c.CacheEqual,
    };
}
