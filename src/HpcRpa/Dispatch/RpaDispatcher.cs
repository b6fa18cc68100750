using HpcRpa.Errors;
using HpcRpa.Hardware;
using HpcRpa.Kernels.RaggedPagedAttention;
using HpcRpa.Numerics;
using HpcRpa.Pallas;
using HpcRpa.Timeline;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace HpcRpa.Dispatch;

/// <summary>Why the TPU kernel cannot run a problem: the input field that decided it, its value, and the explanation.</summary>
public sealed record RpaUnsupported(string Field, string Value, string Reason);

/// <summary>What ran for one call.</summary>
public sealed record RpaDispatchResult(
    byte[]? Output, RunReport? Report, string Variant, bool FellBack, string? FallbackReason,
    IReadOnlyList<RpaCaseRun> Cases, Timeline.Timeline? Timeline);

/// <summary>
/// The narrow interface in front of RPA: validates, routes each case (decode / prefill / mixed) to its
/// specialised compiled variant (cached by <see cref="RpaVariantKey"/>), and falls back to the independent
/// reference, with a logged reason, when a shape is one the TPU kernel does not support (an f16 KV cache,
/// block sizes whose buffers cannot fit VMEM). Invalid inputs are never "supported by fallback": they raise
/// <see cref="ValidationException"/>. Logs which variant ran on which shapes.
/// </summary>
public sealed class RpaDispatcher(ChipSpec chip, ILogger? logger = null, RpaVariantCache? cache = null)
{
    private readonly ILogger _log = logger ?? NullLogger.Instance;

    public ChipSpec Chip { get; } = chip;
    public RpaVariantCache Cache { get; } = cache ?? new RpaVariantCache();

    /// <summary>Null when the TPU kernel can run this problem; otherwise why not.</summary>
    public string? UnsupportedReason(RpaProblem p, RpaOptions o) => Unsupported(p, o)?.Reason;

    /// <summary>Null when the TPU kernel can run this problem; otherwise the field that prevents it and why.</summary>
    public RpaUnsupported? Unsupported(RpaProblem p, RpaOptions o)
    {
        if (p.KvDType == DType.F16)
            return new("kv_cache.dtype", p.KvDType.Name(), "f16 KV cache: the TPU kernel takes f32, bf16 and fp8 caches only");
        if (p.NumQHeads > 0 && p.NumKvHeads > 0 && p.NumQHeads % p.NumKvHeads == 0 && p.HeadDim > 0 && p.QDType is DType.F32 or DType.BF16 && p.KvDType is DType.F32 or DType.BF16 or DType.Fp8E4M3 or DType.Fp8E5M2)
        {
            foreach (var c in Enum.GetValues<RpaCase>())
            {
                if (o.Blocks(c) is not null || p.Distribution.Length != 3 || !p.HasSequences(c)) continue; // a caller's tuple that does not fit is the caller's error
                var b = RpaBlockSizes.Default(c, Chip, p.QDType, p.KvDType, p.NumQHeads, p.NumKvHeads, p.HeadDim, p.PageSize, p.MaxNumTokens, p.PagesPerSeq);
                long need = RpaValidation.VmemBytes(p.Layout, b);
                long limit = o.VmemLimitBytes ?? Chip.VmemBytesPerCore;
                string name = c.ToString().ToLowerInvariant();
                if (need > limit)
                    return new($"{name}_block_sizes", b.ToString(), $"{name} default blocks {b} need {need:N0} bytes of VMEM, limit {limit:N0}");
            }
        }
        return null;
    }

