using HpcRpa.Numerics;
using HpcRpa.Timeline;

namespace HpcRpa.Engines;

/// <summary>
/// The vector unit: every op works on whole (8·packing) x 128 vregs [S11]. Cost of an op over V vregs:
/// <code>
///   max(ceil(V · aluOps / VpuAlus), ceil(V · loads / VregLoadsPerCycle), ceil(V · stores / VregStoresPerCycle)) + VpuLatencyCycles
/// </code>
/// (throughput 1 per ALU per cycle, latency 2 [S7]; 3 vreg loads and 1 store per cycle [S7]). 16-bit data
/// packs 16 rows per vreg only on chips with native bf16 VPU arithmetic (v6 on); earlier chips widen to f32
/// (spec 2.8), so a bf16 op costs as many vregs as f32 there.
/// </summary>
public sealed class VpuEngine
{
    private readonly Timeline.Timeline _tl;

    internal VpuEngine(Timeline.Timeline tl)
    {
        _tl = tl;
        Track = tl.NewTrack("vpu", "vpu");
    }

    public EngineTrack Track { get; }

    /// <summary>Vregs covering a rows x cols block of <paramref name="dtype"/> as the VPU computes it.</summary>
    public long Vregs(long rows, long cols, DType dtype)
    {
        var chip = _tl.Chip;
        // 32-bit: 8 rows per vreg. 16-bit: 16 rows where the VPU computes bf16 natively, else widened to f32.
        // 8-bit: widened for arithmetic, to 16 bits on native-bf16 chips and to 32 bits before.
        int packing = dtype.Bits() == 32 || !chip.NativeBf16Vpu ? 1 : 2;
        long sub = (long)chip.Sublanes * packing;
        return CeilDiv(rows, sub) * CeilDiv(cols, chip.Lanes);
    }

    public long Cycles(long vregs, int aluOps, int loads, int stores)
    {
        var c = _tl.Chip;
        long alu = CeilDiv(vregs * aluOps, c.VpuAlus);
        long ld = CeilDiv(vregs * loads, c.VregLoadsPerCycle);
        long st = CeilDiv(vregs * stores, c.VregStoresPerCycle);
        return Math.Max(alu, Math.Max(ld, st)) + c.VpuLatencyCycles;
    }

    public long Run(long issue, long ready, long vregs, int aluOps, int loads, int stores, string label)
    {
        long start = Math.Max(issue, ready);
        return Track.Occupy(start, Cycles(vregs, aluOps, loads, stores), label);
    }

    /// <summary>An op over a rows x cols block of <paramref name="dtype"/>, priced once (<see cref="Cycles"/> of its vregs).</summary>
    public PricedOp Price(string label, long rows, long cols, DType dtype, int aluOps, int loads, int stores) =>
        new(Track, Cycles(Vregs(rows, cols, dtype), aluOps, loads, stores), label);

    private static long CeilDiv(long a, long b) => (a + b - 1) / b;
}
