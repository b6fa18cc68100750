using System.Collections.Concurrent;
using System.CommandLine;
using System.Globalization;
using System.Text;
using HpcRpa.Errors;
using HpcRpa.Hardware;
using HpcRpa.Kernels.RaggedPagedAttention;
using HpcRpa.Numerics;
using HpcRpa.Pallas;
using HpcRpa.Timeline;
using HpcRpa.Workloads;
using Spectre.Console;

namespace HpcRpa.Cli.Commands;

/// <summary>One point of a sweep.</summary>
internal sealed record SweepConfig(int Index, ChipSpec Chip, BatchSegment Shape, int PageSize, DType KvDType, RpaBlockSizes Blocks);

/// <summary>One configuration of a sweep failed: which one, and why (the inner error).</summary>
internal sealed class SweepConfigurationException(SweepConfig c, Exception inner)
    : HpcRpaException($"sweep configuration {c.Index} ({c.Chip.Name}, {c.Shape}, page size {c.PageSize}, KV {c.KvDType.Name()}, blocks {c.Blocks}): {inner.Message}", inner)
{
    public int Index { get; } = c.Index;
}

/// <summary>What one point measured.</summary>
internal sealed record SweepRow(SweepConfig Config, long Cycles, double Seconds, double TokensPerSecond, double Mbu, double Mfu, string Bound, long Dmas)
{
    public static string Header => "chip,case,batch,page_size,kv_dtype,bq,bkv,bq_c,bkv_c,cycles,seconds,tokens_per_s,mbu,mfu,bound,dma_count";

    public string Csv()
    {
        var c = Config;
        var inv = CultureInfo.InvariantCulture;
        return string.Join(',', c.Chip.Name, c.Shape.Kind.ToString().ToLowerInvariant(), c.Shape.ToString().Replace(' ', '-'), c.PageSize, c.KvDType.Name(),
            c.Blocks.Bq, c.Blocks.Bkv, c.Blocks.BqCompute, c.Blocks.BkvCompute, Cycles, Seconds.ToString("R", inv), TokensPerSecond.ToString("R", inv),
            Mbu.ToString("R", inv), Mfu.ToString("R", inv), Bound, Dmas);
    }
}

