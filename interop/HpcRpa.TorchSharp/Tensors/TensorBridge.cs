using HpcRpa.Errors;
using HpcRpa.Memory;
using HpcRpa.Numerics;
using HpcRpa.TorchSharp.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace HpcRpa.TorchSharp.Tensors;

/// <summary>
/// Torch tensors in and out of HpcRpa. Contiguous CPU tensors are shared, not copied: <see cref="Share"/> and
/// <see cref="WrapHbm"/> alias the tensor's storage (writes through either side are seen by the other), and
/// <see cref="ShareArray"/> gives torch a view of an HpcRpa-owned f32 array. Non-contiguous tensors are made
/// contiguous first (that is a copy, and the result no longer aliases the original). Shapes and dtypes are
/// checked with <see cref="ValidationException"/>s that name the tensor.
/// </summary>
public static class TensorBridge
{
    public static DType DTypeOf(Tensor t, string name = "tensor")
    {
        TorchRuntime.EnsureLoaded();
        return t.dtype switch
        {
            ScalarType.Float32 => DType.F32,
            ScalarType.BFloat16 => DType.BF16,
            ScalarType.Float16 => DType.F16,
            ScalarType.Int8 => DType.Int8,
            ScalarType.Int32 => DType.Int32,
            _ => throw new ValidationException(name + ".dtype", null, t.dtype.ToString(), "must be float32, bfloat16, float16, int8 or int32"),
        };
    }

    public static ScalarType ScalarTypeOf(DType t)
    {
        TorchRuntime.EnsureLoaded();
        return t switch
        {
            DType.F32 => ScalarType.Float32,
            DType.BF16 => ScalarType.BFloat16,
            DType.F16 => ScalarType.Float16,
            DType.Int8 => ScalarType.Int8,
            DType.Int32 => ScalarType.Int32,
            _ => throw new ArgumentException($"torch has no {t.Name()} here", nameof(t)),
        };
    }

    /// <summary>Checks device, dtype and shape; returns the tensor itself when contiguous, else a contiguous copy.</summary>
    public static Tensor Prepare(Tensor t, string name, DType? dtype = null, params long[] shape)
    {
        TorchRuntime.EnsureLoaded();
        if (t.device_type != DeviceType.CPU) throw new ValidationException(name + ".device", null, t.device_type.ToString(), "must be a CPU tensor");
        var dt = DTypeOf(t, name);
        if (dtype is DType want && dt != want) throw new ValidationException(name + ".dtype", null, dt.Name(), $"must be {want.Name()}");
        if (shape.Length > 0 && !t.shape.SequenceEqual(shape))
            throw new ValidationException(name + ".shape", null, "[" + string.Join(", ", t.shape) + "]", "must be [" + string.Join(", ", shape) + "]");
        return t.is_contiguous() ? t : t.contiguous();
    }

    /// <summary>The storage of a contiguous CPU tensor as an HpcRpa buffer (zero-copy; the tensor must outlive it).</summary>
    public static NativeBuffer Share(Tensor t, string name = "tensor")
    {
        TorchRuntime.EnsureLoaded();
        if (!t.is_contiguous()) throw new ValidationException(name, null, "non-contiguous", "sharing needs a contiguous tensor; call Prepare first (it copies)");
        if (t.device_type != DeviceType.CPU) throw new ValidationException(name + ".device", null, t.device_type.ToString(), "must be a CPU tensor");
        long bytes = t.NumberOfElements * t.ElementSize;
        return NativeBuffer.Wrap(DataPointer(t), bytes);
    }

    // TorchSharp 0.107 exposes raw storage only for some element types (storage<T>() rejects bfloat16, and
    // storage<byte>() of a float tensor is a converted copy); its own THSTensor_data binding returns the data
    // pointer (storage offset included) for every dtype. It is internal, so it is bound once by reflection.
    private static readonly Func<IntPtr, IntPtr> TensorData = BindTensorData();

    private static Func<IntPtr, IntPtr> BindTensorData()
    {
        var native = typeof(torch).Assembly.GetType("TorchSharp.PInvoke.NativeMethods")
            ?? throw new MissingMemberException("TorchSharp.PInvoke.NativeMethods not found: this TorchSharp version is not the one HpcRpa was built for (0.107)");
        var m = native.GetMethod("THSTensor_data", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Static)
            ?? throw new MissingMemberException("THSTensor_data not found in TorchSharp's native bindings");
        return m.CreateDelegate<Func<IntPtr, IntPtr>>();
    }

    /// <summary>Address of a CPU tensor's first element.</summary>
    public static nint DataPointer(Tensor t)
    {
        TorchRuntime.EnsureLoaded();
        return TensorData(t.Handle);
    }

    /// <summary>An HBM array aliasing the tensor (zero-copy).</summary>
    public static Ref WrapHbm(MemoryPool hbm, Tensor t, string name)
    {
        TorchRuntime.EnsureLoaded();
        var c = Prepare(t, name);
        if (!ReferenceEquals(c, t)) throw new ValidationException(name, null, "non-contiguous", "aliasing needs a contiguous tensor");
        return hbm.Wrap(name, DTypeOf(t, name), t.shape.Select(d => checked((int)d)).ToArray(), Share(t, name));
    }

    /// <summary>A copy of the tensor's elements as raw little-endian bytes (what RPA's byte-array API takes).</summary>
    public static byte[] ToBytes(Tensor t, string name, DType? dtype = null, params long[] shape) => Prepare(t, name, dtype, shape).bytes.ToArray(); // Prepare checks the library

    /// <summary>A new tensor holding a copy of raw bytes of <paramref name="dtype"/>.</summary>
    public static Tensor FromBytes(byte[] data, DType dtype, params long[] shape)
    {
        TorchRuntime.EnsureLoaded();
        var t = zeros(shape, dtype: ScalarTypeOf(dtype));
        if (data.LongLength != t.NumberOfElements * t.ElementSize)
            throw new ValidationException("data", null, $"length {data.LongLength}", $"must hold {t.NumberOfElements} {dtype.Name()} elements");
        t.bytes = data;
        return t;
    }

    /// <summary>A torch view of an f32 array HpcRpa owns (zero-copy: torch.from_array shares it).</summary>
    public static Tensor ShareArray(float[] data, params long[] shape)
    {
        TorchRuntime.EnsureLoaded();
        return from_array(data).reshape(shape);
    }
}
