using HpcRpa.Numerics;
using HpcRpa.Timeline;

namespace HpcRpa.Engines;

/// <summary>What the MXU is fed: sets the passes and the rate (spec 1.1 notes, 2.8).</summary>
public enum MxuInput : byte
{
    Bf16,
    F32,
    Fp8,
    Int8,
}

/// <summary>
/// The MXUs of one core: R x C weight-stationary systolic arrays (SCALE-Sim's WS dataflow). For
/// C[m x n] = A[m x k] · B[k x n] with B stationary:
/// <code>
///   folds      = ceil(k / R) · ceil(n / C),  T = m streamed rows
///   first fold of a pipeline  = 2R + C + T' − 2      (weights load, T' rows stream, outputs drain)
///   each further fold          = max(T', R)            (the next weights load while this fold streams)
///   T' = ceil(T · passes / rate)   (f32 = F32MatmulPasses bf16 passes; fp8/int8 at their rate multiplier)
/// </code>
/// A pipeline is a run of folds with no idle gap on that MXU: a matmul that finds its MXU still busy
/// (queued back to back) continues the pipeline and pays no new bubble; one that finds it idle pays it
/// (spec 1.2, 3.3: one start-up bubble per pipeline). Folds are dealt round-robin over the core's MXUs.
/// Which operand is stationary is the compiler's choice; the model takes the orientation with fewer
/// cycles (assumption: Mosaic keeps the smaller operand in the array, e.g. q in decode attention).
/// </summary>
public sealed class MxuArray
{
    private readonly Timeline.Timeline _tl;
    private readonly EngineTrack[] _units;
    private int _next;

    internal MxuArray(Timeline.Timeline tl)
    {
        _tl = tl;
        _units = new EngineTrack[tl.Chip.MxusPerCore];
        for (int i = 0; i < _units.Length; i++) _units[i] = tl.NewTrack($"mxu{i}", "mxu");
    }

    public IReadOnlyList<EngineTrack> Units => _units;

    internal void Reset() => _next = 0;
    public int Rows => _tl.Chip.MxuRows;
    public int Cols => _tl.Chip.MxuCols;

    /// <summary>SCALE-Sim weight-stationary fold: 2R + C + T − 2.</summary>
    public static long FoldCycles(int rows, int cols, long streamed) => 2L * rows + cols + streamed - 2;

    /// <summary>A fold that follows another in the same pipeline: streaming overlaps the next weight load.</summary>
    public static long PipelinedFoldCycles(int rows, long streamed) => Math.Max(streamed, rows);

    public static long Folds(long k, long n, int rows, int cols) => CeilDiv(k, rows) * CeilDiv(n, cols);

    public long StreamedRows(long t, MxuInput input)
    {
        var c = _tl.Chip;
        return input switch
        {
            MxuInput.F32 => t * c.F32MatmulPasses,
            MxuInput.Fp8 => (long)Math.Ceiling(t / c.Fp8RateMultiplier),
            MxuInput.Int8 => (long)Math.Ceiling(t / c.Int8RateMultiplier),
            _ => t,
        };
    }

    public static MxuInput InputOf(DType a, DType b)
    {
        if (a == DType.F32 || b == DType.F32) return MxuInput.F32;
        if (a is DType.Fp8E4M3 or DType.Fp8E5M2 && b is DType.Fp8E4M3 or DType.Fp8E5M2) return MxuInput.Fp8;
        if (a == DType.Int8 && b == DType.Int8) return MxuInput.Int8;
        return MxuInput.Bf16; // bf16, and fp8 mixed with bf16 (widened to bf16, spec 2.8)
    }

    /// <summary>Charges C[m×n] (+)= A[m×k]·B[k×n]; returns the cycle the result is complete.</summary>
    public long Matmul(long issue, long ready, int m, int n, int k, MxuInput input, string label) =>
        Run(issue, ready, Plan(m, n, k, input), label);

    /// <summary>
    /// The part of a matmul's price its shape fixes: orientation, folds, streamed rows and the two fold costs.
    /// Whether a unit continues a pipeline is only known when the matmul runs (<see cref="Run"/>).
    /// </summary>
    public MxuPlan Plan(int m, int n, int k, MxuInput input)
    {
        if (m <= 0 || n <= 0 || k <= 0) return default;
        int r = Rows, c = Cols;
        // Orientation: B stationary (T = m) or A stationary (T = n); the cheaper one in steady state.
        long foldsB = Folds(k, n, r, c), tB = StreamedRows(m, input);
        long foldsA = Folds(k, m, r, c), tA = StreamedRows(n, input);
        long costB = FoldCycles(r, c, tB) + (foldsB - 1) * PipelinedFoldCycles(r, tB);
        long costA = FoldCycles(r, c, tA) + (foldsA - 1) * PipelinedFoldCycles(r, tA);
        bool aStationary = costA < costB;
        long folds = aStationary ? foldsA : foldsB;
        long t = aStationary ? tA : tB;
        return new MxuPlan(folds, 2.0 * m * n * k, FoldCycles(r, c, t), PipelinedFoldCycles(r, t));
    }

    /// <summary>Runs a planned matmul: its folds dealt round-robin over the units, each unit's pipeline continued or started.</summary>
    public long Run(long issue, long ready, in MxuPlan plan, string label)
    {
        long folds = plan.Folds;
        if (folds == 0) return Math.Max(issue, ready);
        double flops = plan.Flops;
        _tl.Flops += flops;

        long start0 = Math.Max(issue, ready);
        long end = start0;
        int units = _units.Length;
        int first = _next;
        int used = (int)Math.Min(folds, units);
        long perUnit = folds / units, extra = folds % units;
        for (int j = 0; j < used; j++)
        {
            int at = first + j;
            var u = _units[at >= units ? at - units : at];
            long myFolds = perUnit + (j < extra ? 1 : 0);
            long free = u.FreeAt;
            long start = Math.Max(start0, free);
            bool continues = u.HasRun && start == free;
            long cycles = (continues ? plan.NextFold : plan.FirstFold) + (myFolds - 1) * plan.NextFold;
            end = Math.Max(end, u.Occupy(start, cycles, label, 0, flops * myFolds / folds));
        }
        _next = (first + used) % units;
        return end;
    }

    private static long CeilDiv(long a, long b) => (a + b - 1) / b;
}

/// <summary>A matmul priced for its shape (<see cref="MxuArray.Plan"/>); the default is the empty matmul, which charges nothing.</summary>
public readonly struct MxuPlan
{
    internal MxuPlan(long folds, double flops, long firstFold, long nextFold)
    {
        Folds = folds;
        Flops = flops;
        FirstFold = firstFold;
        NextFold = nextFold;
    }

    public long Folds { get; }
    public double Flops { get; }
    /// <summary>A fold that starts a pipeline on an idle unit (2R + C + T' − 2).</summary>
    public long FirstFold { get; }
    /// <summary>A fold that follows another in the same pipeline (max(T', R)).</summary>
    public long NextFold { get; }
}