/// <summary>
/// A grid over chips, batch shapes, page sizes, KV dtypes and block sizes (fetch and compute), timing-only by
/// default, spread over all cores, with a progress bar on stderr. Writes a CSV and a plot and prints the best
/// configuration per case as a tuned block-size table entry. Ctrl+C stops scheduling and keeps the rows done.
/// </summary>
internal static class SweepCommand
{
    public static Command Create()
    {
        var chips = new Option<string>("--chips") { Description = "comma-separated chips", DefaultValueFactory = _ => "tpu7x,v6e" };
        var model = new Option<string>("--model") { Description = "model preset or JSON file", DefaultValueFactory = _ => "llama3-8b" };
        var decode = new Option<string[]>("--decode") { Description = "decode shapes NxC, each its own case (default 64x1024, 64x4096, 64x8192)" };
        var prefill = new Option<string[]>("--prefill") { Description = "prefill shapes NxQ (default 2x2048)" };
        var mixed = new Option<string[]>("--mixed") { Description = "chunked-prefill shapes NxQ+C (default 8x256+2048)" };
        var pages = new Option<string>("--page-sizes") { Description = "comma-separated page sizes", DefaultValueFactory = _ => "16,64,128" };
        var dtypes = new Option<string>("--kv-dtypes") { Description = "comma-separated KV dtypes", DefaultValueFactory = _ => "bf16,fp8_e4m3" };
        var bkvs = new Option<string>("--bkv") { Description = "KV fetch block sizes (tokens)", DefaultValueFactory = _ => "256,512,1024,2048,4096" };
        var bkvcs = new Option<string>("--bkv-c") { Description = "KV compute chunk sizes (tokens; only divisors of bkv are used)", DefaultValueFactory = _ => "128,256,512,1024,2048,4096" };
        var bqs = new Option<string>("--bq") { Description = "q fetch block sizes for prefill/mixed (tokens; decode uses 1)", DefaultValueFactory = _ => "64,128,256" };
        var functional = new Option<bool>("--functional") { Description = "compute values too (slow); default is timing-only" };
        var output = new Option<string>("--out") { Description = "output folder for sweep.csv and sweep.png", DefaultValueFactory = _ => "hpcrpa-out/sweep" };
        var threads = new Option<int>("--threads") { Description = "worker threads (default: all cores)", DefaultValueFactory = _ => Environment.ProcessorCount };
        var cmd = new Command("sweep", "Sweep block sizes, page sizes, KV dtypes, chips and batch shapes; CSV, plot and the best entry per case.");
        foreach (Option o in new Option[] { chips, model, decode, prefill, mixed, pages, dtypes, bkvs, bkvcs, bqs, functional, output, threads }) cmd.Options.Add(o);
        cmd.SetAction(r =>
        {
            var m = ModelPreset.Resolve(r.GetValue(model)!);
            var shapes = new List<BatchSegment>();
            foreach (var s in r.GetValue(decode) ?? []) shapes.Add(BatchSegment.Parse(SegmentKind.Decode, s));
            foreach (var s in r.GetValue(prefill) ?? []) shapes.Add(BatchSegment.Parse(SegmentKind.Prefill, s));
            foreach (var s in r.GetValue(mixed) ?? []) shapes.Add(BatchSegment.Parse(SegmentKind.Mixed, s));
            if (shapes.Count == 0)
                shapes.AddRange([new(SegmentKind.Decode, 64, 1, 1024), new(SegmentKind.Decode, 64, 1, 4096), new(SegmentKind.Decode, 64, 1, 8192),
                    new(SegmentKind.Prefill, 2, 2048, 0), new(SegmentKind.Mixed, 8, 256, 2048)]);
            var configs = Grid(r.GetValue(chips)!.Split(',').Select(ChipPresets.Resolve).ToList(), shapes, Ints(r.GetValue(pages)!),
                r.GetValue(dtypes)!.Split(',').Select(DTypeInfo.Parse).ToList(), Ints(r.GetValue(bkvs)!), Ints(r.GetValue(bkvcs)!), Ints(r.GetValue(bqs)!), m);
            string dir = r.GetValue(output)!;
            Directory.CreateDirectory(dir);
            var mode = r.GetValue(functional) ? ExecutionMode.Functional : ExecutionMode.TimingOnly;
            var rows = Run(configs, m, mode, Math.Max(1, r.GetValue(threads)), CancellationToken.None, out bool interrupted);
            var sorted = rows.OrderBy(x => x.Config.Index).ToList();
            string csv = Path.Combine(dir, "sweep.csv");
            File.WriteAllLines(csv, sorted.Select(x => x.Csv()).Prepend(SweepRow.Header));
            string png = Path.Combine(dir, "sweep.png");
            Output.SweepPlot.Write(png, sorted);
            Console.WriteLine($"{sorted.Count} of {configs.Count} configurations{(interrupted ? " (interrupted: the rows done are kept)" : "")}; wrote {csv} and {png}");
            foreach (var line in BestEntries(sorted, m)) Console.WriteLine(line);
            return interrupted ? 130 : 0;
        });
        return cmd;
    }

    private static List<int> Ints(string s) => s.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
        .Select(x => int.TryParse(x, NumberStyles.None, CultureInfo.InvariantCulture, out int v) && v > 0 ? v : throw new FormatException($"'{x}' is not a positive integer")).ToList();

    /// <summary>Every legal point: block sizes that divide as RPA requires and fit the chip's VMEM.</summary>
    private static List<SweepConfig> Grid(List<ChipSpec> chips, List<BatchSegment> shapes, List<int> pageSizes, List<DType> dtypes, List<int> bkvs, List<int> bkvcs, List<int> bqs, ModelPreset m)
    {
        var list = new List<SweepConfig>();
        foreach (var chip in chips)
            foreach (var shape in shapes)
                foreach (int P in pageSizes)
                    foreach (var dt in dtypes)
                        foreach (int bkv in bkvs)
                            foreach (int bkvc in bkvcs)
                            {
                                if (bkvc > bkv || bkv % bkvc != 0 || bkv % P != 0 || bkvc % P != 0) continue;
                                if (bkv > RpaLayout.Align(shape.KvLen, P) * 2 && bkv != bkvs.Where(x => x % P == 0).Min()) continue; // far past the context: same as a smaller block
                                IEnumerable<(int Bq, int Bqc)> qs = shape.Kind == SegmentKind.Decode ? [(1, 1)] : bqs.SelectMany(b => new[] { (b, b), (b, b / 2) }).Where(x => x.Item2 > 0).Distinct();
                                foreach (var (bq, bqc) in qs)
                                {
                                    var blocks = new RpaBlockSizes(bq, bkv, bqc, bkvc);
                                    var layout = new RpaLayout(m.NumQHeads, m.NumKvHeads, m.HeadDim, DType.BF16, dt);
                                    if (RpaValidation.VmemBytes(layout, blocks) > chip.VmemBytesPerCore) continue;
                                    list.Add(new SweepConfig(list.Count, chip, shape, P, dt, blocks));
                                }
                            }
        return list;
    }

