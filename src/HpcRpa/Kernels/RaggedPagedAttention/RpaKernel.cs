using HpcRpa.Engines;
using HpcRpa.Memory;
using HpcRpa.Numerics;
using HpcRpa.Pallas;
using HpcRpa.Timeline;

namespace HpcRpa.Kernels.RaggedPagedAttention;

/// <summary>
/// One RPA v3 pallas_call (rpa.md 2.6): grid (1,), a loop over the sequences of one range of
/// `distribution`, double-buffered q / KV / output in VMEM with one DMA semaphore per slot and stream
/// (rows: 0 KV fetch, 1 q fetch, 2 output send, 3 KV-cache write), the KV-cache update fused into the KV
/// fetch, and the pipeline carried across sequences: the next KV block (of this q block, the next q
/// block, or the next sequence) is always in flight while the current one is computed.
/// <para>
/// A kernel is built once for a shape and reused call after call (<see cref="RpaSession"/>): <see cref="Bind"/>
/// points it at one call's problem, <see cref="Reclaim"/> and <see cref="Release"/> take and give back its VMEM
/// around each run, and its DMAs slice through <see cref="ViewCursor"/>s, so a run allocates nothing.
/// </para>
/// </summary>
internal sealed unsafe partial class RpaKernel
{
    private readonly KernelContext _pl;
    private RpaProblem _p;
    private readonly RpaOptions _o;
    private readonly RpaLayout _L;
    private readonly RpaCase _case;
    private readonly RpaBlockSizes _b;
    private int _seqStart, _seqEnd;
    private readonly int? _staticQLen;
    private readonly bool _causal;
    private readonly int _bkvPages;

    // VMEM scratch.
    private readonly Ref[] _kvBuf = new Ref[2], _qBuf = new Ref[2], _oBuf = new Ref[2];
    private readonly Ref _l, _m, _acc, _s;
    // Every VMEM buffer, in allocation order (the order a run takes them back in).
    private readonly List<Ref> _vmem = [];
    // The views DMAs slice (q, output, new tokens, the cache as token rows; the VMEM slots). Timing-only DMAs need
    // just the bytes, except the synchronous copies of new tokens a sliding window skips (WriteSkippedNewTokens).
    private readonly ViewCursor? _qSrc, _outDst, _newKvSrc, _cacheTokens;
    private readonly ViewCursor[] _qSlot = new ViewCursor[2], _oSlot = new ViewCursor[2], _kvSlot = new ViewCursor[2];
    // DMA semaphores [4, 2] and the bytes each slot's copy in flight will signal.
    private readonly DmaSemaphore[,] _sem = new DmaSemaphore[4, 2];
    private readonly long[,] _inFlight = new long[4, 2];
    // bkv_update_ids: the cache write each KV slot still owes (seq, kv block, offset, size).
    private readonly (int Seq, int Kb, int Offset, int Size)[] _pendingUpdate = new (int, int, int, int)[2];

    public string ScopeName { get; }

