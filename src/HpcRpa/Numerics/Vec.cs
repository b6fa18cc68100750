using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

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
    /// <summary>x where x is NaN, else y.</summary>
    static abstract TSelf KeepNaN(TSelf x, TSelf y);
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
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static S1 KeepNaN(S1 x, S1 y) => float.IsNaN(x.V) ? x : y;
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
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V128 Pow2(V128 n) => new() { V = ((Vector128.ConvertToInt32(n.V) + Vector128.Create(127)) << 23).AsSingle() };
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V128 KeepNaN(V128 x, V128 y) => new() { V = Vector128.ConditionalSelect(Vector128.Equals(x.V, x.V), y.V, x.V) };
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
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256 Pow2(V256 n) => new() { V = ((Vector256.ConvertToInt32(n.V) + Vector256.Create(127)) << 23).AsSingle() };
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256 KeepNaN(V256 x, V256 y) => new() { V = Vector256.ConditionalSelect(Vector256.Equals(x.V, x.V), y.V, x.V) };
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
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V512 Pow2(V512 n) => new() { V = ((Vector512.ConvertToInt32(n.V) + Vector512.Create(127)) << 23).AsSingle() };
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V512 KeepNaN(V512 x, V512 y) => new() { V = Vector512.ConditionalSelect(Vector512.Equals(x.V, x.V), y.V, x.V) };
}