    private static List<SweepRow> Run(List<SweepConfig> configs, ModelPreset m, ExecutionMode mode, int threads, CancellationToken ct, out bool interrupted)
    {
        var rows = new ConcurrentBag<SweepRow>();
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        ConsoleCancelEventHandler onCancel = (_, e) => { e.Cancel = true; cts.Cancel(); };
        Console.CancelKeyPress += onCancel;
        var err = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        try
        {
            err.Progress().AutoClear(false).Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
                .Start(p =>
                {
                    var task = p.AddTask($"sweep of {configs.Count} configurations on {threads} threads", maxValue: configs.Count);
                    try
                    {
                        Parallel.ForEach(configs, new ParallelOptions { MaxDegreeOfParallelism = threads, CancellationToken = cts.Token }, c =>
                        {
                            rows.Add(RunOne(c, m, mode));
                            task.Increment(1);
                        });
                    }
                    catch (OperationCanceledException) { }
                });
        }
        catch (AggregateException ae) when (ae.Flatten().InnerExceptions.All(x => x is SweepConfigurationException))
        {
            // Workers fail in any order: report the first configuration that failed, the same on every run.
            throw ae.Flatten().InnerExceptions.Cast<SweepConfigurationException>().MinBy(x => x.Index)!;
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
        }
        interrupted = cts.IsCancellationRequested;
        // A last line on stderr whatever the terminal: a fast sweep may finish before the bar first redraws.
        Console.Error.WriteLine($"sweep of {configs.Count} configurations: {rows.Count} done{(interrupted ? ", interrupted" : "")}");
        return rows.ToList();
    }

    private static SweepRow RunOne(SweepConfig c, ModelPreset m, ExecutionMode mode)
    {
        RunReport r;
        BuiltBatch b;
        try
        {
            b = BatchBuilder.Build(m, [c.Shape], c.PageSize, c.KvDType, DType.BF16, seed: c.Index, values: mode == ExecutionMode.Functional);
            var o = b.Options with { DecodeBlocks = c.Blocks, PrefillBlocks = c.Blocks, MixedBlocks = c.Blocks };
            r = RpaRunner.Run(c.Chip, b.Problem, o, mode).Report;
        }
        catch (Exception e) when (e is HpcRpaException or ArgumentException)
        {
            throw new SweepConfigurationException(c, e);
        }
        return new SweepRow(c, r.Cycles, r.Seconds, b.Problem.TotalQTokens / r.Seconds, r.Mbu, r.Mfu, r.Bound.ToString().ToLowerInvariant(), r.DmaCount);
    }

    /// <summary>Fastest point per (chip, shape, page size, KV dtype), written as tpu-inference's tuned table keys it (rpa.md 2.9).</summary>
    private static IEnumerable<string> BestEntries(List<SweepRow> rows, ModelPreset m)
    {
        foreach (var g in rows.GroupBy(x => (x.Config.Chip.Name, x.Config.Shape, x.Config.PageSize, x.Config.KvDType)).OrderBy(g => g.Key.Name).ThenBy(g => g.Key.Shape.ToString()).ThenBy(g => g.Key.PageSize))
        {
            var best = g.MinBy(x => x.Seconds)!;
            var c = best.Config;
            string device = RpaBlockSizes.IsV7OrLater(c.Chip) ? "TPU v7" : "TPU " + c.Chip.Name;
            int pk = c.KvDType.Packing();
            int qHeads = RpaBlockSizes.NextPow2(RpaLayout.Align(m.NumQHeads / m.NumKvHeads, 2) * m.NumKvHeads);
            int kvHeads = RpaBlockSizes.NextPow2(RpaLayout.Align(2 * m.NumKvHeads, pk)) / 2;
            string kvName = c.KvDType switch { DType.BF16 => "bfloat16", DType.F32 => "float32", DType.Fp8E4M3 => "float8_e4m3fn", DType.Fp8E5M2 => "float8_e5m2", _ => c.KvDType.Name() };
            yield return $"best {c.Shape} on {c.Chip.Name}: ['{device}'][{RpaBlockSizes.NextPow2(c.PageSize)}]['q_bfloat16_kv_{kvName}']['q_head-{qHeads}_kv_head-{kvHeads}_head-{RpaLayout.Align(m.HeadDim, 128)}']" +
                $"['max_model_len-{RpaBlockSizes.NextPow2(c.Shape.KvLen)}-sw-{(m.SlidingWindow?.ToString() ?? "None")}'] = (bq, bkv, bq_c, bkv_c) {c.Blocks}  " +
                $"# {best.Seconds * 1e6:0.#} us, {best.TokensPerSecond:0} tok/s, MBU {best.Mbu:P1}, MFU {best.Mfu:P1}, {best.Bound}-bound";
        }
    }
}
