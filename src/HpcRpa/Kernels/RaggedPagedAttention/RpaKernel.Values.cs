using System.Numerics.Tensors;
using HpcRpa.Memory;
using HpcRpa.Numerics;

namespace HpcRpa.Kernels.RaggedPagedAttention;

/// <summary>
/// The values of the flash-attention step (rpa.md 2.5), functional mode only: logits in f32, scale by
/// sm_scale·k_scale·q_scale, soft cap, mask (masked logits replaced by finfo(out_dtype).min), running max
/// and sum and the accumulator kept in out_dtype (= q dtype, HEAD since #1972), p in f32 for p·v, exact
/// division at the end. Rows past a block's tokens and padded group rows are not computed (the kernel
/// computes them on stale data and never writes them back).
/// <para>
/// K and V are read where the KV fetch left them: the rows of the VMEM slot, which the functional DMA binds to
/// their cache pages (<see cref="RowBindings"/>), so the host reads each page once, as the TPU does. A few query
/// rows per head (decode) take logits as dot products straight from the packed words, all KV heads of a tile of
/// tokens together; many rows (prefill) widen the chunk's K and V once into dense panels and run matrix products.
/// </para>
/// </summary>
internal sealed unsafe partial class RpaKernel
{
    /// <summary>Query rows per head up to which logits are dot products on the packed words; above, panels and matrix products.</summary>
    internal const int DotPathRows = 32;

    private float _scale, _maskValue, _cap, _vScale;
    private bool _hasCap, _roundBf16;
    private WordFormat _format;
    private int _dPad, _nPad, _ldPanel;
    private readonly RowBindings?[] _kvRows = new RowBindings?[2], _qRows = new RowBindings?[2];

    private void InitFunctional()
    {
        _scale = (float)(_o.SmScale * (_o.KScale ?? 1.0) * (_o.QScale ?? 1.0));
        _roundBf16 = _L.QDType == DType.BF16;
        _maskValue = _roundBf16 ? Bf16.ToFloat(0xFF7F) : float.MinValue; // finfo(out_dtype).min
        _hasCap = _o.SoftCap is not null;
        _cap = (float)(_o.SoftCap ?? 1.0);
        _vScale = (float)(_o.VScale ?? 1.0);
        _format = WordFormats.Of(_L.KvDType) ?? throw new InvalidOperationException($"KV dtype {_L.KvDType.Name()} has no packed-word format");
        _dPad = RpaLayout.Align(_L.D, 16);
        _nPad = RpaLayout.Align(_b.BkvCompute, 16);
        // Rows of the key panel and the logits one vector longer than the chunk: at a power-of-two stride (2 KiB for
        // 512 keys) a matrix product's walk down the rows would use a handful of L1 sets and miss on every row.
        _ldPanel = _nPad + 16;
        RegisterRows();
    }

    /// <summary>Bytes of one KV head's rows in a q slot ([bq, Gp, D128]): the unit a q fetch binds (one per KV head).</summary>
    private long QHeadBytes => (long)_b.Bq * _L.Gp * _L.D128 * _L.QDType.Bytes();

    private float Round(float x) => _roundBf16 ? Bf16.ToFloat(Bf16.FromFloat(x)) : x;

    private void ResetValues(QBlock q)
    {
        _acc.Span<float>().Clear();
        // The kernel keeps a row's running sum and max replicated over 128 lanes; the host reads lane 0 alone, so
        // only lane 0 of each row is reset (the other lanes are never read).
        float* l = (float*)_l.Root.Buffer!.Data, m = (float*)_m.Root.Buffer!.Data;
        long rows = _l.Root.Buffer.Length / (128 * 4);
        for (long r = 0; r < rows; r++)
        {
            l[r * 128] = 0f;
            m[r * 128] = float.NegativeInfinity;
        }
    }

    // ---------------------------------------------------------------- where K and V of a head sit in a token row

    /// <summary>Heads whose elements sit at the same bit offset of their words form a group: all heads, or (fp8, 4 per word) even and odd heads.</summary>
    private int HeadGroups => _L.Pk == 4 ? 2 : 1;

