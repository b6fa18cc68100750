using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace HpcRpa.Numerics;

/// <summary>
/// The one operator shape every primitive is written against (as TensorPrimitives does with its operator
/// structs): a vector of <see cref="Count"/> floats. <see cref="S1"/> is the scalar path with Count = 1, so
/// scalar and vector paths share one body and one arithmetic order: that is what makes them bit-identical.
/// </summary>
internal interface IVec<TSelf> where TSelf : unmanaged, IVec<TSelf>
{
    static abstract int Count { get; }
    static abstract TSelf Load(ref float p);
    static abstract void Store(TSelf v, ref float p);
    static abstract TSelf Splat(float x);
    /// <summary>a·b + c, fused (one rounding).</summary>
    static abstract TSelf Fma(TSelf a, TSelf b, TSelf c);
    static abstract TSelf Add(TSelf a, TSelf b);
    static abstract TSelf Sub(TSelf a, TSelf b);
    static abstract TSelf Mul(TSelf a, TSelf b);
    /// <summary>IEEE 754-2019 maximum (NaN propagates, +0 above −0), like Math.Max.</summary>
    static abstract TSelf Max(TSelf a, TSelf b);
    static abstract TSelf Min(TSelf a, TSelf b);
    static abstract TSelf Floor(TSelf a);
    /// <summary>2^n for integer-valued n in [−126, 127], built from exponent bits.</summary>
    static abstract TSelf Pow2(TSelf n);
    /// <summary>
    /// y·2^n rounded once, for integer-valued n in [−150, 128] and y in [0.5, 2): by definition two exact-then-rounded
    /// steps, y·2^⌊n/2⌋ (exact: a normal number) times 2^(n−⌊n/2⌋); AVX-512's scalef computes the same single rounding.
    /// </summary>
    static abstract TSelf ScaleByPow2(TSelf y, TSelf n);
    /// <summary>min(max(x, lo), hi) for x not NaN (a NaN lane's result is unspecified: callers keep NaN themselves).</summary>
    static abstract TSelf Clamp(TSelf x, float lo, float hi);
    /// <summary>x where x is NaN, else y.</summary>
    static abstract TSelf KeepNaN(TSelf x, TSelf y);

    // Bit operations on the lanes' 32-bit patterns: what decoding packed words (bf16 halves, fp8 bytes) needs.

    /// <summary><see cref="Count"/> 32-bit words, their bits taken as floats.</summary>
    static abstract TSelf LoadBits(ref uint p);
    static abstract TSelf ShiftLeft(TSelf a, int bits);
    /// <summary>Logical (unsigned) right shift of each lane's bits.</summary>
    static abstract TSelf ShiftRight(TSelf a, int bits);
    static abstract TSelf And(TSelf a, uint mask);
    static abstract TSelf Or(TSelf a, TSelf b);
    /// <summary>Lanes whose bits equal <paramref name="bits"/> take <paramref name="then"/>, the rest <paramref name="otherwise"/>.</summary>
    static abstract TSelf SelectWhereBitsEqual(TSelf a, uint bits, TSelf then, TSelf otherwise);
    /// <summary>Lanes whose bits are at least <paramref name="bits"/> (unsigned) take <paramref name="then"/>, the rest <paramref name="otherwise"/>.</summary>
    static abstract TSelf SelectWhereBitsAtLeast(TSelf a, uint bits, TSelf then, TSelf otherwise);

    /// <summary>
    /// The lanes summed by halving: lane j + lane j+Count/2, then again, down to one — the tail of the canonical
    /// 16-partial order (<see cref="VectorMath"/>), so every width gives the same bits.
    /// </summary>
    static abstract float HalvingSum(TSelf a);

    /// <summary>The largest lane (IEEE maximum, as <see cref="MathF.Max(float, float)"/>: exact, so any order gives the same value).</summary>
    static abstract float MaxOfLanes(TSelf a);
}