    public RpaKernel(KernelContext pl, RpaProblem p, RpaOptions o, RpaCase kase, RpaBlockSizes b,
        Ref qHbm, Ref newKvHbm, Ref cacheHbm, Ref outHbm)
    {
        _pl = pl; _p = p; _o = o; _case = kase; _b = b;
        _pricesByAbqc = new StepPrices?[b.BqCompute + 1];
        _L = p.Layout;
        _staticQLen = kase switch
        {
            RpaCase.Decode => 1,
            RpaCase.Prefill => o.ChunkPrefillSize,
            _ => null,
        };
        // Decode forces the causal mask off (redundant for q_len 1); the window still applies.
        _causal = o.Causal && kase != RpaCase.Decode;
        _bkvPages = b.Bkv / p.PageSize;
        ScopeName = RpaBlockSizes.ScopeName(kase, p.PageSize, b, o.SlidingWindow);

        var L = _L;
        // Buffers are allocated as 2-D [rows, lanes] so their footprint is what the kernel's VMEM estimate
        // counts (rpa.md 2.8: token rows of `stride` words, packed q rows); views give them their shapes.
        Ref Buffer(string name, DType t, params int[] shape)
        {
            int lanes = shape[^1];
            int rows = shape[..^1].Aggregate(1, (a, x) => a * x);
            var r = pl.Vmem.Allocate($"{ScopeName}.{name}", t, rows, lanes);
            _vmem.Add(r);
            return r.Reshape(shape);
        }
        try
        {
            for (int i = 0; i < 2; i++)
            {
                _kvBuf[i] = Buffer($"bkv_x2[{i}]", DType.Int32, b.Bkv, L.Stride, L.D128);
                _qBuf[i] = Buffer($"bq_x2[{i}]", L.QDType, L.Hkv, b.Bq * L.Gp, L.D128);
                _oBuf[i] = Buffer($"bo_x2[{i}]", L.QDType, L.Hkv, b.Bq * L.Gp, L.D128);
            }
            _l = Buffer("l", DType.F32, L.Hkv, b.Bq * L.Gp, 128);
            _m = Buffer("m", DType.F32, L.Hkv, b.Bq * L.Gp, 128);
            _acc = Buffer("acc", DType.F32, L.Hkv, b.Bq * L.Gp, L.D128);
            _s = pl.Vmem.Allocate($"{ScopeName}.s", DType.F32, 2 * Math.Min(b.BqCompute, b.Bq) * L.Gp, b.BkvCompute);
            _vmem.Add(_s);
        }
        catch
        {
            // A buffer that does not fit: the ones before it go back, so the pool is as it was.
            foreach (var r in _vmem) pl.Vmem.Free(r);
            throw;
        }
        string[] rows = ["kv_fetch", "q_fetch", "o_send", "kv_update"];
        for (int r = 0; r < 4; r++)
            for (int s = 0; s < 2; s++)
                _sem[r, s] = pl.Semaphore($"{ScopeName}.sem[{rows[r]}][{s}]");
        _pendingUpdate[0] = _pendingUpdate[1] = (-1, -1, 0, 0);
        if (!pl.Functional && !(o.UpdateKvCache && o.SlidingWindow is not null)) return;
        // The cache as token rows: page g's slot j is row g·P + j ([page][slot] of the 4-D array, the same view).
        _qSrc = new ViewCursor(qHbm);
        _outDst = new ViewCursor(outHbm);
        _newKvSrc = new ViewCursor(newKvHbm);
        _cacheTokens = new ViewCursor(cacheHbm.Reshape(checked(p.NumPages * p.PageSize), L.Rows, L.D128));
        for (int i = 0; i < 2; i++)
        {
            _qSlot[i] = new ViewCursor(_qBuf[i].Reshape(L.Hkv, b.Bq, L.Gp, L.D128));
            _oSlot[i] = new ViewCursor(_oBuf[i].Reshape(L.Hkv, b.Bq, L.Gp, L.D128));
            _kvSlot[i] = new ViewCursor(_kvBuf[i].Slice(1, 0, L.Rows)); // a slot's token rows without the bank-conflict pad row
        }
        if (pl.Functional) InitFunctional();
    }

    /// <summary>
    /// Points the kernel at one call's problem — the shape it was built for, any data and metadata: its range of
    /// sequences and their plan. Before every run.
    /// </summary>
    public void Bind(RpaProblem p)
    {
        _p = p;
        var d = p.Distribution;
        (_seqStart, _seqEnd) = _case switch
        {
            RpaCase.Decode => (0, d[0]),
            RpaCase.Prefill => (d[0], d[1]),
            _ => (d[1], d[2]),
        };
        Array.Clear(_inFlight);
        _pendingUpdate[0] = _pendingUpdate[1] = (-1, -1, 0, 0);
        _qblocks.Clear();
        _visits.Clear();
        _firstVisit.Clear();
        Plan();
    }