    private int GroupSize(int group) => (_L.Hkv - group + HeadGroups - 1) / HeadGroups;

    /// <summary>Combined head c (K of head h = 2h, V = 2h+1): byte offset of its word row in a token row, and its bit offset in the word.</summary>
    private (nint Offset, int Shift) Place(int c) => ((nint)(c / _L.Pk) * _L.D128 * 4, c % _L.Pk * _L.KvDType.Bits());

    /// <summary>Bytes from one head of a group to the next inside a token row.</summary>
    private nint GroupStride => _L.Hkv > HeadGroups ? Place(2 * HeadGroups).Offset - Place(0).Offset : 0;

    private WordRows Keys(nint* tokens, int h) { var (o, s) = Place(2 * h); return new WordRows(tokens, o, _format, s); }
    private WordRows Values(nint* tokens, int h) { var (o, s) = Place(2 * h + 1); return new WordRows(tokens, o, _format, s); }

    // ---------------------------------------------------------------- one compute chunk

    private void ComputeValues(Visit v, int kvSlot, int qSlot, int c, int qc, int abq, int abqc)
    {
        int s = v.Seq;
        var (_, sz) = QRows(new QBlock(s, v.B));
        int t0 = qc * abqc;
        int tN = Math.Min(abqc, sz - t0);
        if (tN <= 0) return;
        int effKv = EffectiveKvLen(s, v.B);
        int kvBase = v.Kb * _b.Bkv + c * _b.BkvCompute;
        // The chunk ends at the block's end too: a default tuple may leave a ragged last chunk (bkv 576, bkv_c 512).
        int blockEnd = (v.Kb + 1) * _b.Bkv;
        int n = Math.Min(_b.BkvCompute, Math.Min(effKv, blockEnd) - kvBase);
        if (n <= 0) return;
        nint* tokens = _kvRows[kvSlot]!.Addresses + c * _b.BkvCompute;
        int rows = tN * _L.G;
        var step = new Step(tN, t0, rows, n, kvBase, ProcessedQ(s, v.B) + t0);
        if (rows <= DotPathRows) DotStep(step, tokens, qSlot);
        else
            for (int h = 0; h < _L.Hkv; h++) TileStep(step, tokens, qSlot, h);
    }

    /// <summary>One chunk of one q sub-block: its tokens, rows per head, KV tokens and positions.</summary>
    private readonly record struct Step(int Tokens, int QOffset, int Rows, int N, int KvBase, int FirstQPos);

    /// <summary>
    /// Tokens of a chunk that a decode-like step reads at once: every head's logits and p·V for a tile while it sits
    /// in the host's L2 (about 256 KiB of token rows), so the host reads the chunk from memory once. The step is
    /// flash attention within the chunk: a running max over the tiles, p·V and the sum rescaled when it grows,
    /// then brought to the chunk's m_new — the same values as one exp(s − m_new) over the chunk, to f32 rounding.
    /// Measured on a 1 MiB-L2 host (Zen 5), calls alternated in one process, decode 64 × 2048: 256 KiB took 7–10 %
    /// less time than 512 KiB on two cores and 17 % less on one; 128, 192 and 320 KiB were slower than 256. Likely
    /// p·V's second read of the tile finds more of it still in L2 (which also holds the prefetchers' run-ahead, the
    /// logits and the q rows); the VM has no cache counters to confirm it.
    /// </summary>
    private const int DotTileBytes = 256 * 1024;

    private int DotTile => Math.Clamp((int)(DotTileBytes / _L.TokenBytes) / 16 * 16, 16, 256);

