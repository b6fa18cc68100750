using HpcRpa.Dispatch;
using HpcRpa.Hardware;
using HpcRpa.Kernels.RaggedPagedAttention;
using HpcRpa.Memory;
using HpcRpa.Numerics;

namespace HpcRpa.Tests.Kernels;

/// <summary>
/// The KV-share rows of the official v3 matrix (rpa.md 5.1): a layer that reuses another layer's cache
/// runs with update_kv_cache=False, so its new K/V must not matter. One sequence, (Hq, Hkv) = (8, 1),
/// D 128, bf16, sm_scale 1/sqrt(128), mixed blocks (64,256,32,128), P 16, 8 pages, S 8, T 128; two runs
/// whose k/v come from seeds 11 and 99 must give identical, finite, non-zero outputs and leave the cache
/// as it was. HpcRpa computes the prefill range without chunk_prefill_size (caveat C1), so the two prefill
/// rows exercise the kernel here, unlike upstream; the output is also checked against the reference.
/// </summary>
public class RpaKvShareTests
{
    [Theory]
    [InlineData(16, 16, new[] { 0, 1, 1 })] // kv_share prefill
    [InlineData(8, 24, new[] { 0, 1, 1 })]  // kv_share chunked prefill
    [InlineData(1, 33, new[] { 1, 1, 1 })]  // kv_share decode: runs the DECODE call
    public void NewKeysAndValuesDoNotMatterWithoutTheCacheUpdate(int qLen, int kvLen, int[] distribution)
    {
        var baseProblem = RpaTestData.Build([(qLen, kvLen)], 8, 1, 128, DType.BF16, DType.BF16, pageSize: 16, distribution: distribution, numPages: 8, minTokens: 128);
        Assert.Equal(128, baseProblem.MaxNumTokens);
        Assert.Equal(8, baseProblem.MaxNumSeqs);
        var o = new RpaOptions { UpdateKvCache = false, SmScale = 1 / Math.Sqrt(128), MixedBlocks = new(64, 256, 32, 128) };

        byte[]? first = null;
        foreach (int seed in new[] { 11, 99 })
        {
            var p = baseProblem with { Keys = RandomBf16(baseProblem.Keys.Length / 2, seed), Values = RandomBf16(baseProblem.Values.Length / 2, seed + 1), KvCache = (byte[])baseProblem.KvCache.Clone() };
            var r = RpaRunner.Run(ChipPresets.Tpu7x, p, o);
            Assert.Equal(baseProblem.KvCache, p.KvCache); // unchanged, NaN padding included
            Assert.Contains(r.Cases, c => c.SeqEnd > c.SeqStart && c.Case == (distribution[0] == 1 ? RpaCase.Decode : RpaCase.Prefill));

            var output = r.Output!;
            int rowElems = qLen * 8 * 128;
            for (int i = 0; i < rowElems; i++)
            {
                float v = ElementCodec.Load(DType.BF16, output, i);
                Assert.True(float.IsFinite(v), $"output[{i}] = {v}");
            }
            Assert.Contains(Enumerable.Range(0, rowElems), i => ElementCodec.Load(DType.BF16, output, i) != 0f);
            var check = ReferenceCheck.Rpa(p with { KvCache = baseProblem.KvCache }, o, output, p.KvCache);
            Assert.True(check.Pass, $"seed {seed}: max abs err {check.MaxAbsErr:E3} above {check.Tolerance:E0}");

            if (first is null) first = output;
            else Assert.Equal(first.AsSpan(0, rowElems * 2).ToArray(), output.AsSpan(0, rowElems * 2).ToArray());
        }
    }

    private static byte[] RandomBf16(int count, int seed)
    {
        var rng = new SplitMix64((ulong)seed);
        var f = new float[count];
        for (int i = 0; i < count; i++) f[i] = rng.NextFloat();
        var bytes = new byte[count * 2];
        ElementCodec.Encode(DType.BF16, f, bytes);
        return bytes;
    }
}
