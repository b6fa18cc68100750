using HpcRpa.Memory;
using System.Runtime.Intrinsics;
using HpcRpa.Numerics;
using NGemm = HpcRpa.Numerics.Gemm;

namespace HpcRpa.Kernels.RaggedPagedAttention;

/// <summary>
/// The values of the flash-attention step (rpa.md 2.5), functional mode only: logits in f32, scale by
/// sm_scale·k_scale·q_scale, soft cap, mask (masked logits replaced by finfo(out_dtype).min), running max
/// and sum and the accumulator kept in out_dtype (= q dtype, HEAD since #1972), p in f32 for p·v, exact
/// division at the end. Rows past a block's tokens and padded group rows are not computed (the kernel
/// computes them on stale data and never writes them back).
/// </summary>
internal sealed unsafe partial class RpaKernel
{
    private float _scale;
    private float _maskValue;
    private float[] _fp8Table = [];
    private float[] _qf = [], _kf = [], _vf = [], _sf = [], _pv = [], _rowMax = [], _rowSum = [], _mNew = [];
    private bool _roundBf16;
    private Accumulation _logitSum;

    private void InitFunctional()
    {
        double scale = _o.SmScale * (_o.KScale ?? 1.0) * (_o.QScale ?? 1.0);
        _scale = (float)scale;
        _roundBf16 = _L.QDType == DType.BF16;
        _logitSum = _L.QDType == DType.F32 ? Accumulation.Compensated : Accumulation.Fma;
        _maskValue = _roundBf16 ? Bf16.ToFloat(0xFF7F) : float.MinValue; // finfo(out_dtype).min
        if (_L.Pk == 4)
        {
            _fp8Table = new float[256];
            Span<byte> one = stackalloc byte[1];
            for (int i = 0; i < 256; i++)
            {
                one[0] = (byte)i;
                _fp8Table[i] = ElementCodec.Load(_L.KvDType, one, 0);
            }
        }
        int rows = Math.Min(_b.BqCompute, _b.Bq) * _L.G;
        int n = _b.BkvCompute, d = _L.D;
        // Work arrays come from a per-thread pool: they are large (often on the large-object heap), and
        // allocating them per call would make every call pay for, and pause other threads with, full GCs.
        var pool = t_pool ??= new float[8][];
        _qf = Rent(pool, 0, rows * d);
        _kf = Rent(pool, 1, n * d);
        _vf = Rent(pool, 2, n * d);
        _sf = Rent(pool, 3, rows * n);
        _pv = Rent(pool, 4, rows * d);
        _rowMax = Rent(pool, 5, rows);
        _rowSum = Rent(pool, 6, rows);
        _mNew = Rent(pool, 7, rows);
    }

    [ThreadStatic] private static float[][]? t_pool;

    private static float[] Rent(float[][] pool, int slot, int size)
    {
        if (pool[slot] is null || pool[slot].Length < size) pool[slot] = new float[size];
        return pool[slot];
    }

    private float Round(float x) => _roundBf16 ? Bf16.ToFloat(Bf16.FromFloat(x)) : x;

    private void ResetValues(QBlock q)
    {
        _acc.Span<float>().Clear();
        _l.Span<float>().Clear();
        _m.Span<float>().Fill(float.NegativeInfinity);
    }

    /// <summary>
    /// Decodes K (combined head 2h) and V (2h+1) of tokens [tok0, tok0+n) of a KV slot into kDst and vDst [n × D],
    /// reading each packed word once. bf16 widening is exact bit arithmetic, so the vector and scalar forms agree.
    /// </summary>
    private void DecodeKvPair(int slot, int tok0, int n, int h, Span<float> kDst, Span<float> vDst)
    {
        int d = _L.D, d128 = _L.D128, stride = _L.Stride, pk = _L.Pk;
        int kRow = 2 * h / pk, vRow = (2 * h + 1) / pk, kj = 2 * h % pk, vj = (2 * h + 1) % pk;
        byte* bytes = (byte*)System.Runtime.CompilerServices.Unsafe.AsPointer(ref _kvBuf[slot].Span<byte>()[0]);
        for (int t = 0; t < n; t++)
        {
            long tokenWord = (long)(tok0 + t) * stride;
            var ko = kDst.Slice(t * d, d);
            var vo = vDst.Slice(t * d, d);
            uint* kw = (uint*)bytes + (tokenWord + kRow) * d128;
            uint* vw = (uint*)bytes + (tokenWord + vRow) * d128;
            switch (pk)
            {
                case 1:
                    new ReadOnlySpan<float>(kw, d).CopyTo(ko);
                    new ReadOnlySpan<float>(vw, d).CopyTo(vo);
                    break;
                case 2:
                    {
                        // One word holds (K_h, V_h) of one lane: K in the low half, V in the high half.
                        int x = 0;
                        fixed (float* kp = ko, vp = vo)
                        {
                            if (Vector512.IsHardwareAccelerated)
                            {
                                var hiMask = Vector512.Create(0xFFFF0000u);
                                for (; x + 16 <= d; x += 16)
                                {
                                    var w = Vector512.Load(kw + x);
                                    (w << 16).AsSingle().Store(kp + x);
                                    (w & hiMask).AsSingle().Store(vp + x);
                                }
                            }
                            for (; x < d; x++)
                            {
                                uint w = kw[x];
                                kp[x] = BitConverter.UInt32BitsToSingle(w << 16);
                                vp[x] = BitConverter.UInt32BitsToSingle(w & 0xFFFF0000u);
                            }
                        }
                        break;
                    }
                default:
                    {
                        byte* kb = (byte*)kw + kj, vb = (byte*)vw + vj;
                        for (int x = 0; x < d; x++)
                        {
                            ko[x] = _fp8Table[kb[4 * x]];
                            vo[x] = _fp8Table[vb[4 * x]];
                        }
                        break;
                    }
            }
        }
    }

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
        int G = _L.G, Gp = _L.Gp, D = _L.D, D128 = _L.D128;
        int rowsQ = tN * G;
        int processedQ = ProcessedQ(s, v.B) + t0;
        int window = _o.SlidingWindow ?? 0;
        bool hasCap = _o.SoftCap is not null;
        float cap = (float)(_o.SoftCap ?? 1.0);
        float vScale = (float)(_o.VScale ?? 1.0);
        var qAll = _qBuf[qSlot];
        var accAll = _acc.Span<float>();
        var lAll = _l.Span<float>();
        var mAll = _m.Span<float>();
        int stateRows = _b.Bq * Gp;
        var qf = _qf.AsSpan(0, rowsQ * D);
        var kf = _kf.AsSpan(0, n * D);
        var vf = _vf.AsSpan(0, n * D);
        var sf = _sf.AsSpan(0, rowsQ * n);
        var pv = _pv.AsSpan(0, rowsQ * D);
        Span<float> row = stackalloc float[D128];
        Span<float> a1 = stackalloc float[1];