    /// <summary>Decode-like: every head's few rows against the chunk's packed words, tile by tile, all heads of a tile together.</summary>
    private void DotStep(in Step st, nint* tokens, int qSlot)
    {
        var scratch = RpaScratch.ForThisThread;
        int rows = st.Rows, n = st.N, hkv = _L.Hkv, groups = HeadGroups, all = hkv * rows;
        int tile = Math.Min(DotTile, n);
        nint qHead = (nint)rows * _dPad, sHead = (nint)rows * tile;
        float* qf = (float*)scratch.Get(RpaScratch.Q, hkv * qHead * 4);
        float* sf = (float*)scratch.Get(RpaScratch.Logits, hkv * sHead * 4);
        float* pv = (float*)scratch.Get(RpaScratch.Pv, hkv * qHead * 4);
        int* lo = (int*)scratch.Get(RpaScratch.Lo, all * 4);
        int* hi = (int*)scratch.Get(RpaScratch.Hi, all * 4);
        float* mt = (float*)scratch.Get(RpaScratch.MNew, all * 4);
        float* sum = (float*)scratch.Get(RpaScratch.Sum, all * 4);
        for (int h = 0; h < hkv; h++) WidenQ(qSlot, h, st, 0, rows, qf + h * qHead);
        new Span<float>(pv, (int)(hkv * qHead)).Clear();
        for (int i = 0; i < all; i++)
        {
            (lo[i], hi[i]) = Visible(st, i % rows);
            mt[i] = float.NegativeInfinity;
            sum[i] = 0f;
        }
        for (int u0 = 0; u0 < n; u0 += tile)
        {
            int un = Math.Min(tile, n - u0);
            for (int g = 0; g < groups; g++)
                AttentionDots.QkDots(qf + g * qHead, _dPad, groups * qHead, rows, GroupSize(g), GroupStride, _L.D, Keys(tokens + u0, g),
                    sf + g * sHead, tile, groups * sHead, un);
            int uLo = un, uHi = 0;
            for (int i = 0; i < all; i++)
            {
                float* srow = sf + (nint)i * tile;
                int vlo = Math.Clamp(lo[i] - u0, 0, un), vhi = Math.Clamp(hi[i] - u0, 0, un);
                if (vhi <= vlo) { new Span<float>(srow, un).Clear(); continue; }
                float tmax = ScaleCapMax(srow, vlo, vhi);
                if (tmax > mt[i])
                {
                    // The running max grew: what was summed against the old one shrinks by exp(old − new) (0 at the start).
                    float f = VectorMath.Exp(mt[i] - tmax);
                    TensorPrimitives.Multiply(new ReadOnlySpan<float>(pv + (nint)i * _dPad, _L.D), f, new Span<float>(pv + (nint)i * _dPad, _L.D));
                    sum[i] *= f;
                    mt[i] = tmax;
                }
                sum[i] += VectorMath.ExpSum(srow, un, vlo, vhi, mt[i]);
                uLo = Math.Min(uLo, vlo);
                uHi = Math.Max(uHi, vhi);
            }
            if (uHi > uLo)
                for (int g = 0; g < groups; g++)
                    AttentionDots.PvRows(sf + g * sHead, tile, groups * sHead, rows, GroupSize(g), GroupStride, Values(tokens + u0, g), uLo, uHi,
                        pv + g * qHead, _dPad, groups * qHead, _dPad, accumulate: true);
        }
        for (int h = 0; h < hkv; h++)
            for (int r = 0; r < rows; r++)
            {
                int i = h * rows + r;
                float* pvRow = pv + (nint)i * _dPad;
                float mOld = ((float*)_m.Root.Buffer!.Data)[StateIndex(st, h, r) * 128];
                if (float.IsNegativeInfinity(mt[i]))
                {
                    // No visible key in the chunk: every logit is the mask value.
                    float mAll = Math.Max(mOld, Round(_maskValue));
                    float outside = VectorMath.Exp(_maskValue - mAll);
                    if (outside == 0f) Accumulate(StateIndex(st, h, r), pvRow, mAll, 0f);
                    else MaskedChunk(st, tokens, h, r, pvRow, mAll, outside);
                    continue;
                }
                float mNew = Math.Max(mOld, Round(mt[i]));
                float f = VectorMath.Exp(mt[i] - mNew);
                if (f != 1f) TensorPrimitives.Multiply(new ReadOnlySpan<float>(pvRow, _L.D), f, new Span<float>(pvRow, _L.D));
                Accumulate(StateIndex(st, h, r), pvRow, mNew, sum[i] * f);
            }
    }

