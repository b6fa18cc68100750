using System.CommandLine;
using HpcRpa.Kernels.RaggedPagedAttention;
using HpcRpa.Numerics;
using HpcRpa.Workloads;

namespace HpcRpa.Cli.Commands;

/// <summary>The ragged-batch flags shared by rpa, compare-torch, demo and sweep.</summary>
internal sealed class BatchOptions
{
    public Option<string> Model { get; } = new("--model") { Description = $"model preset ({string.Join(", ", ModelPreset.All.Select(m => m.Name))}) or a JSON file", DefaultValueFactory = _ => "llama3-8b" };
    public Option<string[]> Decode { get; } = new("--decode") { Description = "NxC: N sequences, one new token on C cached tokens (repeatable)", AllowMultipleArgumentsPerToken = false };
    public Option<string[]> Prefill { get; } = new("--prefill") { Description = "NxQ: N sequences of Q new tokens, no cache (repeatable)" };
    public Option<string[]> Mixed { get; } = new("--mixed") { Description = "NxQ+C: N sequences of Q new tokens on C cached tokens (repeatable)" };
    public Option<int> PageSize { get; } = new("--page-size") { Description = "tokens per KV page", DefaultValueFactory = _ => 64 };
    public Option<string> KvDType { get; } = new("--kv-dtype") { Description = "KV cache dtype: bf16, f32, fp8_e4m3, fp8_e5m2", DefaultValueFactory = _ => "bf16" };
    public Option<string> QDType { get; } = new("--q-dtype") { Description = "query dtype: bf16 or f32", DefaultValueFactory = _ => "bf16" };
    public Option<int> Seed { get; } = new("--seed") { Description = "seed of the random data and page tables", DefaultValueFactory = _ => 0 };
    public Option<string?> DecodeBlocks { get; } = new("--block-decode") { Description = "decode block sizes bq,bkv,bq_c,bkv_c" };
    public Option<string?> PrefillBlocks { get; } = new("--block-prefill") { Description = "prefill block sizes bq,bkv,bq_c,bkv_c" };
    public Option<string?> MixedBlocks { get; } = new("--block-mixed") { Description = "mixed block sizes bq,bkv,bq_c,bkv_c" };
    public Option<string?> Block { get; } = new("--block") { Description = "block sizes bq,bkv,bq_c,bkv_c for every case (overridden per case by --block-decode/-prefill/-mixed)" };

    public void AddTo(Command c)
    {
        foreach (Option o in new Option[] { Model, Decode, Prefill, Mixed, PageSize, KvDType, QDType, Seed, Block, DecodeBlocks, PrefillBlocks, MixedBlocks })
            c.Options.Add(o);
    }

    public IReadOnlyList<BatchSegment> Segments(ParseResult r, IReadOnlyList<BatchSegment>? fallback = null)
    {
        var segs = new List<BatchSegment>();
        foreach (var s in r.GetValue(Decode) ?? []) segs.Add(BatchSegment.Parse(SegmentKind.Decode, s));
        foreach (var s in r.GetValue(Prefill) ?? []) segs.Add(BatchSegment.Parse(SegmentKind.Prefill, s));
        foreach (var s in r.GetValue(Mixed) ?? []) segs.Add(BatchSegment.Parse(SegmentKind.Mixed, s));
        if (segs.Count == 0 && fallback is not null) return fallback;
        if (segs.Count == 0) throw new ArgumentException("give at least one of --decode NxC, --prefill NxQ, --mixed NxQ+C");
        return segs;
    }

    public BuiltBatch Build(ParseResult r, bool values, IReadOnlyList<BatchSegment>? fallback = null)
    {
        var model = ModelPreset.Resolve(r.GetValue(Model)!);
        var batch = BatchBuilder.Build(model, Segments(r, fallback), r.GetValue(PageSize), DTypeInfo.Parse(r.GetValue(KvDType)!), DTypeInfo.Parse(r.GetValue(QDType)!), r.GetValue(Seed), values);
        var all = r.GetValue(Block) is string b ? RpaBlockSizes.Parse(b) : null;
        var o = batch.Options with
        {
            DecodeBlocks = r.GetValue(DecodeBlocks) is string d ? RpaBlockSizes.Parse(d) : all,
            PrefillBlocks = r.GetValue(PrefillBlocks) is string p ? RpaBlockSizes.Parse(p) : all,
            MixedBlocks = r.GetValue(MixedBlocks) is string m ? RpaBlockSizes.Parse(m) : all,
        };
        return batch with { Options = o };
    }
}