    /// <summary>Lets go of the call's problem (the caller's arrays) once the call is over; <see cref="Bind"/> precedes every run.</summary>
    public void Unbind() => _p = null!;

    /// <summary>Gives the kernel's VMEM back to the core (memory kept for the next run), as the end of a pallas_call does.</summary>
    public void Release()
    {
        foreach (var r in _vmem) _pl.Vmem.Release(r);
    }

    /// <summary>Takes the kernel's VMEM back for a run, as a new kernel would allocate it; no DMA binding survives from an earlier run.</summary>
    public void Reclaim()
    {
        foreach (var r in _vmem) _pl.Vmem.Reclaim(r);
        if (_pl.Functional) RegisterRows();
    }

    /// <summary>
    /// The KV and q slots' DMA bindings registered with the context again, and empty (a new kernel has none): a KV
    /// fetch binds token rows to their cache pages, a q fetch each KV head's rows to the prepared q.
    /// </summary>
    private void RegisterRows()
    {
        long tokenRowBytes = (long)_L.Stride * _L.D128 * 4;
        for (int i = 0; i < 2; i++)
        {
            _kvRows[i] = _pl.BindableRows(_kvBuf[i], tokenRowBytes);
            _kvRows[i]?.Reset();
            _qRows[i] = _pl.BindableRows(_qBuf[i], QHeadBytes);
            _qRows[i]?.Reset();
        }
    }

    // ---------------------------------------------------------------- iteration order

    private int QLen(int seq) => _p.QLen(seq);
    private int Abq(int seq) => _case == RpaCase.Mixed ? _b.Bq : Math.Min(_b.Bq, _staticQLen ?? Math.Max(QLen(seq), 1));
    private int NumBq(int seq) => QLen(seq) == 0 ? 0 : RpaLayout.CeilDiv(QLen(seq), Abq(seq));
    private int Gap(int seq) => _p.KvLens[seq] - QLen(seq);
    private int ProcessedQ(int seq, int b) => Gap(seq) + b * Abq(seq);

    private int StartBkv(int seq, int b) =>
        _o.SlidingWindow is int w ? Math.Max(ProcessedQ(seq, b) - w, 0) / _b.Bkv : 0;

    private int EffectiveKvLen(int seq, int b) =>
        _causal ? Math.Min(_p.KvLens[seq], ProcessedQ(seq, b) + Abq(seq)) : _p.KvLens[seq];

    private int EndBkv(int seq, int b) => RpaLayout.CeilDiv(EffectiveKvLen(seq, b), _b.Bkv);

    private readonly record struct QBlock(int Seq, int B);
    private readonly record struct Visit(int Seq, int B, int Kb, int QIndex);

    private readonly List<QBlock> _qblocks = [];
    private readonly List<Visit> _visits = [];
    // _firstVisit[qi]: index of q block qi's first visit; _firstVisit[count] = number of visits.
    private readonly List<int> _firstVisit = [];

    /// <summary>The call's iteration order: q blocks of the range's sequences, each with the KV blocks it visits.</summary>
    private void Plan()
    {
        for (int s = _seqStart; s < _seqEnd; s++)
        {
            int n = NumBq(s);
            for (int b = 0; b < n; b++)
            {
                _firstVisit.Add(_visits.Count);
                _qblocks.Add(new QBlock(s, b));
                int end = EndBkv(s, b);
                for (int kb = StartBkv(s, b); kb < end; kb++) _visits.Add(new Visit(s, b, kb, _qblocks.Count - 1));
            }
        }
        _firstVisit.Add(_visits.Count);
    }

    /// <summary>Q blocks of this call (the unit the host spreads over threads when it computes values).</summary>
    public int QBlockCount => _qblocks.Count;

    /// <summary>Host work of q block <paramref name="qi"/>, in query-token × KV-token pairs (for balancing threads).</summary>
    public long QBlockWork(int qi)
    {
        var q = _qblocks[qi];
        return (long)Math.Max(1, QRows(q).Size) * (_firstVisit[qi + 1] - _firstVisit[qi]) * _b.Bkv;
    }

