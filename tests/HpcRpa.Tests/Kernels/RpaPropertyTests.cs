using HpcRpa.Dispatch;
using HpcRpa.Errors;
using HpcRpa.Hardware;
using HpcRpa.Kernels.RaggedPagedAttention;
using HpcRpa.Memory;
using HpcRpa.Numerics;

namespace HpcRpa.Tests.Kernels;

/// <summary>
/// 10,000 random metadata and option sets over all three ranges (decode, chunked prefill, mixed). Every
/// unmutated case is valid by construction and must run and match the reference (output and cache) — so a
/// validator that over-rejects fails here; every mutated case breaks exactly one rule and must raise
/// <see cref="ValidationException"/> with the cache untouched — so one that under-rejects fails too. Nothing
/// else may escape (no crash, no out-of-range access, no other exception type).
/// </summary>
public class RpaPropertyTests
{
    private const int Cases = 10_000;

    [Fact]
    public void RandomMetadataIsEitherCorrectOrATypedError()
    {
        int valid = 0, invalid = 0, withPrefill = 0, withOptions = 0;
        var mutationsSeen = new HashSet<string>();
        var chip = ChipPresets.Tpu7x;
        for (int c = 0; c < Cases; c++)
        {
            var rng = new SplitMix64((ulong)c * 2654435761UL + 17);
            var (p, o, mutation) = RandomCase(ref rng);
            var before = (byte[])p.KvCache.Clone();
            if (mutation is null)
            {
                RpaResult r;
                try { r = RpaRunner.Run(chip, p, o); }
                catch (ValidationException e) { throw new Xunit.Sdk.XunitException($"case {c}: a valid case was rejected: {e.Message} ({Describe(p, o)})"); }
                var check = ReferenceCheck.Rpa(p with { KvCache = before }, o, r.Output!, p.KvCache);
                Assert.True(check.Pass, $"case {c}: max abs err {check.MaxAbsErr:E2} above {check.Tolerance:E0} ({Describe(p, o)})");
                Assert.True(check.CacheEqual, $"case {c}: cache differs from the reference ({Describe(p, o)})");
                valid++;
                if (p.HasSequences(RpaCase.Prefill)) withPrefill++;
                if (o.SlidingWindow is not null || o.SoftCap is not null || o.QScale is not null || o.KScale is not null || o.VScale is not null) withOptions++;
            }
            else
            {
                var e = Record.Exception(() => RpaRunner.Run(chip, p, o));
                Assert.True(e is ValidationException, $"case {c}: mutation '{mutation}' gave {e?.GetType().Name ?? "no error"} ({Describe(p, o)})");
                Assert.True(before.AsSpan().SequenceEqual(p.KvCache), $"case {c}: a rejected call wrote the cache");
                invalid++;
                mutationsSeen.Add(mutation);
            }
        }
        // Both kinds, the prefill range, the options and every mutation must be well represented for the property to mean anything.
        Assert.True(valid > Cases / 5, $"only {valid} valid cases");
        Assert.True(invalid > Cases / 5, $"only {invalid} invalid cases");
        Assert.True(withPrefill > valid / 5, $"only {withPrefill} valid cases with a prefill range");
        Assert.True(withOptions > valid / 3, $"only {withOptions} valid cases with window, soft cap or scales");
        Assert.Equal(Mutations, mutationsSeen.Count);
    }

    private static string Describe(RpaProblem p, RpaOptions o) =>
        $"P {p.PageSize}, Hq {p.NumQHeads}, Hkv {p.NumKvHeads}, D {p.HeadDim}, q {p.QDType.Name()}, kv {p.KvDType.Name()}, " +
        $"dist [{string.Join(",", p.Distribution)}], kv_lens [{string.Join(",", p.KvLens.Take(p.NumSeqs))}], cu_q_lens [{string.Join(",", p.CuQLens.Take(p.NumSeqs + 1))}], " +
        $"window {o.SlidingWindow}, cap {o.SoftCap}, sm {o.SmScale}, q/k/v scale {o.QScale}/{o.KScale}/{o.VScale}, causal {o.Causal}, chunk {o.ChunkPrefillSize}, " +
        $"blocks d {o.DecodeBlocks} p {o.PrefillBlocks} m {o.MixedBlocks}";

    private const int Mutations = 14;