    /// <summary>logits[lo, hi) of one row scaled (unless <paramref name="scaled"/> already) and soft-capped in place; their max.</summary>
    private float ScaleCapMax(float* srow, int lo, int hi, bool scaled = false)
    {
        if (!_hasCap) return scaled ? VectorMath.Max(srow, lo, hi) : VectorMath.ScaleMax(srow, lo, hi, _scale);
        var visible = new Span<float>(srow + lo, hi - lo);
        if (!scaled) TensorPrimitives.Multiply(visible, _scale, visible);
        for (int j = 0; j < visible.Length; j++) visible[j] = _cap * MathF.Tanh(visible[j] / _cap);
        return TensorPrimitives.Max(visible);
    }

    /// <summary>
    /// A row that sees no key in this chunk and none before it (m_new = finfo.min): every masked logit weighs
    /// exp(min − min) = 1, as on the TPU, so p·V is the plain sum of the chunk's values (wiped by alpha = 0 later).
    /// </summary>
    private void MaskedChunk(in Step st, nint* tokens, int h, int r, float* pvRow, float mNew, float outside)
    {
        float* p = (float*)RpaScratch.ForThisThread.Get(RpaScratch.KPanel, (long)st.N * 4);
        new Span<float>(p, st.N).Fill(outside);
        float sum = VectorMath.ExpRow(p, st.N, 0, 0, 0f, outside);
        AttentionDots.PvRows(p, st.N, 0, 1, 1, 0, Values(tokens, h), 0, st.N, pvRow, _dPad, 0, _dPad);
        Accumulate(StateIndex(st, h, r), pvRow, mNew, sum);
    }

    /// <summary>
    /// Query rows a prefill-like step takes through logits, probabilities and p·V at once: their logits (about
    /// 256 KiB) stay in the host's L2 beside the K and V panels between the three passes over them. A multiple of
    /// four, the row blocks of the matrix products, so the tiling leaves every value as it was.
    /// </summary>
    private int RowTile => Math.Max(4, 256 * 1024 / (_nPad * 4) / 4 * 4);

    /// <summary>Prefill-like: one head's many rows; its K and V widened once into panels, then matrix products, a tile of rows at a time.</summary>
    private void TileStep(in Step st, nint* tokens, int qSlot, int h)
    {
        var scratch = RpaScratch.ForThisThread;
        int rows = st.Rows, n = st.N, d = _L.D, tile = Math.Min(RowTile, rows);
        float* qf = (float*)scratch.Get(RpaScratch.Q, (long)tile * _dPad * 4);
        float* sf = (float*)scratch.Get(RpaScratch.Logits, (long)tile * _ldPanel * 4);
        float* pv = (float*)scratch.Get(RpaScratch.Pv, (long)tile * _dPad * 4);
        float* kt = (float*)scratch.Get(RpaScratch.KPanel, (long)_dPad * _ldPanel * 4);
        float* vf = (float*)scratch.Get(RpaScratch.VPanel, (long)_nPad * _dPad * 4);
        int* lo = (int*)scratch.Get(RpaScratch.Lo, tile * 4);
        int* hi = (int*)scratch.Get(RpaScratch.Hi, tile * 4);
        int* state = (int*)scratch.Get(RpaScratch.State, tile * 4);
        float* mNew = (float*)scratch.Get(RpaScratch.MNew, tile * 4);
        float* sum = (float*)scratch.Get(RpaScratch.Sum, tile * 4);
        AttentionTile.PackTransposed(Keys(tokens, h), n, d, kt, _ldPanel);
        AttentionTile.PackRows(Values(tokens, h), n, d, _dPad, vf, _dPad);
        for (int r0 = 0; r0 < rows; r0 += tile)
        {
            int rn = Math.Min(tile, rows - r0);
            float* qRows = DirectQRows(qSlot, h, st, r0);
            int ldq = _L.D128;
            if (qRows == null)
            {
                WidenQ(qSlot, h, st, r0, rn, qf);
                qRows = qf;
                ldq = _dPad;
            }
            RowPlaces(st, h, r0, rn, lo, hi, state);
            // Logits come out of the product already scaled (the product's last rounding, then the scale's).
            AttentionTile.QkTile(qRows, ldq, rn, d, kt, _ldPanel, sf, _ldPanel, lo, hi, _scale);
            for (int i = 0; i < rn; i++) Probabilities(st, state[i], sf + (nint)i * _ldPanel, ref lo[i], ref hi[i], out mNew[i], out sum[i]);
            AttentionTile.PvTile(sf, _ldPanel, rn, vf, _dPad, _dPad, pv, _dPad, lo, hi);
            for (int i = 0; i < rn; i++) Accumulate(state[i], pv + (nint)i * _dPad, mNew[i], sum[i]);
        }
    }