    // ---------------------------------------------------------------- the kernel body

    /// <summary>The whole call: every q block, the pipeline carried across sequences.</summary>
    public void Run() => Run(0, _qblocks.Count);

    /// <summary>
    /// q blocks [qiStart, qiEnd) with their own prologue and epilogue. The whole range is the kernel; a part is what
    /// one host thread computes values for (each q block's values depend on its own data only).
    /// </summary>
    public void Run(int qiStart, int qiEnd)
    {
        var qblocks = _qblocks;
        var visits = _visits;
        int vStart = _firstVisit[qiStart], vEnd = _firstVisit[qiEnd];
        if (vEnd == vStart) return;
        var tl = _pl.Timeline;
        long scopeStart = tl.Now;
        int qSlot = 0, kvSlot = 0, oSlot = 0;
        // Prologue: the first q block and the first KV block of its sequence.
        StartQFetch(qblocks[qiStart], qSlot);
        StartKvFetch(visits[vStart], kvSlot);

        int vi = vStart;
        for (int qi = qiStart; qi < qiEnd; qi++)
        {
            var q = qblocks[qi];
            ResetState(q);
            if (qi + 1 < qiEnd) StartQFetch(qblocks[qi + 1], 1 - qSlot);
            bool lastQBlockOfSeq = q.B == NumBq(q.Seq) - 1;
            if (lastQBlockOfSeq && _o.UpdateKvCache) WriteSkippedNewTokens(q);
            bool first = true;
            while (vi < vEnd && visits[vi].QIndex == qi)
            {
                var v = visits[vi];
                if (vi + 1 < vEnd)
                {
                    int next = 1 - kvSlot;
                    WaitCacheWrite(next);
                    StartKvFetch(visits[vi + 1], next);
                }
                if (first) WaitSlot(1, qSlot);
                first = false;
                WaitSlot(0, kvSlot);
                if (_o.UpdateKvCache && lastQBlockOfSeq) StartCacheWrite(kvSlot);
                ComputeBlock(v, kvSlot, qSlot);
                kvSlot = 1 - kvSlot;
                vi++;
            }
            Finalize(q, qSlot, oSlot);
            qSlot = 1 - qSlot;
            oSlot = 1 - oSlot;
        }
        // Epilogue: both output sends and both cache writes.
        for (int s = 0; s < 2; s++)
        {
            WaitSlot(2, s);
            WaitCacheWrite(s);
        }
        tl.MarkScope(ScopeName, scopeStart);
    }

    // ---------------------------------------------------------------- DMAs

    private void WaitSlot(int row, int slot)
    {
        long bytes = _inFlight[row, slot];
        if (bytes == 0 && _sem[row, slot].Pending == 0) return;
        AsyncCopy.WaitBytes(_pl, _sem[row, slot], bytes);
        _inFlight[row, slot] = 0;
    }

    private void WaitCacheWrite(int slot) => WaitSlot(3, slot);

    private void Dma(Ref src, Ref dst, int row, int slot, string label)
    {
        _pl.MakeAsyncCopy(src, dst, _sem[row, slot], label).Start();
        _inFlight[row, slot] += src.Bytes;
    }

    private (int Start, int Size) QRows(QBlock q)
    {
        int abq = Abq(q.Seq);
        int start = _p.CuQLens[q.Seq] + q.B * abq;
        return (start, Math.Min(abq, _p.CuQLens[q.Seq + 1] - start));
    }

    /// <summary>Timing-only runs skip building views: the DMA engine needs only the bytes and the spaces.</summary>
    private void DmaBytes(long bytes, MemorySpace src, MemorySpace dst, Allocation? source, int row, int slot, string label)
    {
        _pl.IssueDma(bytes, src, dst, source, _sem[row, slot], label);
        _inFlight[row, slot] += bytes;
    }

