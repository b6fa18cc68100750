using HpcRpa.Numerics;

namespace HpcRpa.Memory;

/// <summary>Row-wise decode/encode of a ref's values to and from f32 (rows = all leading dims folded).</summary>
public static unsafe class ElementRows
{
    private static byte* RowPointer(Ref r, int row, out int cols)
    {
        cols = r.Rank == 0 ? 1 : r.Dim(-1);
        if (r.Rank > 0 && r.Strides[^1] != 1) throw new InvalidOperationException($"'{r.Name}': last dim must be contiguous");
        // Walk the leading dims of this row index.
        long off = 0;
        int rem = row;
        for (int d = r.Rank - 2; d >= 0; d--)
        {
            int idx = rem % r.Shape[d];
            rem /= r.Shape[d];
            off += idx * r.Strides[d];
        }
        if (rem != 0) throw new IndexOutOfRangeException($"'{r.Name}': row {row} outside {r.ShapeString}");
        return r.BasePointer + off * r.DType.Bytes();
    }

    public static void Decode(Ref r, int row, Span<float> dst)
    {
        var p = RowPointer(r, row, out int cols);
        if (dst.Length != cols) throw new ArgumentException("row length mismatch");
        ElementCodec.Decode(r.DType, new ReadOnlySpan<byte>(p, cols * r.DType.Bytes()), dst);
    }

    public static void Encode(Ref r, int row, ReadOnlySpan<float> src)
    {
        var p = RowPointer(r, row, out int cols);
        if (src.Length != cols) throw new ArgumentException("row length mismatch");
        ElementCodec.Encode(r.DType, src, new Span<byte>(p, cols * r.DType.Bytes()));
    }

    public static void Fill(Ref r, int row, float value)
    {
        var p = RowPointer(r, row, out int cols);
        if (r.DType == DType.F32) { new Span<float>(p, cols).Fill(value); return; }
        Span<byte> one = stackalloc byte[4];
        ElementCodec.Encode(r.DType, [value], one[..r.DType.Bytes()]);
        int b = r.DType.Bytes();
        var dst = new Span<byte>(p, cols * b);
        for (int i = 0; i < cols; i++) one[..b].CopyTo(dst.Slice(i * b, b));
    }
}
