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
    public long ChargeVpu(string label, long rows, long cols, DType dtype, int aluOps, int loads, int stores, Allocation? input, Allocation output, Allocation? input2 = null) =>
        Charge(PriceVpu(label, rows, cols, dtype, aluOps, loads, stores), input, output, input2);

    /// <summary>A transcendental (exp, tanh, reciprocal) over a rows x cols block on the EUP.</summary>
    public long ChargeEup(string label, long rows, long cols, DType dtype, Allocation? input, Allocation output) =>
        Charge(PriceEup(label, rows, cols, dtype), input, output);

    /// <summary>A lane (last-axis) reduction of a rows x cols block on the XLU.</summary>
    public long ChargeLaneReduce(string label, long rows, long cols, DType dtype, Allocation? input, Allocation output) =>
        Charge(PriceLaneReduce(label, rows, cols, dtype), input, output);

    /// <summary>An m x n x k matmul on the MXUs reading a and b, writing c.</summary>
    public long ChargeMatmul(string label, int m, int n, int k, MxuInput input, Allocation a, Allocation b, Allocation c) =>
        Charge(PriceMatmul(m, n, k, input), label, a, b, c);

    // A kernel that issues one shape many times prices it once (the engine's formula, evaluated for the shape) and
    // charges the priced op each time: the same cycles, the same events, none of the arithmetic per charge.

    public PricedOp PriceVpu(string label, long rows, long cols, DType dtype, int aluOps, int loads, int stores) =>
        Timeline.Vpu.Price(label, rows, cols, dtype, aluOps, loads, stores);

    public PricedOp PriceEup(string label, long rows, long cols, DType dtype) =>
        Timeline.Eup.Price(label, Timeline.Vpu.Vregs(rows, cols, dtype));

    public PricedOp PriceLaneReduce(string label, long rows, long cols, DType dtype) =>
        Timeline.Xlu.PriceReduce(label, Timeline.Vpu.Vregs(rows, cols, dtype));

    public MxuPlan PriceMatmul(int m, int n, int k, MxuInput input) => Timeline.Mxu.Plan(m, n, k, input);

    /// <summary>Issues a priced op: it starts when issued, its engine is free and its inputs are ready; its output is ready when it ends.</summary>
    public long Charge(in PricedOp op, Allocation? input, Allocation output, Allocation? input2 = null)
    {
        long issue = Timeline.Scalar.Issue();
        long ready = Ready(input, input2);
        return Done(output, op.Track.Occupy(issue > ready ? issue : ready, op.Cycles, op.Label));
    }

    /// <summary>Issues a planned matmul reading a and b, writing c.</summary>
    public long Charge(in MxuPlan plan, string label, Allocation a, Allocation b, Allocation c)
    {
        var tl = Timeline;
        return Done(c, tl.Mxu.Run(tl.Scalar.Issue(), Ready(a, b), plan, label));
    }
}