    private long QBlockBytes(int tokens) => (long)_L.Hkv * tokens * _L.Gp * _L.D128 * _L.QDType.Bytes();

    private void StartQFetch(QBlock q, int slot)
    {
        var (start, sz) = QRows(q);
        if (!_pl.Functional) { DmaBytes(QBlockBytes(sz), MemorySpace.Hbm, MemorySpace.Vmem, null, 1, slot, "q fetch"); return; }
        Dma(_qSrc!.Slice(1, start, sz), _qSlot[slot].Slice(1, 0, sz), 1, slot, "q fetch");
    }

    private void StartKvFetch(Visit v, int slot)
    {
        int s = v.Seq, kb = v.Kb, P = _p.PageSize, pps = _p.PagesPerSeq;
        int kvLen = _p.KvLens[s], qLen = QLen(s);
        int kvStart = kb * _b.Bkv;
        int left = kvLen - kvStart;
        int fromCache = _o.UpdateKvCache ? Math.Max(left - qLen, 0) : left;
        int fromNew = left - fromCache;
        int nCache = Math.Min(fromCache, _b.Bkv);
        int nNew = Math.Min(_b.Bkv - nCache, fromNew);
        // Old tokens page by page: a static loop, so zero-size copies are issued too.
        if (!_pl.Functional)
        {
            // Timing only: the same copies, by their sizes alone (no page table read, no views).
            long tokenBytes = _L.TokenBytes;
            _inFlight[0, slot] += _pl.IssuePagedDma(_bkvPages, (long)Math.Max(fromCache, 0) * tokenBytes, (long)P * tokenBytes,
                MemorySpace.Hbm, MemorySpace.Vmem, _sem[0, slot], "kv fetch page");
        }
        else
            for (int i = 0; i < _bkvPages; i++)
            {
                int n = Math.Clamp(fromCache - i * P, 0, P);
                int idx = Math.Min(s * pps + kb * _bkvPages + i, s * pps + pps - 1);
                int page = n > 0 ? _p.PageIndices[idx] : 0; // a zero-size copy reads nothing; its page index may be padding
                Dma(_cacheTokens!.Slice(0, page * P, n), _kvSlot[slot].Slice(0, i * P, n), 0, slot, "kv fetch page");
            }
        int qEnd = _p.CuQLens[s + 1];
        if (!_pl.Functional) DmaBytes(nNew * _L.TokenBytes, MemorySpace.Hbm, MemorySpace.Vmem, null, 0, slot, "kv fetch new");
        else Dma(_newKvSrc!.Slice(0, qEnd - fromNew, nNew), _kvSlot[slot].Slice(0, nCache, nNew), 0, slot, "kv fetch new");
        _pendingUpdate[slot] = (s, kb, kvStart + nCache, nNew);
    }

    /// <summary>Writes this block's new tokens from VMEM to their cache pages (one copy per touched page).</summary>
    private void StartCacheWrite(int slot)
    {
        var (s, kb, offset, size) = _pendingUpdate[slot];
        if (s < 0 || size <= 0) return;
        int P = _p.PageSize;
        int remaining = size;
        int firstPage = offset / P;
        for (int i = 0; remaining > 0; i++)
        {
            int inPage = i == 0 ? offset % P : 0;
            int n = Math.Min(P - inPage, remaining);
            int srcToken = (firstPage - kb * _bkvPages + i) * P + inPage;
            int page = _p.PageIndices[s * _p.PagesPerSeq + firstPage + i];
            if (!_pl.Functional) DmaBytes(n * _L.TokenBytes, MemorySpace.Vmem, MemorySpace.Hbm, _kvBuf[slot].Root, 3, slot, "kv cache write");
            else Dma(_kvSlot[slot].Slice(0, srcToken, n), _cacheTokens!.Slice(0, page * P + inPage, n), 3, slot, "kv cache write");
            remaining -= n;
        }
        _pendingUpdate[slot] = (-1, -1, 0, 0);
    }

