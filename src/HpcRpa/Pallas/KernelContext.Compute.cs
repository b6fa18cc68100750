using HpcRpa.Engines;
using HpcRpa.Memory;
using HpcRpa.Numerics;

namespace HpcRpa.Pallas;

/// <summary>
/// Compute ops on VMEM refs. Each charges its engine (start = max(issue, engine free, inputs ready)) and,
/// in functional mode, computes through Numerics. The output's allocation becomes ready when the op ends,
/// which is how later ops wait for it.
/// </summary>
public sealed partial class KernelContext
{
    /// <summary>
    /// c = a·b (or a·bᵀ) with f32 results, like jnp.dot(..., preferred_element_type=f32) on the MXU; with
    /// <paramref name="accumulate"/> the result is added into c on the VPU (acc_ref[...] += dot).
    /// a: [m, k]; b: [k, n] or, transposed, [n, k]; c: [m, n] f32. Leading dims fold into rows.
    /// </summary>
    public void Matmul(Ref a, Ref b, Ref c, bool transposeB = false, bool accumulate = false, string label = "matmul")
    {
        var am = Shape2(a); var bm = Shape2(b); var cm = Shape2(c);
        int m = am.Rows, k = am.Cols;
        int n = transposeB ? bm.Rows : bm.Cols;
        int kb = transposeB ? bm.Cols : bm.Rows;
        if (kb != k || cm.Rows != m || cm.Cols != n || c.DType != DType.F32)
            throw new ArgumentException($"{label}: shapes a {a.ShapeString}, b {b.ShapeString}{(transposeB ? "ᵀ" : "")}, c {c.ShapeString} ({c.DType.Name()}) do not form an f32 matmul");

        var tl = Timeline;
        long issue = tl.Scalar.Issue();
        long ready = Math.Max(a.Root.ReadyAt, b.Root.ReadyAt);
        long end = tl.Mxu.Matmul(issue, ready, m, n, k, MxuArray.InputOf(a.DType, b.DType), label);
        if (accumulate)
        {
            long vregs = tl.Vpu.Vregs(m, n, DType.F32);
            end = tl.Vpu.Run(tl.Scalar.Issue(), Math.Max(end, c.Root.ReadyAt), vregs, 1, 2, 1, label + " acc");
        }
        c.Root.ReadyAt = Math.Max(c.Root.ReadyAt, end);

        if (Functional) MatmulValues(a, b, c, m, n, k, transposeB, accumulate);
    }

    private static void MatmulValues(Ref a, Ref b, Ref c, int m, int n, int k, bool transposeB, bool accumulate)
    {
        var cv = c.Matrix<float>();
        if (a.DType == DType.F32 && b.DType == DType.F32)
        {
            var av = a.Matrix<float>(); var bv = b.Matrix<float>();
            Gemm.MatMulF32(av.Data, av.Ld, bv.Data, bv.Ld, cv.Data, cv.Ld, m, n, k, transposeB, accumulate);
        }
        else if (a.DType == DType.BF16 && b.DType == DType.BF16)
        {
            var av = a.Matrix<ushort>(); var bv = b.Matrix<ushort>();
            Gemm.MatMulBf16(av.Data, av.Ld, bv.Data, bv.Ld, cv.Data, cv.Ld, m, n, k, transposeB, accumulate);
        }
        else
        {
            // Mixed inputs (fp8 x bf16, f32 x bf16, ...): widen both exactly to f32, same canonical order.
            var af = Widen(a); var bf = Widen(b);
            Gemm.MatMulF32(af, k, bf, transposeB ? k : n, cv.Data, cv.Ld, m, n, k, transposeB, accumulate);
        }
    }

    private static float[] Widen(Ref r)
    {
        var (rows, cols) = Shape2(r);
        var dst = new float[rows * cols];
        for (int i = 0; i < rows; i++)
            ElementRows.Decode(r, i, dst.AsSpan(i * cols, cols));
        return dst;
    }

    /// <summary>dst[...] = value (a VPU splat and store).</summary>
    public void Fill(Ref dst, float value, string label = "fill")
    {
        var tl = Timeline;
        var (rows, cols) = Shape2(dst);
        long end = tl.Vpu.Run(tl.Scalar.Issue(), dst.Root.ReadyAt, tl.Vpu.Vregs(rows, cols, dst.DType), 0, 0, 1, label);
        dst.Root.ReadyAt = end;
        if (!Functional) return;
        for (int i = 0; i < rows; i++) ElementRows.Fill(dst, i, value);
    }

    /// <summary>dst = src cast to dst's dtype (round to nearest even).</summary>
    public void Cast(Ref src, Ref dst, string label = "cast")
    {
        var (rows, cols) = Shape2(src);
        var (dr, dc) = Shape2(dst);
        if (rows != dr || cols != dc) throw new ArgumentException($"{label}: shapes {src.ShapeString} and {dst.ShapeString} differ");
        var tl = Timeline;
        long vregs = Math.Max(tl.Vpu.Vregs(rows, cols, src.DType), tl.Vpu.Vregs(rows, cols, dst.DType));
        long end = tl.Vpu.Run(tl.Scalar.Issue(), src.Root.ReadyAt, vregs, 1, 1, 1, label);
        dst.Root.ReadyAt = end;
        if (!Functional) return;
        Span<float> row = cols <= 4096 ? stackalloc float[cols] : new float[cols];
        for (int i = 0; i < rows; i++)
        {
            ElementRows.Decode(src, i, row);
            ElementRows.Encode(dst, i, row);
        }
    }

    internal static (int Rows, int Cols) Shape2(Ref r)
    {
        if (r.Rank == 0) return (1, 1);
        int cols = r.Dim(-1);
        long rows = r.ElementCount / Math.Max(cols, 1);
        return (checked((int)rows), cols);
    }
}

public sealed partial class KernelContext
{
    /// <summary>dst[...] = src[...] through vregs (a VMEM-to-VMEM move: one load and one store per vreg).</summary>
    public void Copy(Ref src, Ref dst, string label = "copy")
    {
        RefCopy.Check(src, dst);
        var tl = Timeline;
        var (rows, cols) = Shape2(src);
        long end = tl.Vpu.Run(tl.Scalar.Issue(), src.Root.ReadyAt, tl.Vpu.Vregs(rows, cols, src.DType), 0, 1, 1, label);
        dst.Root.ReadyAt = Math.Max(dst.Root.ReadyAt, end);
        if (Functional) RefCopy.Copy(src, dst);
    }
}