    /// <summary>q rows [r0, r0 + count) (row t·G + g: token t, group member g) of head h as f32, zero past head_dim, into dst from its row 0.</summary>
    private void WidenQ(int qSlot, int h, in Step st, int r0, int count, float* dst)
    {
        int G = _L.G, Gp = _L.Gp, D = _L.D, D128 = _L.D128;
        int esz = _L.QDType.Bytes();
        byte* head = QHead(qSlot, h);
        for (int i = 0; i < count; i++)
        {
            int t = (r0 + i) / G, g = (r0 + i) % G;
            byte* src = head + ((long)(st.QOffset + t) * Gp + g) * D128 * esz;
            float* row = dst + (nint)i * _dPad;
            if (_L.QDType == DType.F32) new ReadOnlySpan<float>(src, D).CopyTo(new Span<float>(row, D));
            else Bf16.ToFloat(new ReadOnlySpan<ushort>(src, D), new Span<float>(row, D));
            new Span<float>(row + D, _dPad - D).Clear();
        }
    }

    /// <summary>Where head h's q rows of the slot are: where the q fetch bound them (the prepared q in HBM), or the slot itself.</summary>
    private byte* QHead(int qSlot, int h) => (byte*)_qRows[qSlot]!.Addresses[h];

    /// <summary>
    /// f32 q rows of a head that are already what the logits need (row t·G + g at a fixed stride: no group padding):
    /// the products read them where they are, at a stride of D128, instead of a widened copy.
    /// </summary>
    private float* DirectQRows(int qSlot, int h, in Step st, int r0) =>
        _L.QDType == DType.F32 && _L.G == _L.Gp ? (float*)QHead(qSlot, h) + ((long)st.QOffset * _L.Gp + r0) * _L.D128 : null;

    /// <summary>Keys a row may see form one range: kpos ≤ qpos (causal) and kpos &gt; qpos − W (window); chunk coordinates.</summary>
    private (int Lo, int Hi) Visible(in Step st, int r) => VisibleAt(st, st.FirstQPos + r / _L.G);

    /// <summary>
    /// Rows [r0, r0 + count) of head h: each one's visible keys and its state row, token and group member stepped
    /// along (one division per tile instead of two per row and use).
    /// </summary>
    private void RowPlaces(in Step st, int h, int r0, int count, int* lo, int* hi, int* state)
    {
        int G = _L.G, Gp = _L.Gp, t = r0 / G, g = r0 % G, head = h * _b.Bq * Gp;
        for (int i = 0; i < count; i++)
        {
            (lo[i], hi[i]) = VisibleAt(st, st.FirstQPos + t);
            state[i] = head + (st.QOffset + t) * Gp + g;
            if (++g == G) { g = 0; t++; }
        }
    }

    private (int Lo, int Hi) VisibleAt(in Step st, int qpos)
    {
        int window = _o.SlidingWindow ?? 0;
        int lo = window > 0 ? Math.Clamp(qpos - window + 1 - st.KvBase, 0, st.N) : 0;
        int hi = _causal ? Math.Clamp(qpos - st.KvBase + 1, 0, st.N) : st.N;
        return (lo, Math.Max(hi, lo));
    }

