using HpcRpa.Memory;
using HpcRpa.Timeline;

namespace HpcRpa.Pallas;

/// <summary>The kernel body of one grid step.</summary>
public delegate void KernelBody(GridStep step);

/// <summary>
/// pl.pallas_call with a grid and block specs, pipelined as emit_pipeline does (spec 2.7): two VMEM buffers
/// per operand; per step: start fetching the next step's changed input blocks, wait for this step's, run the
/// body, start writing back output blocks whose index changes next step (or on the last step), wait for the
/// previous write-back; consecutive steps that map to the same block skip the copy. The grid runs
/// sequentially in row-major order on one core [S11]. Partial edge blocks move only their in-bounds part.
/// </summary>
public sealed class PallasCall
{
    private readonly string _name;
    private readonly int[] _grid;
    private readonly BlockSpec[] _in;
    private readonly BlockSpec[] _out;
    private readonly ScratchSpec[] _scratch;
    private readonly KernelBody _body;

    public PallasCall(string name, int[] grid, BlockSpec[] inSpecs, BlockSpec[] outSpecs, ScratchSpec[] scratch, KernelBody body)
    {
        foreach (var g in grid)
            if (g <= 0) throw new ArgumentOutOfRangeException(nameof(grid), $"{name}: grid [{string.Join(", ", grid)}] has a non-positive extent");
        _name = name;
        _grid = grid;
        _in = inSpecs;
        _out = outSpecs;
        _scratch = scratch;
        _body = body;
    }

    public long Steps
    {
        get
        {
            long s = 1;
            foreach (var g in _grid) s *= g;
            return s;
        }
    }

    public void Run(KernelContext ctx, Ref[] inputs, Ref[] outputs)
    {
        if (inputs.Length != _in.Length || outputs.Length != _out.Length)
            throw new ArgumentException($"{_name}: {inputs.Length} inputs / {outputs.Length} outputs given, specs say {_in.Length} / {_out.Length}");
        var ins = inputs.Select((r, i) => new Operand(ctx, _name, "in", i, _in[i], r)).ToArray();
        var outs = outputs.Select((r, i) => new Operand(ctx, _name, "out", i, _out[i], r)).ToArray();
        var scratch = _scratch.Select(s => ctx.Vmem.Allocate($"{_name}.{s.Name}", s.DType, s.Shape)).ToArray();
        try
        {
            RunPipeline(ctx, ins, outs, scratch);
        }
        finally
        {
            foreach (var s in scratch) ctx.Vmem.Free(s);
            foreach (var o in ins) o.Free();
            foreach (var o in outs) o.Free();
        }
    }

    private void RunPipeline(KernelContext ctx, Operand[] ins, Operand[] outs, Ref[] scratch)
    {
        long steps = Steps;
        int rank = _grid.Length;
        var ids = new int[rank];
        var nextIds = new int[rank];
        var step = new GridStep(ctx, _grid, ids, ins, outs, scratch);

        foreach (var o in ins) o.Map(ids, o.Current);
        foreach (var o in outs) o.Map(ids, o.Current);
        // Prologue: the first block of every input.
        foreach (var o in ins) o.StartFetch(o.Current, o.Slot);

        for (long s = 0; s < steps; s++)
        {
            ctx.Timeline.Scalar.GridStep();
            bool last = s == steps - 1;
            if (!last)
            {
                Array.Copy(ids, nextIds, rank);
                Increment(nextIds);
                foreach (var o in ins) o.Map(nextIds, o.Next);
                foreach (var o in outs) o.Map(nextIds, o.Next);
            }
            // 1. copy_in for the next step's changed blocks.
            if (!last)
                foreach (var o in ins)
                    if (!o.Next.AsSpan().SequenceEqual(o.Current)) o.StartFetch(o.Next, 1 - o.Slot);
            // 2. wait_in for blocks that changed at this step.
            foreach (var o in ins)
                if (s == 0 || o.ChangedAtThisStep) o.WaitFetch(o.Slot);
            // 3. body.
            _body(step);
            // 4. copy_out for outputs whose block changes next step (or the last step).
            foreach (var o in outs)
            {
                bool changes = last || !o.Next.AsSpan().SequenceEqual(o.Current);
                if (changes) o.StartWriteBack(o.Current, o.Slot);
            }
            // 5. wait_out: the previous write-back, once its block has been left behind.
            foreach (var o in outs)
                if (s > 0 && o.ChangedAtThisStep) o.WaitWriteBack(1 - o.Slot);
            // 6. rotate.
            if (!last)
            {
                foreach (var o in ins) o.Advance();
                foreach (var o in outs) o.Advance();
                Array.Copy(nextIds, ids, rank);
            }
        }
        // Epilogue: the last write-backs.
        foreach (var o in outs) o.WaitWriteBack(o.Slot);
    }

    private void Increment(int[] ids)
    {
        for (int d = ids.Length - 1; d >= 0; d--)
        {
            if (++ids[d] < _grid[d]) return;
            ids[d] = 0;
        }
    }