        for (int h = 0; h < _L.Hkv; h++)
        {
            DecodeKvPair(kvSlot, c * _b.BkvCompute, n, h, kf, vf);
            var qh = qAll[h];
            for (int t = 0; t < tN; t++)
                for (int g = 0; g < G; g++)
                {
                    ElementRows.Decode(qh, (t0 + t) * Gp + g, row);
                    row[..D].CopyTo(qf.Slice((t * G + g) * D, D));
                }
            // f32 logits are summed compensated: the softmax turns their absolute error into relative error of
            // the output, which f32 promises to 1e-5. A bf16 run rounds its state to bf16 anyway: plain FMA.
            NGemm.MatMulF32(qf, D, kf, D, sf, n, rowsQ, n, D, transposeB: true, accumulate: false, sum: _logitSum);

            for (int r = 0; r < rowsQ; r++)
            {
                int qpos = processedQ + r / G;
                var sr = sf.Slice(r * n, n);
                // Visible keys form one range: kpos <= qpos (causal) and kpos > qpos - W (window); the rest
                // take the mask value. Scaling is elementwise, so the vectorised multiply is exact.
                int lo = window > 0 ? Math.Clamp(qpos - window + 1 - kvBase, 0, n) : 0;
                int hi = _causal ? Math.Clamp(qpos - kvBase + 1, 0, n) : n;
                if (hi < lo) hi = lo;
                sr[..lo].Fill(_maskValue);
                sr[hi..].Fill(_maskValue);
                var visible = sr[lo..hi];
                System.Numerics.Tensors.TensorPrimitives.Multiply(visible, _scale, visible);
                if (hasCap)
                    for (int j = 0; j < visible.Length; j++) visible[j] = cap * MathF.Tanh(visible[j] / cap);
                float max = visible.Length > 0 ? System.Numerics.Tensors.TensorPrimitives.Max(visible) : _maskValue;
                int sIdx = h * stateRows + (t0 + r / G) * Gp + r % G;
                float mOld = mAll[sIdx * 128];
                _rowMax[r] = Round(max);
                _mNew[r] = Math.Max(mOld, _rowMax[r]);
            }
            VectorMath.ExpSubRowwise(sf, rowsQ, n, n, _mNew.AsSpan(0, rowsQ), sf, n, _rowSum.AsSpan(0, rowsQ));
            NGemm.MatMulF32(sf, n, vf, D, pv, D, rowsQ, D, n, transposeB: false, accumulate: false);

            for (int r = 0; r < rowsQ; r++)
            {
                int sIdx = h * stateRows + (t0 + r / G) * Gp + r % G;
                float mOld = mAll[sIdx * 128];
                float mNew = _mNew[r];
                a1[0] = mOld - mNew;
                VectorMath.Exp(a1, a1);
                float alpha = a1[0];
                lAll[sIdx * 128] = Round(alpha * lAll[sIdx * 128] + Round(_rowSum[r]));
                mAll[sIdx * 128] = mNew;
                var acc = accAll.Slice(sIdx * D128, D);
                var p = pv.Slice(r * D, D);
                // acc = round(alpha·acc + round(p·v_scale)), elementwise (multiply and add unfused, as written).
                if (vScale != 1f) System.Numerics.Tensors.TensorPrimitives.Multiply(p, vScale, p);
                if (_roundBf16) Bf16.RoundInPlace(p);
                System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(acc, alpha, p, acc);
                if (_roundBf16) Bf16.RoundInPlace(acc);
            }
        }
    }

    private void FinalizeValues(QBlock q, int oSlot)
    {
        var (_, sz) = QRows(q);
        int G = _L.G, Gp = _L.Gp, D = _L.D, D128 = _L.D128, stateRows = _b.Bq * Gp;
        var accAll = _acc.Span<float>();
        var lAll = _l.Span<float>();
        Span<float> row = stackalloc float[D128];
        for (int h = 0; h < _L.Hkv; h++)
        {
            var oh = _oBuf[oSlot][h];
            for (int t = 0; t < sz; t++)
                for (int g = 0; g < G; g++)
                {
                    int sIdx = h * stateRows + t * Gp + g;
                    float l = lAll[sIdx * 128];
                    row.Clear();
                    for (int x = 0; x < D; x++) row[x] = Round(accAll[sIdx * D128 + x] / l);
                    ElementRows.Encode(oh, t * Gp + g, row);
                }
        }
    }
}
