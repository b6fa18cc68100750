using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using HpcRpa.Numerics;

namespace HpcRpa.Memory;

/// <summary>
/// Copy elision for the values of a VMEM block made of rows (the RPA KV buffer: one row per token). A functional
/// DMA whose destination is a run of whole-row prefixes and whose source is the same number of contiguous rows
/// in HBM does not move bytes: it binds each destination row to its source row. Readers that know rows ask for a
/// row's address (<see cref="Addresses"/>); every other reader, and every write that could change what a bound
/// row would have held, first has the bytes moved for real (materialised). So what any reader sees is exactly
/// what an eager copy at DMA start would have given, while a block that is fetched, read once and refetched —
/// the steady state of a streaming kernel — is never copied at all. Timing is not involved: the DMA engine
/// charges the copy either way.
/// </summary>
public sealed unsafe class RowBindings
{
    /// <summary>A run of rows bound by one copy: row Row0 + i reads Src + i·SrcStride, Len bytes.</summary>
    private struct Segment
    {
        public nint Src, SrcStride;
        public int Row0, Count, Len;
        public long Stamp; // which bind made it: a row it covers is still its own while the row carries this stamp
    }

    private readonly nint[] _addresses;   // pinned: kernels read it through a pointer
    private readonly int[] _boundLength;  // 0 = the row's bytes are the allocation's own
    private readonly long[] _rowStamp;    // the stamp of the segment that last bound each row
    private long _stamp;
    private Segment[] _segments = new Segment[16];
    private int _segmentCount;
    private nint _sourceLo = nint.MaxValue, _sourceHi = nint.MinValue;
    private int _boundRows;

    internal RowBindings(Allocation owner, int rows, long rowBytes)
    {
        Owner = owner;
        Rows = rows;
        RowBytes = rowBytes;
        _addresses = GC.AllocateArray<nint>(rows, pinned: true);
        _boundLength = new int[rows];
        _rowStamp = new long[rows];
        ResetAddresses();
    }

    public Allocation Owner { get; }
    public int Rows { get; }
    public long RowBytes { get; }
    public bool AnyBound => _boundRows > 0;

