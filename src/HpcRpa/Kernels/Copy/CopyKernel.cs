using HpcRpa.Errors;
using HpcRpa.Memory;
using HpcRpa.Numerics;
using HpcRpa.Pallas;
using HpcRpa.Timeline;

namespace HpcRpa.Kernels.Copy;

/// <summary>How the copy moves bytes.</summary>
public enum CopyMethod
{
    /// <summary>A pipelined pallas_call: blocks stream HBM -> VMEM -> HBM, out_ref[...] = in_ref[...].</summary>
    Pipeline,
    /// <summary>One HBM-to-HBM DMA (memory_space=ANY, pltpu.sync_copy).</summary>
    Dma,
}

/// <summary>An HBM-to-HBM copy of a byte array, as a Pallas kernel.</summary>
public static class CopyKernel
{
    /// <summary>Lane width of the 2-D byte layout when the size allows it (one 4 KiB row).</summary>
    public const int RowBytes = 4096;

    /// <summary>The 2-D shape a byte count is laid out as: [rows, 4096] when it divides, else [1, bytes].</summary>
    public static int[] Layout(long bytes)
    {
        if (bytes <= 0) throw new ValidationException("bytes", null, bytes.ToString(), "must be positive");
        if (bytes % RowBytes == 0 && bytes / RowBytes <= int.MaxValue) return [checked((int)(bytes / RowBytes)), RowBytes];
        if (bytes > int.MaxValue) throw new ValidationException("bytes", null, bytes.ToString(), $"sizes above 2 GiB must be a multiple of {RowBytes}");
        return [1, (int)bytes];
    }

    public static RunReport Run(KernelContext ctx, Ref src, Ref dst, CopyMethod method = CopyMethod.Pipeline, long blockBytes = 4 << 20)
    {
        if (method == CopyMethod.Dma)
        {
            ctx.SyncCopy(src, dst, "hbm copy");
            return ctx.Finish($"copy {src.Bytes} B (dma)");
        }
        int rows = src.Dim(0), cols = src.Dim(1);
        int sub = DType.Int8.SublaneTile();
        int blockRows = rows;
        if (cols == RowBytes)
        {
            blockRows = (int)Math.Max(sub, blockBytes / RowBytes / sub * sub);
            if (blockRows >= rows) blockRows = rows;
        }
        int grid = (rows + blockRows - 1) / blockRows;
        var call = new PallasCall($"copy-block{blockRows}x{cols}", [grid],
            [new BlockSpec([blockRows, cols], (ids, b) => { b[0] = ids[0]; b[1] = 0; }, "x")],
            [new BlockSpec([blockRows, cols], (ids, b) => { b[0] = ids[0]; b[1] = 0; }, "y")],
            [],
            step => step.Pl.Copy(step.In(0), step.Out(0), "y = x"));
        call.Run(ctx, [src], [dst]);
        return ctx.Finish($"copy {src.Bytes} B (pipeline, {grid} blocks)");
    }
}