    /// <summary>
    /// Caveat C2 (rpa.md 2.11), decided: upstream writes new tokens only from the KV blocks the last q block
    /// visits, so with a sliding window new tokens in earlier blocks were never stored. HpcRpa stores every
    /// new token: those blocks' tokens go straight from new_kv to their pages (HBM to HBM).
    /// </summary>
    private void WriteSkippedNewTokens(QBlock q)
    {
        int s = q.Seq, start = StartBkv(s, q.B);
        int gap = Gap(s), kvLen = _p.KvLens[s], P = _p.PageSize;
        int skippedEnd = Math.Min(start * _b.Bkv, kvLen);
        if (gap >= skippedEnd) return;
        int qStart = _p.CuQLens[s];
        for (int pos = gap; pos < skippedEnd;)
        {
            int inPage = pos % P;
            int n = Math.Min(P - inPage, skippedEnd - pos);
            int page = _p.PageIndices[s * _p.PagesPerSeq + pos / P];
            _pl.SyncCopy(_newKvSrc!.Slice(0, qStart + (pos - gap), n), _cacheTokens!.Slice(0, page * P + inPage, n), "kv cache write (skipped block)");
            pos += n;
        }
    }

    // ---------------------------------------------------------------- compute (timing; values in RpaKernel.Values.cs)

    private void ResetState(QBlock q)
    {
        var c = Prices;
        _pl.Charge(c.ResetLm, null, _l.Root);
        _m.Root.ReadyAt = _l.Root.ReadyAt;
        _pl.Charge(c.ResetAcc, null, _acc.Root);
        if (_pl.Functional) ResetValues(q);
    }

    /// <summary>
    /// The ops of one flash step for one head (rpa.md 2.5) and the per-q-block ops, priced once for the kernel's shape:
    /// every head of every block charges the same shapes, so the engines' formulas are evaluated here, not per charge.
    /// </summary>
    private sealed class StepPrices
    {
        public required PricedOp ResetLm, ResetAcc, LoadKv, ScaleMask, SoftCap, RowMax, SubM, Exp, RowSum, Alpha, L, Acc, Out;
        public required MxuPlan Qk, Pv;
    }

    // Prices per q-row count of a step (index: rows per head of a compute sub-block), each made when first needed.
    private readonly StepPrices?[] _pricesByAbqc;

    /// <summary>The prices of a q block of <paramref name="abq"/> tokens (a shorter last block steps over fewer rows).</summary>
    private StepPrices PricesFor(int abq)
    {
        int abqc = Math.Min(_b.BqCompute, abq);
        return _pricesByAbqc[abqc] ??= PriceStep(abqc * _L.Gp, _b.BkvCompute);
    }

    /// <summary>The prices of a full q block (the per-q-block ops, ResetLm, ResetAcc and Out, do not depend on its rows).</summary>
    private StepPrices Prices => PricesFor(_b.Bq);

