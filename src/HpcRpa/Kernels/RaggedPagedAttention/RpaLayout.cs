using HpcRpa.Numerics;

namespace HpcRpa.Kernels.RaggedPagedAttention;

/// <summary>
/// The RPA v3 memory layouts (rpa.md 2.3). KV cache: [pages, P, NKX2/pk, pk, D128] with combined head
/// c = 2h (K of head h) and 2h+1 (V), stored as 32-bit words [page, slot, row = c/pk, lane] holding the pk
/// elements of one (row, lane), element j = c % pk at bits [j·w, (j+1)·w). Queries in kernel layout:
/// [Hkv, T, GP, D128] (query head n = h·G + g), padded with zeros; the output has the same layout.
/// </summary>
public readonly record struct RpaLayout
{
    public RpaLayout(int numQHeads, int numKvHeads, int headDim, DType q, DType kv)
    {
        Hq = numQHeads;
        Hkv = numKvHeads;
        D = headDim;
        QDType = q;
        KvDType = kv;
        G = numQHeads / numKvHeads;
        Pk = kv.Packing();
        Qpk = q.Packing();
        Nkx2 = Align(2 * numKvHeads, Pk);
        Rows = Nkx2 / Pk;
        D128 = Align(headDim, 128);
        Gp = Align(G, Qpk);
        // Bank-conflict rule: an even word stride gets one extra row in VMEM (spec 2.6).
        Stride = Rows % 2 == 0 ? Rows + 1 : Rows;
    }

    public int Hq { get; }
    public int Hkv { get; }
    public int D { get; }
    public DType QDType { get; }
    public DType KvDType { get; }
    public int G { get; }
    public int Pk { get; }
    public int Qpk { get; }
    public int Nkx2 { get; }
    /// <summary>32-bit word rows per token (NKX2 / pk).</summary>
    public int Rows { get; }
    public int D128 { get; }
    public int Gp { get; }
    /// <summary>Word rows per token in the VMEM KV buffer (Rows, +1 when even).</summary>
    public int Stride { get; }

    public long TokenBytes => (long)Rows * D128 * 4;
    public long CacheBytes(int numPages, int pageSize) => (long)numPages * pageSize * TokenBytes;
    public long QueryBytes(int tokens) => (long)tokens * Hq * D * QDType.Bytes();
    public long NewKvBytes(int tokens) => (long)tokens * Hkv * D * KvDType.Bytes();

    /// <summary>Byte offset of element (page, slot, combined head c, lane d) in the cache.</summary>
    public long CacheByteOffset(int page, int slot, int pageSize, int c, int d) =>
        ((((long)page * pageSize + slot) * Rows + c / Pk) * D128 + d) * 4 + (c % Pk) * KvDType.Bytes();

    public static int Align(int x, int a) => (x + a - 1) / a * a;
    public static int CeilDiv(int a, int b) => (a + b - 1) / b;
}
