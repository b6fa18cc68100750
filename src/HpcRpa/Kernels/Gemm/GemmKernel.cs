using HpcRpa.Errors;
using HpcRpa.Memory;
using HpcRpa.Numerics;
using HpcRpa.Pallas;
using HpcRpa.Timeline;

namespace HpcRpa.Kernels.Gemm;

/// <summary>How the GEMM walks its grid.</summary>
public enum GemmSchedule
{
    /// <summary>The JAX Pallas matmul tutorial's kernel [S13]: grid (m/bm, n/bn, k/bk), x and y blocks re-fetched every step.</summary>
    Tutorial,
    /// <summary>
    /// Grid (n/bn, m/bm, k/bk) with y's whole (K x bn) column panel resident in VMEM while every row block
    /// passes: y is read from HBM once instead of m/bm times. Raises the arithmetic intensity per step from
    /// 2·bm·bn·bk / (2·(bm·bk + bk·bn)) to about bm·bn·bk / (bm·bk) FLOP/B, which chips with a high ridge point
    /// (v6e: ~560 FLOP/B) need to be compute-bound at 512x1024x1024 blocks.
    /// </summary>
    RhsPanel,
    /// <summary>
    /// Tutorial unless its per-step arithmetic intensity is below the chip's ridge point (so it would be
    /// memory-bound) and the panel schedule's buffers fit in VMEM; then RhsPanel.
    /// </summary>
    Auto,
}

/// <summary>Problem and block sizes of one GEMM run.</summary>
public sealed record GemmConfig(int M, int N, int K, int Bm = 512, int Bk = 1024, int Bn = 1024,
    DType InDType = DType.BF16, DType OutDType = DType.BF16, GemmSchedule Schedule = GemmSchedule.Tutorial)
{
    public void Validate()
    {
        void Pos(string f, int v) { if (v <= 0) throw new ValidationException(f, null, v.ToString(), "must be positive"); }
        Pos("m", M); Pos("n", N); Pos("k", K); Pos("bm", Bm); Pos("bk", Bk); Pos("bn", Bn);
        if (M % Bm != 0) throw new ValidationException("bm", null, Bm.ToString(), $"must divide m = {M}");
        if (N % Bn != 0) throw new ValidationException("bn", null, Bn.ToString(), $"must divide n = {N}");
        if (K % Bk != 0) throw new ValidationException("bk", null, Bk.ToString(), $"must divide k = {K}");
        if (InDType is not (DType.BF16 or DType.F32 or DType.Fp8E4M3 or DType.Fp8E5M2 or DType.Int8))
            throw new ValidationException("in_dtype", null, InDType.Name(), "must be bf16, f32, fp8 or int8");
    }

    public double Flops => 2.0 * M * N * K;

    /// <summary>FLOP per HBM byte of one tutorial grid step (x and y blocks fetched every step).</summary>
    public double TutorialStepIntensity => 2.0 * Bm * Bn * Bk / ((double)(Bm * (long)Bk + Bk * (long)Bn) * InDType.Bytes());

    /// <summary>VMEM the panel schedule needs: double-buffered x blocks, y panels and z blocks, plus the f32 accumulator.</summary>
    public long PanelVmemBytes => 2L * (Bm * (long)Bk + (long)K * Bn) * InDType.Bytes() + 2L * Bm * Bn * OutDType.Bytes() + 4L * Bm * Bn;

    /// <summary>The schedule Auto resolves to on <paramref name="chip"/>.</summary>
    public GemmSchedule Resolve(Hardware.ChipSpec chip) => Schedule switch
    {
        GemmSchedule.Auto => TutorialStepIntensity < chip.RidgeFlopsPerByte && PanelVmemBytes <= chip.VmemBytesPerCore
            ? GemmSchedule.RhsPanel : GemmSchedule.Tutorial,
        var s => s,
    };
}

/// <summary>
/// A tiled, double-buffered matmul written the way the Pallas tutorial writes it: grid over output blocks
/// and the reduction axis last, an f32 VMEM accumulator zeroed at k == 0, and the cast to the output dtype
/// on the last k step (the pipeline writes the block back when its index changes).
/// </summary>
public static class GemmKernel
{
    public static PallasCall Build(GemmConfig c, Hardware.ChipSpec chip)
    {
        c.Validate();
        var schedule = c.Resolve(chip);
        int gm = c.M / c.Bm, gn = c.N / c.Bn, gk = c.K / c.Bk;
        var scratch = new[] { new ScratchSpec("acc", DType.F32, c.Bm, c.Bn) };
        if (schedule == GemmSchedule.Tutorial)
        {
            return new PallasCall($"matmul-bm{c.Bm}-bk{c.Bk}-bn{c.Bn}", [gm, gn, gk],
                [
                    new BlockSpec([c.Bm, c.Bk], (ids, b) => { b[0] = ids[0]; b[1] = ids[2]; }, "x"),
                    new BlockSpec([c.Bk, c.Bn], (ids, b) => { b[0] = ids[2]; b[1] = ids[1]; }, "y"),
                ],
                [new BlockSpec([c.Bm, c.Bn], (ids, b) => { b[0] = ids[0]; b[1] = ids[1]; }, "z")],
                scratch,
                step => Body(step, step.In(1), step.ProgramId(2), gk));
        }
        return new PallasCall($"matmul-panel-bm{c.Bm}-bk{c.Bk}-bn{c.Bn}", [gn, gm, gk],
            [
                new BlockSpec([c.Bm, c.Bk], (ids, b) => { b[0] = ids[1]; b[1] = ids[2]; }, "x"),
                new BlockSpec([c.K, c.Bn], (ids, b) => { b[0] = 0; b[1] = ids[0]; }, "y_panel"),
            ],
            [new BlockSpec([c.Bm, c.Bn], (ids, b) => { b[0] = ids[1]; b[1] = ids[0]; }, "z")],
            scratch,
            step => Body(step, step.In(1).Slice(0, step.ProgramId(2) * c.Bk, c.Bk), step.ProgramId(2), gk));
    }

    private static void Body(GridStep step, Ref y, int k, int gk)
    {
        var pl = step.Pl;
        var acc = step.Scratch(0);
        if (k == 0) pl.Fill(acc, 0f, "acc = 0");
        pl.Matmul(step.In(0), y, acc, accumulate: true, label: "acc += x @ y");
        if (k == gk - 1) pl.Cast(acc, step.Out(0), "z = acc");
    }

    /// <summary>Runs C = A·B on the model. In functional mode A and B hold values (e.g. random), C receives the result.</summary>
    public static RunReport Run(KernelContext ctx, GemmConfig c, Ref a, Ref b, Ref z, bool includeHostDispatch = false)
    {
        var call = Build(c, ctx.Chip);
        if (includeHostDispatch) ctx.Timeline.AddHostDispatch();
        call.Run(ctx, [a, b], [z]);
        return ctx.Finish($"gemm {c.M}x{c.N}x{c.K} bm{c.Bm} bk{c.Bk} bn{c.Bn} {c.Resolve(ctx.Chip)}");
    }
}