    /// <summary>The current address of every row's bytes (bound source or own memory), as a pointer kernels can index.</summary>
    public nint* Addresses => (nint*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_addresses));

    private byte* Own => Owner.Buffer!.Data;

    private void ResetAddresses()
    {
        if (Owner.Buffer is null) return;
        for (int r = 0; r < Rows; r++) _addresses[r] = (nint)(Own + r * RowBytes);
    }

    /// <summary>
    /// Binds dst's rows to src's when the copy has the bindable shape: dst is rows [r0, r0+n) of this block, each
    /// a prefix of L bytes, and src is n runs of L contiguous bytes at a fixed stride in HBM. False: copy for real.
    /// </summary>
    internal bool TryBind(Ref src, Ref dst)
    {
        if (src.Space != MemorySpace.Hbm || dst.Root != Owner || dst.Rank < 1 || src.Rank != dst.Rank) return false;
        int esz = dst.DType.Bytes();
        long rowElems = RowBytes / esz;
        if (dst.Offset % rowElems != 0 || (dst.Shape[0] > 1 && dst.Strides[0] != rowElems)) return false;
        long inner = InnerContiguous(dst);
        if (inner < 0 || InnerContiguous(src) != inner || inner * esz > RowBytes) return false;
        int n = dst.Shape[0];
        if (n == 0 || inner == 0) return true; // nothing to move
        int r0 = checked((int)(dst.Offset / rowElems));
        nint srcBase = (nint)src.BasePointer;
        nint stride = n > 1 ? (nint)(src.Strides[0] * esz) : 0;
        int len = checked((int)(inner * esz));
        long stamp = ++_stamp;
        for (int i = 0; i < n; i++)
        {
            int r = r0 + i;
            if (_boundLength[r] > len) Materialize(r); // the old binding's tail past this copy stays visible, as in VMEM
            if (_boundLength[r] == 0) _boundRows++;
            _addresses[r] = srcBase + i * stride;
            _boundLength[r] = len;
            _rowStamp[r] = stamp;
        }
        AddSegment(new Segment { Src = srcBase, SrcStride = stride, Row0 = r0, Count = n, Len = len, Stamp = stamp });
        return true;
    }

    /// <summary>Elements of one leading-dim slice when it is one contiguous run (all dims but the first); −1 otherwise.</summary>
    private static long InnerContiguous(Ref r)
    {
        long expect = 1;
        for (int i = r.Rank - 1; i >= 1; i--)
        {
            if (r.Shape[i] != 1 && r.Strides[i] != expect) return -1;
            expect *= r.Shape[i];
        }
        return expect;
    }

    private void AddSegment(Segment s)
    {
        // Runs whose rows later binds have all taken are superseded. They are dropped when the list is full, not on
        // every bind: a KV block binds one run per page, and scanning the whole list per page made a block's binds
        // quadratic in its pages. The list grows while live runs fill more than half of it, so each sweep is paid
        // for by at least as many binds as it scans.
        if (_segmentCount == _segments.Length)
        {
            DropSuperseded();
            if (_segmentCount * 2 > _segments.Length) Array.Resize(ref _segments, _segments.Length * 2);
        }
        _segments[_segmentCount++] = s;
        nint end = s.Src + (s.Count - 1) * s.SrcStride + s.Len;
        if (s.Src < _sourceLo) _sourceLo = s.Src;
        if (end > _sourceHi) _sourceHi = end;
    }

    private void DropSuperseded()
    {
        int w = 0;
        for (int i = 0; i < _segmentCount; i++)
            if (StillBinds(_segments[i])) _segments[w++] = _segments[i];
        _segmentCount = w;
    }

    /// <summary>Whether any row of the run is still bound by it (not rebound since, not materialised).</summary>
    private bool StillBinds(in Segment s)
    {
        for (int k = 0; k < s.Count; k++)
        {
            int r = s.Row0 + k;
            if (_boundLength[r] != 0 && _rowStamp[r] == s.Stamp) return true;
        }
        return false;
    }

    private void Materialize(int r)
    {
        int len = _boundLength[r];
        if (len == 0) return;
        byte* own = Own + r * RowBytes;
        Buffer.MemoryCopy((void*)_addresses[r], own, len, len);
        _addresses[r] = (nint)own;
        _boundLength[r] = 0;
        _boundRows--;
    }

    /// <summary>Moves every bound row's bytes into the block (before a reader that does not know rows).</summary>
    public void MaterializeAll()
    {
        if (_boundRows > 0)
            for (int r = 0; r < Rows; r++) Materialize(r);
        _segmentCount = 0;
        _sourceLo = nint.MaxValue;
        _sourceHi = nint.MinValue;
    }

    /// <summary>
    /// Forgets every binding without reading its source: for a block taken back by a new run, whose sources (the
    /// last call's pinned arrays) may be gone. Rows read the block's own bytes again.
    /// </summary>
    internal void Reset()
    {
        Array.Clear(_boundLength);
        ResetAddresses();
        _boundRows = 0;
        _segmentCount = 0;
        _sourceLo = nint.MaxValue;
        _sourceHi = nint.MinValue;
    }

    /// <summary>Before bytes [lo, hi) are written: every row still bound to a source there gets its bytes now.</summary>
    internal void BeforeSourceWrite(nint lo, nint hi)
    {
        if (_boundRows == 0 || hi <= _sourceLo || lo >= _sourceHi) return;
        for (int i = 0; i < _segmentCount; i++)
        {
            var s = _segments[i];
            nint segEnd = s.Src + (s.Count - 1) * s.SrcStride + s.Len;
            if (hi <= s.Src || lo >= segEnd) continue;
            for (int k = 0; k < s.Count; k++)
            {
                int r = s.Row0 + k;
                nint a = _addresses[r];
                if (_boundLength[r] != 0 && a < hi && a + _boundLength[r] > lo) Materialize(r);
            }
        }
    }

    /// <summary>
    /// Copies rows out of this block (a DMA whose source is rows [r0, r0+n), each a prefix of its row) reading bound
    /// rows at their sources; false when the view is not such a run of rows.
    /// </summary>
    internal bool TryCopyOut(Ref src, Ref dst)
    {
        if (src.Root != Owner || src.Rank < 1) return false;
        int esz = src.DType.Bytes();
        long rowElems = RowBytes / esz;
        long inner = InnerContiguous(src);
        if (src.Offset % rowElems != 0 || (src.Shape[0] > 1 && src.Strides[0] != rowElems) || inner < 0 || InnerContiguous(dst) != inner) return false;
        int n = src.Shape[0];
        if (n == 0 || inner == 0) return true;
        int r0 = checked((int)(src.Offset / rowElems));
        long bytes = inner * esz;
        byte* d = dst.BasePointer;
        long dstStride = n > 1 ? dst.Strides[0] * esz : 0;
        for (int i = 0; i < n; i++)
        {
            int r = r0 + i;
            if (_boundLength[r] != 0 && _boundLength[r] < bytes) Materialize(r); // a longer read than the binding covers
            Buffer.MemoryCopy((void*)_addresses[r], d + i * dstStride, bytes, bytes);
        }
        return true;
    }
}
