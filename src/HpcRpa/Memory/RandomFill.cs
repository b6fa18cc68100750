using HpcRpa.Numerics;

namespace HpcRpa.Memory;

/// <summary>Seeded, platform-independent random contents for emulator buffers (SplitMix64).</summary>
public static class RandomFill
{
    public static void Uniform(Ref r, int seed, float lo, float hi)
    {
        var (rows, cols) = Pallas.KernelContext.Shape2(r);
        var rng = new SplitMix64((ulong)seed);
        var row = new float[cols];
        for (int i = 0; i < rows; i++)
        {
            for (int j = 0; j < cols; j++) row[j] = lo + (hi - lo) * rng.NextFloat();
            ElementRows.Encode(r, i, row);
        }
    }

    public static void Bytes(Ref r, int seed)
    {
        var rng = new SplitMix64((ulong)seed);
        var s = r.Span<byte>();
        for (int i = 0; i < s.Length; i += 8)
        {
            ulong v = rng.Next();
            for (int b = 0; b < 8 && i + b < s.Length; b++) s[i + b] = (byte)(v >> (8 * b));
        }
    }
}

/// <summary>SplitMix64: tiny, fast, and the same sequence on every platform and .NET version.</summary>
public struct SplitMix64(ulong seed)
{
    private ulong _state = seed;

    public ulong Next()
    {
        ulong z = _state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>Uniform in [0, 1) with 24 random bits.</summary>
    public float NextFloat() => (Next() >> 40) * (1.0f / (1 << 24));

    /// <summary>Uniform in [0, 1) with 53 random bits.</summary>
    public double NextDouble() => (Next() >> 11) * (1.0 / (1UL << 53));

    /// <summary>Uniform integer in [0, n).</summary>
    public int NextInt(int n) => (int)((Next() >> 33) % (ulong)n);
}