    /// <returns>The case, and the mutation that makes it invalid (null: valid by construction).</returns>
    private static (RpaProblem, RpaOptions, string?) RandomCase(ref SplitMix64 rng)
    {
        int P = rng.NextInt(2) == 0 ? 4 : 8;
        int hkv = 1 + rng.NextInt(2), g = 1 + rng.NextInt(3);
        int d = rng.NextInt(2) == 0 ? 8 : 48;
        var q = rng.NextInt(3) == 0 ? DType.F32 : DType.BF16;
        // Now and then an fp8 cache under bf16 queries, where the scales matter most.
        var kvType = q == DType.BF16 && rng.NextInt(4) == 0 ? (rng.NextInt(2) == 0 ? DType.Fp8E4M3 : DType.Fp8E5M2) : q;
        int n = 1 + rng.NextInt(4);
        int nDecode = rng.NextInt(n + 1);
        int nPrefill = rng.NextInt(n - nDecode + 1);
        // A static chunk size sometimes: then every prefill sequence has exactly that q_len (rpa.md 2.6).
        int? chunk = nPrefill > 0 && rng.NextInt(3) == 0 ? 1 + rng.NextInt(6) : null;
        var seqs = new (int Q, int Kv)[n];
        for (int s = 0; s < n; s++)
        {
            int kv = 1 + rng.NextInt(24);
            bool prefill = s >= nDecode && s < nDecode + nPrefill;
            int ql = s < nDecode ? 1 : prefill && chunk is int cp ? cp : rng.NextInt(kv + 1);
            if (ql > kv) kv = ql;
            seqs[s] = (ql, kv);
        }
        var p = RpaTestData.Build(seqs, hkv * g, hkv, d, q, kvType, pageSize: P, seed: rng.NextInt(1 << 30),
            distribution: [nDecode, nDecode + nPrefill, n], numPages: 32, minTokens: 128);
        var o = new RpaOptions
        {
            SlidingWindow = rng.NextInt(4) == 0 ? 1 + rng.NextInt(10) : null,
            SoftCap = rng.NextInt(5) == 0 ? (rng.NextInt(2) == 0 ? 5.0 : 0.75) : null,
            Causal = rng.NextInt(6) != 0,
            SmScale = 0.05 + rng.NextInt(20) * 0.05,
            // q_scale rounds q to the KV dtype; the reference finds bf16 codes by exhaustive search (2^15 per
            // element), which would double the test's time, so q_scale goes with f32 and fp8 caches here
            // (RpaReferenceMatrixTests covers it on fp8 with the official shapes).
            QScale = kvType != DType.BF16 && rng.NextInt(3) == 0 ? 0.25 + rng.NextInt(8) * 0.25 : null,
            KScale = rng.NextInt(4) == 0 ? 0.25 + rng.NextInt(8) * 0.25 : null,
            VScale = rng.NextInt(4) == 0 ? 0.25 + rng.NextInt(8) * 0.25 : null,
            ChunkPrefillSize = chunk,
            DecodeBlocks = new(1, 2 * P, 1, P),
            // Now and then the heuristic's own tuple, which may leave a ragged last compute chunk.
            PrefillBlocks = rng.NextInt(4) == 0 ? null : new(4, 2 * P, 2, P),
            MixedBlocks = rng.NextInt(4) == 0 ? null : new(4, 2 * P, 2, P),
        };
        if (rng.NextInt(2) == 0) return (p, o, null);

        int sq = rng.NextInt(n);
        var kvl = (int[])p.KvLens.Clone();
        var pi = (int[])p.PageIndices.Clone();
        var cu = (int[])p.CuQLens.Clone();
        var dist = (int[])p.Distribution.Clone();
        double[] badReals = [0.0, -0.5, double.NaN, double.PositiveInfinity];
        double Bad(ref SplitMix64 r) => badReals[r.NextInt(badReals.Length)];
        string mutation;
        switch (rng.NextInt(Mutations))
        {
            case 0: kvl[sq] = -1 - rng.NextInt(5); mutation = "negative kv_len"; break;
            case 1: kvl[sq] = p.QLen(sq) - 1; mutation = "q_len > kv_len"; break;
            case 2: kvl[sq] = p.PagesPerSeq * P + 1 + rng.NextInt(10); mutation = "kv_len beyond the page table"; break;
            case 3: pi[sq * p.PagesPerSeq] = rng.NextInt(2) == 0 ? -1 : p.NumPages + rng.NextInt(100); mutation = "page index out of range"; break;
            case 4: cu[sq + 1] = cu[sq] - 1 - rng.NextInt(3); mutation = "cu_q_lens decreasing"; break;
            case 5: dist = [n, n - 1, n]; mutation = "distribution out of order"; break;
            case 6: dist = [0, 0, p.MaxNumSeqs + 1]; mutation = "num_seqs > max_num_seqs"; break;
            case 7: for (int i = sq + 1; i < cu.Length; i++) cu[i] = p.MaxNumTokens + 1; kvl[sq] = 1_000_000; mutation = "tokens beyond T"; break;
            case 8:
                // Only a range that has sequences makes a call whose tuple is checked.
                var bad = new RpaBlockSizes(4, 2 * P + 1, 2, P);
                o = sq < nDecode ? o with { DecodeBlocks = new(1, 2 * P + 1, 1, P) }
                    : sq < nDecode + nPrefill ? o with { PrefillBlocks = bad } : o with { MixedBlocks = bad };
                mutation = "bkv not a page multiple";
                break;
            case 9: o = o with { SlidingWindow = -rng.NextInt(3) }; mutation = "window <= 0"; break;
            case 10: o = o with { SoftCap = rng.NextInt(3) switch { 0 => 0.0, 1 => double.NaN, _ => double.NegativeInfinity } }; mutation = "soft cap 0 or not finite"; break;
            case 11:
                o = rng.NextInt(3) switch { 0 => o with { QScale = Bad(ref rng) }, 1 => o with { KScale = Bad(ref rng) }, _ => o with { VScale = Bad(ref rng) } };
                mutation = "scale not positive and finite";
                break;
            case 12: o = o with { SmScale = rng.NextInt(2) == 0 ? double.NaN : double.PositiveInfinity }; mutation = "sm_scale not finite"; break;
            default:
                // A prefill q_len that is not the static chunk size; without a prefill range, a chunk size of 0.
                o = nPrefill > 0 ? o with { ChunkPrefillSize = seqs[nDecode].Q + 1 } : o with { ChunkPrefillSize = 0 };
                mutation = "chunk_prefill_size mismatch";
                break;
        }
        return (p with { KvLens = kvl, PageIndices = pi, CuQLens = cu, Distribution = dist }, o, mutation);
    }
}
