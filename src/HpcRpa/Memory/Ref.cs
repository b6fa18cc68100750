using System.Runtime.CompilerServices;
using HpcRpa.Errors;
using HpcRpa.Numerics;

namespace HpcRpa.Memory;

/// <summary>
/// A typed, shaped view of an allocation (a Pallas Ref). Views index and slice without copying; strides are
/// in elements. Bounds are checked when a view is made, so code holding a Ref cannot address outside it.
/// </summary>
public sealed unsafe class Ref
{
    private readonly int[] _shape;
    private readonly long[] _strides;

    internal Ref(Allocation root, DType dtype, int[] shape, long[] strides, long offset)
    {
        Root = root;
        DType = dtype;
        _shape = shape;
        _strides = strides;
        Offset = offset;
        long n = 1;
        foreach (var d in shape) n *= d;
        ElementCount = n;
    }

    internal static Ref Whole(Allocation root, DType dtype, int[] shape) =>
        new(root, dtype, (int[])shape.Clone(), ContiguousStrides(shape), 0);

    public Allocation Root { get; }
    public DType DType { get; }
    public string Name => Root.Name;
    public MemorySpace Space => Root.Space;
    public ReadOnlySpan<int> Shape => _shape;
    public ReadOnlySpan<long> Strides => _strides;
    public int Rank => _shape.Length;
    public long Offset { get; private set; }
    public long ElementCount { get; private set; }
    public long Bytes => ElementCount * DType.Bytes();
    public int Dim(int i) => _shape[i < 0 ? _shape.Length + i : i];
    public bool HasValues => Root.Buffer is not null;

    public bool IsContiguous
    {
        get
        {
            long expect = 1;
            for (int i = _shape.Length - 1; i >= 0; i--)
            {
                if (_shape[i] != 1 && _strides[i] != expect) return false;
                expect *= _shape[i];
            }
            return true;
        }
    }

    public static long[] ContiguousStrides(ReadOnlySpan<int> shape)
    {
        var s = new long[shape.Length];
        long acc = 1;
        for (int i = shape.Length - 1; i >= 0; i--) { s[i] = acc; acc *= shape[i]; }
        return s;
    }

    /// <summary>Index the leading dimension: drops it.</summary>
    public Ref this[int i]
    {
        get
        {
            if (_shape.Length == 0) throw new InvalidOperationException($"'{Name}': cannot index a scalar ref");
            if ((uint)i >= (uint)_shape[0]) throw new IndexOutOfRangeException($"'{Name}': index {i} outside dim 0 of size {_shape[0]}");
            return new Ref(Root, DType, _shape[1..], _strides[1..], Offset + i * _strides[0]);
        }
    }

    public Ref At(params ReadOnlySpan<int> leading)
    {
        var r = this;
        foreach (var i in leading) r = r[i];
        return r;
    }

    /// <summary>Elements [start, start+length) of dimension <paramref name="dim"/> (pl.ds).</summary>
    public Ref Slice(int dim, int start, int length)
    {
        if ((uint)dim >= (uint)_shape.Length) throw new ArgumentOutOfRangeException(nameof(dim), $"'{Name}': dim {dim} outside rank {_shape.Length}");
        if (start < 0 || length < 0 || start + length > _shape[dim])
            throw new ArgumentOutOfRangeException(nameof(start), $"'{Name}': slice [{start}, {start + length}) outside dim {dim} of size {_shape[dim]}");
        var shape = (int[])_shape.Clone();
        shape[dim] = length;
        return new Ref(Root, DType, shape, (long[])_strides.Clone(), Offset + start * _strides[dim]);
    }

    /// <summary>
    /// Re-aims <paramref name="view"/> — a view of this one's allocation, dtype and rank, made for the purpose (see
    /// <see cref="ViewCursor"/>) — at <c>Slice(dim, start, length)</c> of this view, with the same bounds checks,
    /// without allocating. Whoever holds <paramref name="view"/> sees it change, so it must never be handed out.
    /// </summary>
    internal Ref SliceInto(Ref view, int dim, int start, int length)
    {
        if (view.Root != Root || view.DType != DType || view._shape.Length != _shape.Length)
            throw new InvalidOperationException($"'{Name}': a view of '{view.Name}' {view.ShapeString} cannot be re-aimed at a slice of {ShapeString}");
        if ((uint)dim >= (uint)_shape.Length) throw new ArgumentOutOfRangeException(nameof(dim), $"'{Name}': dim {dim} outside rank {_shape.Length}");
        if (start < 0 || length < 0 || start + length > _shape[dim])
            throw new ArgumentOutOfRangeException(nameof(start), $"'{Name}': slice [{start}, {start + length}) outside dim {dim} of size {_shape[dim]}");
        _shape.CopyTo(view._shape, 0);
        _strides.CopyTo(view._strides, 0);
        view._shape[dim] = length;
        view.Offset = Offset + start * _strides[dim];
        long n = 1;
        foreach (var d in view._shape) n *= d;
        view.ElementCount = n;
        return view;
    }

