namespace HpcRpa.Numerics;

/// <summary>A primitive written once over a vector width <c>TV</c> and a word decoder <c>TF</c>.</summary>
internal interface IWidthFormatOp
{
    void Invoke<TV, TF>() where TV : unmanaged, IVec<TV> where TF : struct, IWordDecoder;
}

/// <summary>Turns a (SIMD path, word format) pair chosen at run time into the one specialised instantiation.</summary>
internal static class WidthDispatch
{
    /// <summary>Runs <paramref name="op"/> for the element of <paramref name="format"/> at bit <paramref name="shift"/> of each word.</summary>
    public static void Run<TOp>(SimdPath path, WordFormat format, int shift, ref TOp op) where TOp : struct, IWidthFormatOp
    {
        switch (SimdPaths.Resolve(path))
        {
            case SimdPath.V512: WithFormat<V512, TOp>(format, shift, ref op); break;
            case SimdPath.V256: WithFormat<V256, TOp>(format, shift, ref op); break;
            case SimdPath.V128: WithFormat<V128, TOp>(format, shift, ref op); break;
            default: WithFormat<S1, TOp>(format, shift, ref op); break;
        }
    }

    private static void WithFormat<TV, TOp>(WordFormat format, int shift, ref TOp op) where TV : unmanaged, IVec<TV> where TOp : struct, IWidthFormatOp
    {
        switch (format, shift)
        {
            case (WordFormat.F32, 0): op.Invoke<TV, F32Words>(); break;
            case (WordFormat.Bf16, 0): op.Invoke<TV, Bf16Words<At0>>(); break;
            case (WordFormat.Bf16, 16): op.Invoke<TV, Bf16Words<At16>>(); break;
            case (WordFormat.Fp8E4M3, 0): op.Invoke<TV, E4M3Words<At0>>(); break;
            case (WordFormat.Fp8E4M3, 8): op.Invoke<TV, E4M3Words<At8>>(); break;
            case (WordFormat.Fp8E4M3, 16): op.Invoke<TV, E4M3Words<At16>>(); break;
            case (WordFormat.Fp8E4M3, 24): op.Invoke<TV, E4M3Words<At24>>(); break;
            case (WordFormat.Fp8E5M2, 0): op.Invoke<TV, E5M2Words<At0>>(); break;
            case (WordFormat.Fp8E5M2, 8): op.Invoke<TV, E5M2Words<At8>>(); break;
            case (WordFormat.Fp8E5M2, 16): op.Invoke<TV, E5M2Words<At16>>(); break;
            case (WordFormat.Fp8E5M2, 24): op.Invoke<TV, E5M2Words<At24>>(); break;
            default: throw new ArgumentOutOfRangeException(nameof(shift), shift, $"no {format} element starts at bit {shift} of a word");
        }
    }
}