internal struct S1 : IVec<S1>
{
    public float V;
    public static int Count => 1;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static S1 Load(ref float p) => new() { V = p };
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(S1 v, ref float p) => p = v.V;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static S1 Splat(float x) => new() { V = x };
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static S1 Fma(S1 a, S1 b, S1 c) => new() { V = MathF.FusedMultiplyAdd(a.V, b.V, c.V) };
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static S1 Add(S1 a, S1 b) => new() { V = a.V + b.V };
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static S1 Sub(S1 a, S1 b) => new() { V = a.V - b.V };
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static S1 Mul(S1 a, S1 b) => new() { V = a.V * b.V };
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static S1 Max(S1 a, S1 b) => new() { V = MathF.Max(a.V, b.V) };
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static S1 Min(S1 a, S1 b) => new() { V = MathF.Min(a.V, b.V) };
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static S1 Floor(S1 a) => new() { V = MathF.Floor(a.V) };
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static S1 Pow2(S1 n) => new() { V = BitConverter.Int32BitsToSingle(((int)n.V + 127) << 23) };
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static S1 ScaleByPow2(S1 y, S1 n) => Vec.ScaleInHalves(y, n);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static S1 Clamp(S1 x, float lo, float hi) => new() { V = MathF.Min(MathF.Max(x.V, lo), hi) };
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static S1 KeepNaN(S1 x, S1 y) => float.IsNaN(x.V) ? x : y;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static S1 LoadBits(ref uint p) => new() { V = BitConverter.UInt32BitsToSingle(p) };
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static S1 ShiftLeft(S1 a, int bits) => FromBits(Bits(a) << bits);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static S1 ShiftRight(S1 a, int bits) => FromBits(Bits(a) >> bits);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static S1 And(S1 a, uint mask) => FromBits(Bits(a) & mask);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static S1 Or(S1 a, S1 b) => FromBits(Bits(a) | Bits(b));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static S1 SelectWhereBitsEqual(S1 a, uint bits, S1 then, S1 otherwise) => Bits(a) == bits ? then : otherwise;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static S1 SelectWhereBitsAtLeast(S1 a, uint bits, S1 then, S1 otherwise) => Bits(a) >= bits ? then : otherwise;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float HalvingSum(S1 a) => a.V;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float MaxOfLanes(S1 a) => a.V;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] private static uint Bits(S1 a) => BitConverter.SingleToUInt32Bits(a.V);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] private static S1 FromBits(uint u) => new() { V = BitConverter.UInt32BitsToSingle(u) };
}

