using HpcRpa.Numerics;

namespace HpcRpa.Memory;

/// <summary>Moves the values of one view into another of the same shape (what a DMA does to the bytes).</summary>
public static unsafe class RefCopy
{
    public static void Check(Ref src, Ref dst)
    {
        if (src.DType.Bytes() != dst.DType.Bytes())
            throw new ArgumentException($"copy '{src.Name}' -> '{dst.Name}': element sizes differ ({src.DType.Name()} vs {dst.DType.Name()})");
        if (!src.Shape.SequenceEqual(dst.Shape))
            throw new ArgumentException($"copy '{src.Name}' {src.ShapeString} -> '{dst.Name}' {dst.ShapeString}: shapes differ");
    }

    public static void Copy(Ref src, Ref dst)
    {
        if (src.ElementCount == 0) return;
        int esz = src.DType.Bytes();
        // Fold the trailing dims that are contiguous in both views into one run.
        int rank = src.Rank;
        int inner = rank;
        long run = 1;
        while (inner > 0)
        {
            int d = inner - 1;
            if (src.Shape[d] != 1 && (src.Strides[d] != run || dst.Strides[d] != run)) break;
            run *= src.Shape[d];
            inner--;
        }
        byte* s = src.BasePointer, t = dst.BasePointer;
        long runBytes = run * esz;
        if (inner == 0)
        {
            Buffer.MemoryCopy(s, t, runBytes, runBytes);
            return;
        }
        if (run == 1 && inner == rank)
        {
            // Innermost dim strided: element by element.
            CopyStrided(src, dst, s, t, esz, rank);
            return;
        }
        Span<int> idx = stackalloc int[inner];
        idx.Clear();
        while (true)
        {
            long so = 0, to = 0;
            for (int i = 0; i < inner; i++) { so += idx[i] * src.Strides[i]; to += idx[i] * dst.Strides[i]; }
            Buffer.MemoryCopy(s + so * esz, t + to * esz, runBytes, runBytes);
            int k = inner - 1;
            while (k >= 0 && ++idx[k] == src.Shape[k]) { idx[k] = 0; k--; }
            if (k < 0) break;
        }
    }

    private static void CopyStrided(Ref src, Ref dst, byte* s, byte* t, int esz, int rank)
    {
        Span<int> idx = stackalloc int[rank];
        idx.Clear();
        while (true)
        {
            long so = 0, to = 0;
            for (int i = 0; i < rank; i++) { so += idx[i] * src.Strides[i]; to += idx[i] * dst.Strides[i]; }
            Buffer.MemoryCopy(s + so * esz, t + to * esz, esz, esz);
            int k = rank - 1;
            while (k >= 0 && ++idx[k] == src.Shape[k]) { idx[k] = 0; k--; }
            if (k < 0) break;
        }
    }
}