    /// <summary>Same elements, another shape; only for contiguous views.</summary>
    public Ref Reshape(params int[] shape)
    {
        long n = 1;
        foreach (var d in shape) n *= d;
        if (n != ElementCount) throw new ArgumentException($"'{Name}': cannot reshape {ElementCount} elements to [{string.Join(", ", shape)}]");
        if (!IsContiguous) throw new InvalidOperationException($"'{Name}': reshape needs a contiguous view");
        return new Ref(Root, DType, (int[])shape.Clone(), ContiguousStrides(shape), Offset);
    }

    /// <summary>Reinterpret the same bytes as another dtype (the last dim scales by the size ratio).</summary>
    public Ref Bitcast(DType to)
    {
        if (!IsContiguous) throw new InvalidOperationException($"'{Name}': bitcast needs a contiguous view");
        int fb = DType.Bytes(), tb = to.Bytes();
        var shape = (int[])_shape.Clone();
        long lastBytes = (long)shape[^1] * fb;
        if (lastBytes % tb != 0 || Offset * fb % tb != 0) throw new ArgumentException($"'{Name}': cannot bitcast {DType.Name()} to {to.Name()}");
        shape[^1] = (int)(lastBytes / tb);
        return new Ref(Root, to, shape, ContiguousStrides(shape), Offset * fb / tb);
    }

    public string ShapeString => "[" + string.Join(", ", _shape) + "]";

    /// <summary>The first element's address for a reader or writer that does not know row bindings: bound rows are materialised first.</summary>
    internal byte* BasePointer
    {
        get
        {
            if (Root.Rows is { AnyBound: true } rows) rows.MaterializeAll();
            return RawPointer;
        }
    }

    /// <summary>The first element's address in the allocation's own memory, bindings left as they are.</summary>
    internal byte* RawPointer
    {
        get
        {
            var buf = Root.Buffer ?? throw new NoValuesException(Name);
            return buf.Data + Offset * DType.Bytes();
        }
    }

    /// <summary>[first byte, one past the last byte) the view spans in its allocation's own memory.</summary>
    internal (nint Lo, nint Hi) ByteRange()
    {
        nint lo = (nint)RawPointer;
        if (ElementCount == 0) return (lo, lo);
        long last = 0;
        for (int i = 0; i < _shape.Length; i++) last += (long)(_shape[i] - 1) * _strides[i];
        return (lo, lo + (nint)((last + 1) * DType.Bytes()));
    }

    /// <summary>The values of a contiguous view (functional mode).</summary>
    public Span<T> Span<T>() where T : unmanaged
    {
        if (!IsContiguous) throw new InvalidOperationException($"'{Name}': Span needs a contiguous view; use Row() for strided 2-D views");
        if (ElementCount * DType.Bytes() % sizeof(T) != 0) throw new ArgumentException($"'{Name}': {DType.Name()} data is not a whole number of {typeof(T).Name}");
        return new Span<T>(BasePointer, checked((int)(ElementCount * DType.Bytes() / sizeof(T))));
    }

    /// <summary>2-D matrix view (rows = product of leading dims when the inner rows are contiguous): data, rows, cols, leading dimension.</summary>
    public MatrixView<T> Matrix<T>() where T : unmanaged
    {
        if (Rank < 1) throw new InvalidOperationException($"'{Name}': a scalar is not a matrix");
        if (_strides[^1] != 1) throw new InvalidOperationException($"'{Name}': last dim must be contiguous for a matrix view");
        int cols = _shape[^1];
        int rows = 1;
        long ld = cols;
        if (Rank >= 2)
        {
            ld = _strides[^2];
            rows = _shape[^2];
            // Leading dims must fold into rows with the same stride.
            for (int i = Rank - 3; i >= 0; i--)
            {
                if (_shape[i] != 1 && _strides[i] != _strides[i + 1] * _shape[i + 1])
                    throw new InvalidOperationException($"'{Name}': leading dims do not fold into rows");
                rows *= _shape[i];
            }
        }
        if (sizeof(T) != DType.Bytes()) throw new ArgumentException($"'{Name}': {typeof(T).Name} does not match {DType.Name()}");
        long span = rows == 0 ? 0 : (rows - 1) * ld + cols;
        return new MatrixView<T>((T*)BasePointer, rows, cols, checked((int)ld), checked((int)span));
    }
}

/// <summary>A row-major matrix over emulator memory: rows x cols with leading dimension Ld.</summary>
public readonly unsafe struct MatrixView<T> where T : unmanaged
{
    private readonly T* _p;
    public readonly int Rows, Cols, Ld, SpanLength;

    internal MatrixView(T* p, int rows, int cols, int ld, int spanLength)
    {
        _p = p; Rows = rows; Cols = cols; Ld = ld; SpanLength = spanLength;
    }

    public Span<T> Data => new(_p, SpanLength);
    public Span<T> Row(int r) => (uint)r < (uint)Rows ? new Span<T>(_p + (long)r * Ld, Cols) : throw new IndexOutOfRangeException();

    public ref T this[int r, int c]
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get
        {
            if ((uint)r >= (uint)Rows || (uint)c >= (uint)Cols) throw new IndexOutOfRangeException();
            return ref _p[(long)r * Ld + c];
        }
    }
}
