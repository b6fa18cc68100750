using HpcRpa.Engines;
using HpcRpa.Memory;
using HpcRpa.Numerics;

namespace HpcRpa.Pallas;

/// <summary>
/// Shape-level charges for kernels whose values are computed by their own fused code (the RPA flash step):
/// the kernel names the op, its shape and the buffers it reads and writes; the engine prices it. Kernels
/// still never compute a cycle themselves.
/// </summary>
public sealed partial class KernelContext
{
    private static long Ready(Allocation? a, Allocation? b = null) => Math.Max(a?.ReadyAt ?? 0, b?.ReadyAt ?? 0);

    private static long Done(Allocation output, long end)
    {
        output.ReadyAt = Math.Max(output.ReadyAt, end);
        return end;
    }

    /// <summary>A VPU op over a rows x cols block: aluOps ALU ops, loads and stores per vreg.</summary>
    public long ChargeVpu(string label, long rows, long cols, DType dtype, int aluOps, int loads, int stores, Allocation? input, Allocation output, Allocation? input2 = null)
    {
        var tl = Timeline;
        return Done(output, tl.Vpu.Run(tl.Scalar.Issue(), Ready(input, input2), tl.Vpu.Vregs(rows, cols, dtype), aluOps, loads, stores, label));
    }

    /// <summary>A transcendental (exp, tanh, reciprocal) over a rows x cols block on the EUP.</summary>
    public long ChargeEup(string label, long rows, long cols, DType dtype, Allocation? input, Allocation output)
    {
        var tl = Timeline;
        return Done(output, tl.Eup.Run(tl.Scalar.Issue(), Ready(input), tl.Vpu.Vregs(rows, cols, dtype), label));
    }

    /// <summary>A lane (last-axis) reduction of a rows x cols block on the XLU.</summary>
    public long ChargeLaneReduce(string label, long rows, long cols, DType dtype, Allocation? input, Allocation output)
    {
        var tl = Timeline;
        return Done(output, tl.Xlu.Reduce(tl.Scalar.Issue(), Ready(input), tl.Vpu.Vregs(rows, cols, dtype), label));
    }

    /// <summary>An m x n x k matmul on the MXUs reading a and b, writing c.</summary>
    public long ChargeMatmul(string label, int m, int n, int k, MxuInput input, Allocation a, Allocation b, Allocation c)
    {
        var tl = Timeline;
        return Done(c, tl.Mxu.Matmul(tl.Scalar.Issue(), Ready(a, b), m, n, k, input, label));
    }
}