    /// <summary>One pipelined operand: its HBM array, two VMEM slots, a semaphore per slot.</summary>
    internal sealed class Operand
    {
        private readonly KernelContext _ctx;
        private readonly BlockSpec _spec;
        private readonly Ref _hbm;
        private readonly Ref[] _slots = new Ref[2];
        private readonly DmaSemaphore[] _sems;
        private readonly long[] _inFlight = new long[2];
        private readonly string _label;

        public Operand(KernelContext ctx, string call, string kind, int index, BlockSpec spec, Ref hbm)
        {
            _ctx = ctx;
            _spec = spec;
            _hbm = hbm;
            string name = spec.Name ?? $"{kind}{index}";
            TilingRule.CheckBlock($"{call}.{name}", spec.BlockShape, hbm.Shape, hbm.DType);
            for (int i = 0; i < 2; i++) _slots[i] = ctx.Vmem.Allocate($"{call}.{name}[{i}]", hbm.DType, spec.BlockShape);
            _sems = ctx.Semaphores($"{call}.{name}", 2);
            _label = $"{(kind == "in" ? "copy_in" : "copy_out")} {name}";
            Current = new int[spec.BlockShape.Length];
            Next = new int[spec.BlockShape.Length];
            Previous = new int[spec.BlockShape.Length];
            Array.Fill(Previous, -1);
        }

        public int[] Current { get; private set; }
        public int[] Next { get; private set; }
        private int[] Previous { get; set; }
        public int Slot { get; private set; }
        public bool ChangedAtThisStep => !Previous.AsSpan().SequenceEqual(Current);
        public Ref Buffer => _slots[Slot];

        public void Map(int[] ids, int[] into)
        {
            _spec.IndexMap(ids, into);
            for (int d = 0; d < into.Length; d++)
            {
                long start = (long)into[d] * _spec.BlockShape[d];
                if (into[d] < 0 || start >= Math.Max(_hbm.Dim(d), 1))
                    throw new IndexOutOfRangeException($"{_label}: block index {into[d]} of dim {d} is outside the array {_hbm.ShapeString} (block {_spec.BlockShape[d]})");
            }
        }

        /// <summary>The in-bounds part of a block: (HBM view, VMEM view).</summary>
        private (Ref Hbm, Ref Vmem) Views(int[] block, int slot)
        {
            Ref h = _hbm, v = _slots[slot];
            for (int d = 0; d < block.Length; d++)
            {
                int start = block[d] * _spec.BlockShape[d];
                int len = Math.Min(_spec.BlockShape[d], _hbm.Dim(d) - start);
                h = h.Slice(d, start, len);
                v = v.Slice(d, 0, len);
            }
            return (h, v);
        }

        public void StartFetch(int[] block, int slot)
        {
            var (h, v) = Views(block, slot);
            _ctx.MakeAsyncCopy(h, v, _sems[slot], _label).Start();
            _inFlight[slot] = h.Bytes;
        }

        public void WaitFetch(int slot) => AsyncCopy.WaitBytes(_ctx, _sems[slot], _inFlight[slot]);

        public void StartWriteBack(int[] block, int slot)
        {
            var (h, v) = Views(block, slot);
            _ctx.MakeAsyncCopy(v, h, _sems[slot], _label).Start();
            _inFlight[slot] = h.Bytes;
        }

        public void WaitWriteBack(int slot)
        {
            if (_inFlight[slot] == 0 && _sems[slot].Pending == 0) return;
            AsyncCopy.WaitBytes(_ctx, _sems[slot], _inFlight[slot]);
            _inFlight[slot] = 0;
        }

        public void Advance()
        {
            bool changes = !Next.AsSpan().SequenceEqual(Current);
            (Previous, Current, Next) = (Current, Next, Previous);
            if (changes) Slot = 1 - Slot;
        }

        public void Free()
        {
            foreach (var s in _slots) _ctx.Vmem.Free(s);
        }
    }
}

/// <summary>What the body of one grid step sees: program ids and the current VMEM blocks.</summary>
public sealed class GridStep
{
    private readonly int[] _grid;
    private readonly int[] _ids;
    private readonly PallasCall.Operand[] _ins;
    private readonly PallasCall.Operand[] _outs;
    private readonly Ref[] _scratch;

    internal GridStep(KernelContext ctx, int[] grid, int[] ids, PallasCall.Operand[] ins, PallasCall.Operand[] outs, Ref[] scratch)
    {
        Pl = ctx;
        _grid = grid;
        _ids = ids;
        _ins = ins;
        _outs = outs;
        _scratch = scratch;
    }

    /// <summary>The kernel context (Pallas' pl namespace).</summary>
    public KernelContext Pl { get; }
    public int ProgramId(int axis) => _ids[axis];
    public int NumPrograms(int axis) => _grid[axis];
    public Ref In(int i) => _ins[i].Buffer;
    public Ref Out(int i) => _outs[i].Buffer;
    public Ref Scratch(int i) => _scratch[i];
}