    /// <summary>
    /// The row of state row <paramref name="sIdx"/>: its scaled logits into probabilities in place (soft cap, max,
    /// m_new, exp), its sum kept for the state update. [lo, hi) comes in as the visible keys and back as the range
    /// where p may be non-zero: the same, or the whole chunk in the one case where masked logits do not vanish
    /// (every logit so far masked: exp(min − min) = 1).
    /// </summary>
    private void Probabilities(in Step st, int sIdx, float* srow, ref int lo, ref int hi, out float mNew, out float sum)
    {
        float max = hi > lo ? ScaleCapMax(srow, lo, hi, scaled: true) : _maskValue;
        float* m = (float*)_m.Root.Buffer!.Data;
        mNew = Math.Max(m[sIdx * 128], Round(max));
        float outside = VectorMath.Exp(_maskValue - mNew);
        sum = outside == 0f ? VectorMath.ExpSum(srow, st.N, lo, hi, mNew) : VectorMath.ExpRow(srow, st.N, lo, hi, mNew, outside);
        if (outside != 0f) { lo = 0; hi = st.N; }
    }

    /// <summary>The state update of row r of head h: l, m and acc (rounded to the q dtype, as the kernel keeps them).</summary>
    private void Accumulate(int sIdx, float* pvRow, float mNew, float sum)
    {
        float* m = (float*)_m.Root.Buffer!.Data, l = (float*)_l.Root.Buffer!.Data, acc = (float*)_acc.Root.Buffer!.Data;
        float alpha = VectorMath.Exp(m[sIdx * 128] - mNew);
        l[sIdx * 128] = Round(alpha * l[sIdx * 128] + Round(sum));
        m[sIdx * 128] = mNew;
        var a = new Span<float>(acc + (nint)sIdx * _L.D128, _L.D);
        var p = new Span<float>(pvRow, _L.D);
        // acc = round(alpha·acc + round(p·v_scale)), elementwise (multiply and add unfused, as written).
        if (_vScale != 1f) TensorPrimitives.Multiply(p, _vScale, p);
        if (_roundBf16) Bf16.RoundInPlace(p);
        TensorPrimitives.MultiplyAdd(a, alpha, p, a);
        if (_roundBf16) Bf16.RoundInPlace(a);
    }

    private int StateIndex(in Step st, int h, int r) => h * _b.Bq * _L.Gp + (st.QOffset + r / _L.G) * _L.Gp + r % _L.G;

    /// <summary>out = acc / l, rounded to the q dtype, into the output slot's rows of this q block.</summary>
    private void FinalizeValues(QBlock q, int oSlot)
    {
        var (_, sz) = QRows(q);
        int G = _L.G, Gp = _L.Gp, D = _L.D, D128 = _L.D128, stateRows = _b.Bq * Gp;
        float* acc = (float*)_acc.Root.Buffer!.Data, l = (float*)_l.Root.Buffer!.Data;
        byte* o = _oBuf[oSlot].RawPointer;
        Span<float> row = stackalloc float[D];
        for (int h = 0; h < _L.Hkv; h++)
            for (int t = 0; t < sz; t++)
                for (int g = 0; g < G; g++)
                {
                    int sIdx = h * stateRows + t * Gp + g;
                    var accRow = new ReadOnlySpan<float>(acc + (nint)sIdx * D128, D);
                    // Division is exact per element (IEEE), so the vectorised form is the scalar one.
                    if (!_roundBf16)
                    {
                        TensorPrimitives.Divide(accRow, l[sIdx * 128], new Span<float>(o + (nint)sIdx * D128 * 4, D));
                        continue;
                    }
                    TensorPrimitives.Divide(accRow, l[sIdx * 128], row);
                    Bf16.RoundInPlace(row);
                    Bf16.FromFloat(row, new Span<ushort>(o + (nint)sIdx * D128 * 2, D));
                }
    }
}
