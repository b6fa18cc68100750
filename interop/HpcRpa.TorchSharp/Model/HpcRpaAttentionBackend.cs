using HpcRpa.Dispatch;
using HpcRpa.Hardware;
using HpcRpa.Kernels.KvCacheUpdate;
using HpcRpa.Kernels.RaggedPagedAttention;
using HpcRpa.Memory;
using HpcRpa.Numerics;
using HpcRpa.TorchSharp.Tensors;
using HpcRpa.Timeline;
using HpcRpa.Workloads;
using static TorchSharp.torch;

namespace HpcRpa.TorchSharp.Model;

/// <summary>
/// The HpcRpa backend: per layer a paged KV cache in emulated HBM (RPA v3's packed layout), pages handed out as
/// sequences grow; each step the KV-update kernel writes the new tokens through vLLM's slot mapping, then RPA
/// (with update_kv_cache off, reading every position from the cache) computes attention on the TPU model.
/// Every kernel run's report is kept, so a generation says what a TPU would have spent. The caches live in native
/// memory (line-aligned rows, no 2 GiB limit per layer), freed by <see cref="Dispose"/>.
/// </summary>
public sealed class HpcRpaAttentionBackend : IAttentionBackend, IDisposable
{
    private readonly LlamaConfig _c;
    private readonly ChipSpec _chip;
    private readonly DType _kv;
    private readonly int _pageSize, _numPages;
    private readonly NativeBuffer[] _caches;
    private readonly Dictionary<int, List<int>> _pages = [];
    private readonly Stack<int> _free;
    private readonly RpaDispatcher _dispatcher;
    private readonly RpaLayout _layout;
    private StepBatch _batch = new([]);

    public HpcRpaAttentionBackend(LlamaConfig config, ChipSpec chip, DType kvDType = DType.F32, int pageSize = 16, int numPages = 256)
    {
        if (kvDType is not (DType.F32 or DType.BF16)) throw new ArgumentException($"KV dtype {kvDType.Name()}: the model backend takes f32 or bf16", nameof(kvDType));
        _c = config;
        _chip = chip;
        _kv = kvDType;
        _pageSize = pageSize;
        _numPages = numPages;
        _layout = new RpaLayout(config.NumQHeads, config.NumKvHeads, config.HeadDim, kvDType, kvDType);
        _caches = Enumerable.Range(0, config.Layers).Select(_ => new NativeBuffer(_layout.CacheBytes(numPages, pageSize))).ToArray();
        _free = new Stack<int>(Enumerable.Range(0, numPages).Reverse());
        _dispatcher = new RpaDispatcher(chip);
    }

    public string Name => "hpcrpa";
    public List<RunReport> RpaReports { get; } = [];
    public List<RunReport> KvUpdateReports { get; } = [];
    /// <summary>The cache of one layer (zero-copy: the memory the kernels write).</summary>
    public NativeBuffer Cache(int layer) => _caches[layer];

    public void Dispose()
    {
        foreach (var c in _caches) c.Dispose();
    }

    public void BeginStep(StepBatch batch)
    {
        _batch = batch;
        foreach (var s in batch.Seqs)
        {
            if (!_pages.TryGetValue(s.SeqId, out var list)) _pages[s.SeqId] = list = [];
            int need = (s.Cached + s.New + _pageSize - 1) / _pageSize;
            while (list.Count < need)
            {
                if (_free.Count == 0) throw new InvalidOperationException($"out of KV pages ({_numPages} of {_pageSize} tokens)");
                list.Add(_free.Pop());
            }
        }
    }

    public Tensor Attend(int layer, Tensor q, Tensor k, Tensor v)
    {
        Runtime.TorchRuntime.EnsureLoaded();
        var seqs = _batch.Seqs;
        int n = seqs.Count, T = _batch.Tokens, hq = _c.NumQHeads, hkv = _c.NumKvHeads, d = _c.HeadDim;
        var st = TensorBridge.ScalarTypeOf(_kv);
        byte[] qb = TensorBridge.ToBytes(q.to_type(st), "q", _kv, T, hq, d);
        byte[] kb = TensorBridge.ToBytes(k.to_type(st), "k", _kv, T, hkv, d);
        byte[] vb = TensorBridge.ToBytes(v.to_type(st), "v", _kv, T, hkv, d);
        int pps = Math.Max(1, seqs.Max(s => _pages[s.SeqId].Count));
        int S = Math.Max(n, 1);
        var pageIdx = new int[S * pps];
        var kvLens = new int[S];
        var cu = new int[S + 1];
        for (int i = 0; i < n; i++)
        {
            var list = _pages[seqs[i].SeqId];
            for (int j = 0; j < list.Count; j++) pageIdx[i * pps + j] = list[j];
            kvLens[i] = seqs[i].Cached + seqs[i].New;
            cu[i + 1] = cu[i] + seqs[i].New;
        }
        int nDecode = seqs.TakeWhile(s => s.New == 1 && s.Cached > 0).Count();
        var problem = new RpaProblem
        {
            MaxNumTokens = T, NumQHeads = hq, NumKvHeads = hkv, HeadDim = d, PageSize = _pageSize, NumPages = _numPages,
            MaxNumSeqs = S, PagesPerSeq = pps, QDType = _kv, KvDType = _kv,
            Queries = qb, Keys = kb, Values = vb, KvCacheBuffer = _caches[layer],
            KvLens = kvLens, PageIndices = pageIdx, CuQLens = cu, Distribution = [nDecode, nDecode, n],
        };

        // 1. The KV-update kernel writes this step's tokens (whole merged token rows, as 32-bit words).
        var update = RpaKvUpdate.For(problem);
        KvUpdateReports.Add(KvUpdateKernel.Run(_chip, update, KvUpdateGrid.Dynamic).Report);

        // 2. RPA reads every position, the new ones included, from the cache.
        var options = new RpaOptions { SmScale = 1.0 / Math.Sqrt(d), UpdateKvCache = false };
        var r = _dispatcher.Run(problem, options);
        if (r.Report is not null) RpaReports.Add(r.Report);
        return TensorBridge.FromBytes(r.Output!, _kv, T, hq, d).to_type(ScalarType.Float32);
    }
}