    private StepPrices PriceStep(int rows, int bkvc)
    {
        var kvIn = MxuArray.InputOf(_L.QDType == DType.F32 || _L.KvDType == DType.F32 ? DType.F32 : _L.KvDType, _L.KvDType);
        var pvIn = MxuArray.InputOf(DType.F32, _L.KvDType);
        var dt = _L.KvDType;
        var outDt = _L.QDType;
        int d128 = _L.D128;
        long stateRows = (long)_L.Hkv * _b.Bq * _L.Gp;
        return new StepPrices
        {
            ResetLm = _pl.PriceVpu("l, m, acc = 0", stateRows, 128, DType.F32, 0, 0, 2),
            ResetAcc = _pl.PriceVpu("l, m, acc = 0", stateRows, d128, DType.F32, 0, 0, 1),
            // K and V rows of head h out of the packed words (shift/truncate on the VPU).
            LoadKv = _pl.PriceVpu("load kv", bkvc, 2 * d128, dt, _L.Pk > 1 ? 2 : 0, 1, 0),
            Qk = _pl.PriceMatmul(rows, bkvc, d128, kvIn),
            ScaleMask = _pl.PriceVpu("scale + mask", rows, bkvc, DType.F32, 4, 1, 1),
            SoftCap = _pl.PriceEup("soft cap tanh", rows, bkvc, DType.F32),
            RowMax = _pl.PriceLaneReduce("row max", rows, bkvc, outDt),
            SubM = _pl.PriceVpu("s - m", rows, bkvc, DType.F32, 1, 1, 1),
            Exp = _pl.PriceEup("exp", rows, bkvc, DType.F32),
            RowSum = _pl.PriceLaneReduce("row sum", rows, bkvc, outDt),
            Alpha = _pl.PriceEup("alpha = exp(m_old - m_new)", rows, 128, outDt),
            L = _pl.PriceVpu("l = alpha l + sum", rows, 128, outDt, 2, 2, 2),
            Pv = _pl.PriceMatmul(rows, d128, bkvc, pvIn),
            Acc = _pl.PriceVpu("acc = alpha acc + pv", rows, d128, outDt, 2, 2, 1),
            Out = _pl.PriceVpu("out = acc / l", stateRows, d128, _L.QDType, 3, 2, 1),
        };
    }

    private void ComputeBlock(Visit v, int kvSlot, int qSlot)
    {
        int s = v.Seq;
        int effective = Math.Clamp(EffectiveKvLen(s, v.B) - v.Kb * _b.Bkv, 0, _b.Bkv);
        int chunks = RpaLayout.CeilDiv(effective, _b.BkvCompute);
        int abq = Abq(s);
        int abqc = Math.Min(_b.BqCompute, abq);
        int subChunks = RpaLayout.CeilDiv(abq, abqc);
        var c = PricesFor(abq);
        var kv = _kvBuf[kvSlot].Root;
        var qb = _qBuf[qSlot].Root;
        var sA = _s.Root;
        var m = _m.Root;
        var l = _l.Root;
        var acc = _acc.Root;
        bool cap = _o.SoftCap is not null;
        for (int ci = 0; ci < chunks; ci++)
        {
            for (int qc = 0; qc < subChunks; qc++)
            {
                for (int h = 0; h < _L.Hkv; h++)
                {
                    _pl.Charge(c.LoadKv, kv, kv);
                    _pl.Charge(c.Qk, "q @ k.T", qb, kv, sA);
                    _pl.Charge(c.ScaleMask, sA, sA);
                    if (cap) _pl.Charge(c.SoftCap, sA, sA);
                    _pl.Charge(c.RowMax, sA, m);
                    _pl.Charge(c.SubM, m, sA, sA);
                    _pl.Charge(c.Exp, sA, sA);
                    _pl.Charge(c.RowSum, sA, l);
                    _pl.Charge(c.Alpha, m, l);
                    _pl.Charge(c.L, l, l);
                    _pl.Charge(c.Pv, "p @ v", sA, kv, acc);
                    _pl.Charge(c.Acc, acc, acc);
                }
                if (_pl.Functional) ComputeValues(v, kvSlot, qSlot, ci, qc, abq, abqc);
            }
        }
    }

    private void Finalize(QBlock q, int qSlot, int oSlot)
    {
        WaitSlot(2, oSlot); // the slot's previous send must be done before it is overwritten
        _pl.Charge(Prices.Out, _acc.Root, _oBuf[oSlot].Root, _l.Root);
        if (_pl.Functional) FinalizeValues(q, oSlot);
        var (start, sz) = QRows(q);
        if (!_pl.Functional) { DmaBytes(QBlockBytes(sz), MemorySpace.Vmem, MemorySpace.Hbm, _oBuf[oSlot].Root, 2, oSlot, "o send"); return; }
        Dma(_oSlot[oSlot].Slice(1, 0, sz), _outDst!.Slice(1, start, sz), 2, oSlot, "o send");
    }
}