    public RpaDispatchResult Run(RpaProblem p, RpaOptions o, ExecutionMode mode = ExecutionMode.Functional, bool trace = false)
    {
        if (Unsupported(p, o) is { } unsupported)
        {
            string reason = unsupported.Reason;
            if (mode != ExecutionMode.Functional)
                throw new ValidationException(unsupported.Field, null, unsupported.Value, $"cannot model this on the TPU ({reason}); the reference fallback has no timing");
            _log.LogWarning("RPA falling back to the reference on {Chip}: {Reason} (Hq {Hq}, Hkv {Hkv}, D {D}, P {P}, q {Q}, kv {Kv}, {Seqs} seqs)",
                Chip.Name, reason, p.NumQHeads, p.NumKvHeads, p.HeadDim, p.PageSize, p.QDType.Name(), p.KvDType.Name(), p.NumSeqs);
            var output = ReferenceFallback.Run(p, o, Chip);
            return new RpaDispatchResult(output, null, "reference", true, reason, [], null);
        }

        RpaValidation.Validate(p, o, Chip, mode == ExecutionMode.Functional);
        var names = new List<string>();
        foreach (var c in Enum.GetValues<RpaCase>())
        {
            var (s0, s1) = p.Range(c);
            if (s1 <= s0) continue;
            var blocks = o.Blocks(c) ?? RpaBlockSizes.Default(c, Chip, p.QDType, p.KvDType, p.NumQHeads, p.NumKvHeads, p.HeadDim, p.PageSize, p.MaxNumTokens, p.PagesPerSeq);
            var key = RpaVariantKey.For(Chip.Name, c, p, o, blocks);
            var v = Cache.GetOrCompile(key, k => Compile(k, p), out bool hit);
            names.Add(v.Scope);
            _log.LogInformation("RPA {Case} variant {Scope} ({Cache}) on {Chip}: seqs [{S0}, {S1}), q tokens {Tokens}, Hq {Hq}, Hkv {Hkv}, D {D}, P {P}, q {Q}, kv {Kv}, VMEM {Vmem:N0} B",
                c, v.Scope, hit ? "cached" : "compiled", Chip.Name, s0, s1, p.CuQLens[s1] - p.CuQLens[s0], p.NumQHeads, p.NumKvHeads, p.HeadDim, p.PageSize, p.QDType.Name(), p.KvDType.Name(), v.VmemBytes);
        }
        var r = RpaRunner.Run(Chip, p, o, mode, trace);
        return new RpaDispatchResult(r.Output, r.Report, names.Count == 0 ? "(empty batch)" : string.Join(" + ", names), false, null, r.Cases, r.Timeline);
    }

    /// <summary>
    /// A session for a stream of calls of one shape on this chip — the path that allocates nothing per call. It runs
    /// the TPU kernel only: a shape that would fall back (an f16 cache) is a <see cref="ValidationException"/> here,
    /// and so are default blocks that do not fit VMEM (at the first call with that range). Each call type's variant
    /// enters <see cref="Cache"/>, and is logged, when the session first runs it.
    /// </summary>
    public RpaSession OpenSession(RpaShape shape, RpaOptions o, ExecutionMode mode = ExecutionMode.Functional, bool trace = false, RpaHostOptions? host = null)
    {
        if (shape.KvDType == DType.F16)
            throw new ValidationException("kv_cache.dtype", null, shape.KvDType.Name(), "f16 KV cache: the TPU kernel takes f32, bf16 and fp8 caches only, and a session has no reference fallback");
        _log.LogInformation("RPA session on {Chip}: T {T}, Hq {Hq}, Hkv {Hkv}, D {D}, P {P}, {Pages} pages, {Seqs} x {Pps} page table, q {Q}, kv {Kv}, {Mode}",
            Chip.Name, shape.MaxNumTokens, shape.NumQHeads, shape.NumKvHeads, shape.HeadDim, shape.PageSize, shape.NumPages, shape.MaxNumSeqs, shape.PagesPerSeq,
            shape.QDType.Name(), shape.KvDType.Name(), mode);
        return new RpaSession(Chip, shape, o, mode, trace, host)
        {
            Compiled = (c, p, blocks) =>
            {
                var v = Cache.GetOrCompile(RpaVariantKey.For(Chip.Name, c, p, o, blocks), k => Compile(k, p), out bool hit);
                _log.LogInformation("RPA session {Case} variant {Scope} ({Cache}) on {Chip}, VMEM {Vmem:N0} B", c, v.Scope, hit ? "cached" : "compiled", Chip.Name, v.VmemBytes);
            },
        };
    }

    private static CompiledRpaVariant Compile(RpaVariantKey k, RpaProblem p)
    {
        return new CompiledRpaVariant(k, RpaBlockSizes.ScopeName(k.Case, k.PageSize, k.Blocks, k.SlidingWindow), RpaValidation.VmemBytes(p.Layout, k.Blocks));
    }
}
