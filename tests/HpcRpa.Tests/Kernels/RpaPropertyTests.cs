using HpcRpa.Dispatch;
using HpcRpa.Errors;
using HpcRpa.Hardware;
using HpcRpa.Kernels.RaggedPagedAttention;
using HpcRpa.Memory;
using HpcRpa.Numerics;

namespace HpcRpa.Tests.Kernels;

/// <summary>
/// 10,000 random metadata sets, valid and invalid: every valid one matches the reference (output and cache),
/// every invalid one raises <see cref="ValidationException"/> with the cache untouched, and nothing else ever
/// escapes (no crash, no out-of-range access, no other exception type).
/// </summary>
public class RpaPropertyTests
{
    private const int Cases = 10_000;

    [Fact]
    public void RandomMetadataIsEitherCorrectOrATypedError()
    {
        int valid = 0, invalid = 0;
        var chip = ChipPresets.Tpu7x;
        for (int c = 0; c < Cases; c++)
        {
            var rng = new SplitMix64((ulong)c * 2654435761UL + 17);
            var (p, o, mutation) = RandomCase(ref rng);
            var before = (byte[])p.KvCache.Clone();
            try
            {
                var r = RpaRunner.Run(chip, p, o);
                var check = ReferenceCheck.Rpa(p with { KvCache = before }, o, r.Output!, p.KvCache);
                Assert.True(check.Pass, $"case {c}: max abs err {check.MaxAbsErr:E2} (mutation: {mutation})");
                Assert.True(check.CacheEqual, $"case {c}: cache differs from the reference (mutation: {mutation})");
                valid++;
            }
            catch (ValidationException)
            {
                Assert.True(before.AsSpan().SequenceEqual(p.KvCache), $"case {c}: a rejected call wrote the cache");
                invalid++;
            }
        }
        // Both kinds must be well represented for the property to mean anything.
        Assert.True(valid > Cases / 5, $"only {valid} valid cases");
        Assert.True(invalid > Cases / 5, $"only {invalid} invalid cases");
    }

    private static (RpaProblem, RpaOptions, string) RandomCase(ref SplitMix64 rng)
    {
        int P = rng.NextInt(2) == 0 ? 4 : 8;
        int hkv = 1 + rng.NextInt(2), g = 1 + rng.NextInt(3);
        int d = rng.NextInt(2) == 0 ? 8 : 48;
        var dt = rng.NextInt(3) == 0 ? DType.F32 : DType.BF16;
        int n = 1 + rng.NextInt(4);
        var seqs = new (int Q, int Kv)[n];
        int nDecode = rng.NextInt(n + 1);
        for (int s = 0; s < n; s++)
        {
            int kv = 1 + rng.NextInt(24);
            int q = s < nDecode ? 1 : rng.NextInt(kv + 1);
            seqs[s] = (q, kv);
        }
        var p = RpaTestData.Build(seqs, hkv * g, hkv, d, dt, dt, pageSize: P, seed: rng.NextInt(1 << 30), distribution: [nDecode, nDecode, n], numPages: 32);
        var o = new RpaOptions
        {
            SlidingWindow = rng.NextInt(4) == 0 ? 1 + rng.NextInt(10) : null,
            SoftCap = rng.NextInt(5) == 0 ? 5.0 : null,
            Causal = rng.NextInt(6) != 0,
            SmScale = 0.3,
            DecodeBlocks = new(1, 2 * P, 1, P),
            // Now and then the heuristic's own tuple, which may leave a ragged last compute chunk.
            MixedBlocks = rng.NextInt(4) == 0 ? null : new(4, 2 * P, 2, P),
        };
        string mutation = "none";
        if (rng.NextInt(2) == 0)
        {
            int s = rng.NextInt(n);
            var kv = (int[])p.KvLens.Clone();
            var pi = (int[])p.PageIndices.Clone();
            var cu = (int[])p.CuQLens.Clone();
            var dist = (int[])p.Distribution.Clone();
            switch (rng.NextInt(9))
            {
                case 0: kv[s] = -1 - rng.NextInt(5); mutation = "negative kv_len"; break;
                case 1: kv[s] = p.QLen(s) - 1; mutation = "q_len > kv_len"; break;
                case 2: kv[s] = p.PagesPerSeq * P + 1 + rng.NextInt(10); mutation = "kv_len beyond the page table"; break;
                case 3: pi[s * p.PagesPerSeq] = rng.NextInt(2) == 0 ? -1 : p.NumPages + rng.NextInt(100); mutation = "page index out of range"; break;
                case 4: cu[s + 1] = cu[s] - 1 - rng.NextInt(3); mutation = "cu_q_lens decreasing"; break;
                case 5: dist = [n, n - 1, n]; mutation = "distribution out of order"; break;
                case 6: dist = [0, 0, p.MaxNumSeqs + 1]; mutation = "num_seqs > max_num_seqs"; break;
                case 7: for (int i = s + 1; i < cu.Length; i++) cu[i] = p.MaxNumTokens + 1; kv[s] = 1_000_000; mutation = "tokens beyond T"; break;
                default: o = o with { MixedBlocks = new(4, 2 * P + 1, 2, P) }; mutation = "bkv not a page multiple"; break;
            }
            p = p with { KvLens = kv, PageIndices = pi, CuQLens = cu, Distribution = dist };
        }
        return (p, o, mutation);
    }
}