internal struct V128 : IVec<V128>
{
    public Vector128<float> V;
    public static int Count => Vector128<float>.Count;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V128 Load(ref float p) => new() { V = Vector128.LoadUnsafe(ref p) };
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(V128 v, ref float p) => v.V.StoreUnsafe(ref p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V128 Splat(float x) => new() { V = Vector128.Create(x) };
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V128 Fma(V128 a, V128 b, V128 c) => new() { V = Vector128.FusedMultiplyAdd(a.V, b.V, c.V) };
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V128 Add(V128 a, V128 b) => new() { V = a.V + b.V };
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V128 Sub(V128 a, V128 b) => new() { V = a.V - b.V };
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V128 Mul(V128 a, V128 b) => new() { V = a.V * b.V };
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V128 Max(V128 a, V128 b) => new() { V = Vector128.Max(a.V, b.V) };
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V128 Min(V128 a, V128 b) => new() { V = Vector128.Min(a.V, b.V) };
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V128 Floor(V128 a) => new() { V = Vector128.Floor(a.V) };
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V128 Pow2(V128 n) => new() { V = ((Vector128.ConvertToInt32Native(n.V) + Vector128.Create(127)) << 23).AsSingle() };
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V128 ScaleByPow2(V128 y, V128 n) => Avx512F.VL.IsSupported ? new() { V = Avx512F.VL.Scale(y.V, n.V) } : Vec.ScaleInHalves(y, n);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V128 Clamp(V128 x, float lo, float hi) => new() { V = Vector128.MinNative(Vector128.MaxNative(x.V, Vector128.Create(lo)), Vector128.Create(hi)) };
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V128 KeepNaN(V128 x, V128 y) => new() { V = Vector128.ConditionalSelect(Vector128.Equals(x.V, x.V), y.V, x.V) };
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V128 LoadBits(ref uint p) => new() { V = Vector128.LoadUnsafe(ref p).AsSingle() };
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V128 ShiftLeft(V128 a, int bits) => new() { V = (a.V.AsUInt32() << bits).AsSingle() };
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V128 ShiftRight(V128 a, int bits) => new() { V = (a.V.AsUInt32() >>> bits).AsSingle() };
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V128 And(V128 a, uint mask) => new() { V = (a.V.AsUInt32() & Vector128.Create(mask)).AsSingle() };
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V128 Or(V128 a, V128 b) => new() { V = (a.V.AsUInt32() | b.V.AsUInt32()).AsSingle() };
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V128 SelectWhereBitsEqual(V128 a, uint bits, V128 then, V128 otherwise) =>
        new() { V = Vector128.ConditionalSelect(Vector128.Equals(a.V.AsUInt32(), Vector128.Create(bits)).AsSingle(), then.V, otherwise.V) };
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V128 SelectWhereBitsAtLeast(V128 a, uint bits, V128 then, V128 otherwise) =>
        new() { V = Vector128.ConditionalSelect(Vector128.GreaterThanOrEqual(a.V.AsUInt32(), Vector128.Create(bits)).AsSingle(), then.V, otherwise.V) };
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float HalvingSum(V128 a)
    {
        // (l0 + l2, l1 + l3), then their sum: the last two halving steps.
        var h = a.V + Vector128.Shuffle(a.V, Vector128.Create(2, 3, 0, 1));
        return h.ToScalar() + h.GetElement(1);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float MaxOfLanes(V128 a)
    {
        var h = Vector128.Max(a.V, Vector128.Shuffle(a.V, Vector128.Create(2, 3, 0, 1)));
        return MathF.Max(h.ToScalar(), h.GetElement(1));
    }
}

internal struct V256 : IVec<V256>
{
    public Vector256<float> V;
    public static int Count => Vector256<float>.Count;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256 Load(ref float p) => new() { V = Vector256.LoadUnsafe(ref p) };
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(V256 v, ref float p) => v.V.StoreUnsafe(ref p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256 Splat(float x) => new() { V = Vector256.Create(x) };
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256 Fma(V256 a, V256 b, V256 c) => new() { V = Vector256.FusedMultiplyAdd(a.V, b.V, c.V) };
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256 Add(V256 a, V256 b) => new() { V = a.V + b.V };
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256 Sub(V256 a, V256 b) => new() { V = a.V - b.V };
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256 Mul(V256 a, V256 b) => new() { V = a.V * b.V };
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256 Max(V256 a, V256 b) => new() { V = Vector256.Max(a.V, b.V) };
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256 Min(V256 a, V256 b) => new() { V = Vector256.Min(a.V, b.V) };
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256 Floor(V256 a) => new() { V = Vector256.Floor(a.V) };
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256 Pow2(V256 n) => new() { V = ((Vector256.ConvertToInt32Native(n.V) + Vector256.Create(127)) << 23).AsSingle() };
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V256 ScaleByPow2(V256 y, V256 n) => Avx512F.VL.IsSupported ? new() { V = Avx512F.VL.Scale(y.V, n.V) } : Vec.ScaleInHalves(y, n);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V256 Clamp(V256 x, float lo, float hi) => new() { V = Vector256.MinNative(Vector256.MaxNative(x.V, Vector256.Create(lo)), Vector256.Create(hi)) };
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256 KeepNaN(V256 x, V256 y) => new() { V = Vector256.ConditionalSelect(Vector256.Equals(x.V, x.V), y.V, x.V) };
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256 LoadBits(ref uint p) => new() { V = Vector256.LoadUnsafe(ref p).AsSingle() };
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256 ShiftLeft(V256 a, int bits) => new() { V = (a.V.AsUInt32() << bits).AsSingle() };
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256 ShiftRight(V256 a, int bits) => new() { V = (a.V.AsUInt32() >>> bits).AsSingle() };
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256 And(V256 a, uint mask) => new() { V = (a.V.AsUInt32() & Vector256.Create(mask)).AsSingle() };
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256 Or(V256 a, V256 b) => new() { V = (a.V.AsUInt32() | b.V.AsUInt32()).AsSingle() };
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256 SelectWhereBitsEqual(V256 a, uint bits, V256 then, V256 otherwise) =>
        new() { V = Vector256.ConditionalSelect(Vector256.Equals(a.V.AsUInt32(), Vector256.Create(bits)).AsSingle(), then.V, otherwise.V) };
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256 SelectWhereBitsAtLeast(V256 a, uint bits, V256 then, V256 otherwise) =>
        new() { V = Vector256.ConditionalSelect(Vector256.GreaterThanOrEqual(a.V.AsUInt32(), Vector256.Create(bits)).AsSingle(), then.V, otherwise.V) };
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float HalvingSum(V256 a) => V128.HalvingSum(new() { V = a.V.GetLower() + a.V.GetUpper() });
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float MaxOfLanes(V256 a) => V128.MaxOfLanes(new() { V = Vector128.Max(a.V.GetLower(), a.V.GetUpper()) });
}

internal struct V512 : IVec<V512>
{
    public Vector512<float> V;
    public static int Count => Vector512<float>.Count;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V512 Load(ref float p) => new() { V = Vector512.LoadUnsafe(ref p) };
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(V512 v, ref float p) => v.V.StoreUnsafe(ref p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V512 Splat(float x) => new() { V = Vector512.Create(x) };
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V512 Fma(V512 a, V512 b, V512 c) => new() { V = Vector512.FusedMultiplyAdd(a.V, b.V, c.V) };
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V512 Add(V512 a, V512 b) => new() { V = a.V + b.V };
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V512 Sub(V512 a, V512 b) => new() { V = a.V - b.V };
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V512 Mul(V512 a, V512 b) => new() { V = a.V * b.V };
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V512 Max(V512 a, V512 b) => new() { V = Vector512.Max(a.V, b.V) };
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V512 Min(V512 a, V512 b) => new() { V = Vector512.Min(a.V, b.V) };
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V512 Floor(V512 a) => new() { V = Vector512.Floor(a.V) };
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V512 Pow2(V512 n) => new() { V = ((Vector512.ConvertToInt32Native(n.V) + Vector512.Create(127)) << 23).AsSingle() };
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V512 ScaleByPow2(V512 y, V512 n) => Avx512F.IsSupported ? new() { V = Avx512F.Scale(y.V, n.V) } : Vec.ScaleInHalves(y, n);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V512 Clamp(V512 x, float lo, float hi) => new() { V = Vector512.MinNative(Vector512.MaxNative(x.V, Vector512.Create(lo)), Vector512.Create(hi)) };
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V512 KeepNaN(V512 x, V512 y) => new() { V = Vector512.ConditionalSelect(Vector512.Equals(x.V, x.V), y.V, x.V) };
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V512 LoadBits(ref uint p) => new() { V = Vector512.LoadUnsafe(ref p).AsSingle() };
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V512 ShiftLeft(V512 a, int bits) => new() { V = (a.V.AsUInt32() << bits).AsSingle() };
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V512 ShiftRight(V512 a, int bits) => new() { V = (a.V.AsUInt32() >>> bits).AsSingle() };
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V512 And(V512 a, uint mask) => new() { V = (a.V.AsUInt32() & Vector512.Create(mask)).AsSingle() };
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V512 Or(V512 a, V512 b) => new() { V = (a.V.AsUInt32() | b.V.AsUInt32()).AsSingle() };
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V512 SelectWhereBitsEqual(V512 a, uint bits, V512 then, V512 otherwise) =>
        new() { V = Vector512.ConditionalSelect(Vector512.Equals(a.V.AsUInt32(), Vector512.Create(bits)).AsSingle(), then.V, otherwise.V) };
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V512 SelectWhereBitsAtLeast(V512 a, uint bits, V512 then, V512 otherwise) =>
        new() { V = Vector512.ConditionalSelect(Vector512.GreaterThanOrEqual(a.V.AsUInt32(), Vector512.Create(bits)).AsSingle(), then.V, otherwise.V) };
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float HalvingSum(V512 a) => V256.HalvingSum(new() { V = a.V.GetLower() + a.V.GetUpper() });
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float MaxOfLanes(V512 a) => V256.MaxOfLanes(new() { V = Vector256.Max(a.V.GetLower(), a.V.GetUpper()) });
}

internal static class Vec
{
    /// <summary>The definition of <see cref="IVec{TSelf}.ScaleByPow2"/>: y·2^⌊n/2⌋ (exact), then times 2^(n−⌊n/2⌋) (one rounding).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TV ScaleInHalves<TV>(TV y, TV n) where TV : unmanaged, IVec<TV>
    {
        TV n1 = TV.Floor(TV.Mul(n, TV.Splat(0.5f)));
        TV n2 = TV.Sub(n, n1);
        return TV.Mul(TV.Mul(y, TV.Pow2(n1)), TV.Pow2(n2));
    }
}
