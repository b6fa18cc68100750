using HpcRpa.Hardware;
using HpcRpa.Kernels.RaggedPagedAttention;
using HpcRpa.Numerics;

namespace HpcRpa.Tests.Kernels;

/// <summary>
/// get_default_block_sizes against the worked examples of rpa.md 2.8 (the expected tuples are the spec's,
/// re-derived by hand from its formulas, never from the code) and the GetDefaultBlockSizes row of 5.1.
/// </summary>
public class RpaDefaultBlockSizesTests
{
    [Fact]
    public void UnitTestInputsOnV7()
    {
        // bf16/bf16, Hq 8, Hkv 1, D 128, P 16, T 512, PPS 1024: pk 2, NKX2p 2, peak = 16 MiB·2/4/128/2 = 32768,
        // max_kv 16384 -> decode (1,16384,1,16384); Gp 8, max_q 512 -> bq min(256,256), bkv min(2048,8192),
        // bq_c min(128,256), bkv_c min(512, 8192) -> (256,2048,128,512).
        RpaBlockSizes D(RpaCase c) => RpaBlockSizes.Default(c, ChipPresets.Tpu7x, DType.BF16, DType.BF16, 8, 1, 128, 16, 512, 1024);
        Assert.Equal(new RpaBlockSizes(1, 16384, 1, 16384), D(RpaCase.Decode));
        Assert.Equal(new RpaBlockSizes(256, 2048, 128, 512), D(RpaCase.Prefill));
        Assert.Equal(new RpaBlockSizes(256, 2048, 128, 512), D(RpaCase.Mixed));
        // The 5.1 row: decode bkv == bkv_c and bq == bq_c == 1; every KV size a multiple of P = 16.
        foreach (var c in Enum.GetValues<RpaCase>())
        {
            var b = D(c);
            Assert.Equal(0, b.Bkv % 16);
            Assert.Equal(0, b.BkvCompute % 16);
        }
    }

    [Fact]
    public void Llama3_8bOnV6()
    {
        // Hq 32, Hkv 8, D 128, bf16, P 16, max_model_len 2048 (PPS 128), T 512: NKX2p 16, peak 4096, max_kv 2048
        // -> decode (1,2048,1,2048); Gp 4 -> bq min(256,256), bkv min(1024,2048), bq_c min(128,512),
        // bkv_c min(512, 1024) -> (256,1024,128,512).
        RpaBlockSizes D(RpaCase c) => RpaBlockSizes.Default(c, ChipPresets.V6e, DType.BF16, DType.BF16, 32, 8, 128, 16, 512, 128);
        Assert.Equal(new RpaBlockSizes(1, 2048, 1, 2048), D(RpaCase.Decode));
        Assert.Equal(new RpaBlockSizes(256, 1024, 128, 512), D(RpaCase.Prefill));
        Assert.Equal(new RpaBlockSizes(256, 1024, 128, 512), D(RpaCase.Mixed));
    }
}
