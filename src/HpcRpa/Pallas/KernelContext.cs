using HpcRpa.Errors;
using HpcRpa.Hardware;
using HpcRpa.Memory;
using HpcRpa.Timeline;

namespace HpcRpa.Pallas;

/// <summary>
/// What a kernel body sees (Pallas' `pl`/`pltpu` namespace for one core): the memory spaces, DMA semaphores,
/// async copies and the compute ops. Every op both computes (functional mode) and is charged on its engine.
/// </summary>
public sealed partial class KernelContext : IDisposable
{
    private readonly List<DmaSemaphore> _semaphores = [];
    private readonly List<RowBindings> _bindings = [];

    public KernelContext(ChipSpec chip, ExecutionMode mode = ExecutionMode.Functional, bool trace = false, long? vmemLimitBytes = null)
    {
        Chip = chip;
        Mode = mode;
        Timeline = new Timeline.Timeline(chip, trace);
        bool values = mode == ExecutionMode.Functional;
        long vmem = vmemLimitBytes ?? chip.VmemBytesPerCore;
        if (vmem <= 0 || vmem > chip.VmemBytesPerCore)
            throw new ValidationException("vmem_limit_bytes", null, vmem.ToString(), $"must be positive and at most the chip's VMEM ({chip.VmemBytesPerCore:N0} bytes)");
        Hbm = new MemoryPool(MemorySpace.Hbm, (long)chip.HbmBytesPerChip, values);
        Vmem = new MemoryPool(MemorySpace.Vmem, vmem, values);
        Smem = new MemoryPool(MemorySpace.Smem, chip.SmemBytesPerCore, values);
    }

    public ChipSpec Chip { get; }
    public ExecutionMode Mode { get; }
    public bool Functional => Mode == ExecutionMode.Functional;
    public Timeline.Timeline Timeline { get; }
    public MemoryPool Hbm { get; }
    public MemoryPool Vmem { get; }
    public MemoryPool Smem { get; }

    public DmaSemaphore Semaphore(string name)
    {
        var s = new DmaSemaphore(name);
        _semaphores.Add(s);
        return s;
    }

    public DmaSemaphore[] Semaphores(string name, int count)
    {
        var a = new DmaSemaphore[count];
        for (int i = 0; i < count; i++) a[i] = Semaphore($"{name}[{i}]");
        return a;
    }

    /// <summary>pltpu.make_async_copy(src, dst, sem).</summary>
    public AsyncCopy MakeAsyncCopy(Ref src, Ref dst, DmaSemaphore sem, string? label = null) => new(this, src, dst, sem, label);

    /// <summary>
    /// The timing half of starting a copy: issue on the scalar core, charge the DMA engine, signal the semaphore
    /// when the bytes land. <see cref="AsyncCopy.Start"/> adds the values; a timing-only kernel may call this
    /// directly with the byte count, skipping the views it would only need for values.
    /// </summary>
    public void IssueDma(long bytes, MemorySpace src, MemorySpace dst, Allocation? source, DmaSemaphore sem, string label)
    {
        var tl = Timeline;
        long issue = tl.Scalar.Issue();
        long ready = src == MemorySpace.Hbm || source is null ? 0 : source.ReadyAt;
        sem.Signal(tl.Dma.Start(issue, ready, bytes, src, dst, label), bytes);
    }

    /// <summary>
    /// The timing half of a paged copy (<see cref="DmaEngine.StartPaged"/>): pages copies of a page each, the last
    /// ones partial or empty, onto one semaphore. Returns the bytes that will be signalled.
    /// </summary>
    public long IssuePagedDma(int pages, long totalBytes, long pageBytes, MemorySpace src, MemorySpace dst, DmaSemaphore sem, string label) =>
        Timeline.Dma.StartPaged(pages, totalBytes, pageBytes, src, dst, sem, label);

    /// <summary>
    /// Functional DMAs into this block bind its rows (of <paramref name="rowBytes"/>) to their HBM sources instead of
    /// copying them, when <see cref="CopyElision"/> is on (see <see cref="RowBindings"/>). Null without values.
    /// </summary>
    public RowBindings? BindableRows(Ref block, long rowBytes)
    {
        var rows = block.Root.EnableRowBinding(rowBytes);
        if (rows is not null && !_bindings.Contains(rows)) _bindings.Add(rows);
        return rows;
    }

    /// <summary>Whether functional DMAs may bind rows instead of copying (on by default; off gives eager copies, same values).</summary>
    public bool CopyElision { get; set; } = true;

    /// <summary>What a DMA does to the values: bytes moved, or rows bound, never a difference any reader can see.</summary>
    internal void MoveValues(Ref src, Ref dst)
    {
        if (_bindings.Count > 0 && dst.Space == MemorySpace.Hbm)
        {
            // A write over bytes that bound rows still read from (always HBM): those rows take their bytes first.
            var (lo, hi) = dst.ByteRange();
            for (int i = _bindings.Count - 1; i >= 0; i--)
            {
                var b = _bindings[i];
                if (b.Owner.Freed) { _bindings.RemoveAt(i); continue; }
                b.BeforeSourceWrite(lo, hi);
            }
        }
        if (dst.Root.Rows is { } rows && CopyElision && rows.TryBind(src, dst)) return;
        if (src.Root.Rows is { AnyBound: true } bound && bound.TryCopyOut(src, dst)) return;
        RefCopy.Copy(src, dst);
    }

    // One semaphore serves every sync_copy: each starts it at zero and leaves it there.
    private DmaSemaphore? _syncSemaphore;

    /// <summary>pltpu.sync_copy: start and wait.</summary>
    public void SyncCopy(Ref src, Ref dst, string? label = null)
    {
        var sem = _syncSemaphore ??= new DmaSemaphore("sync_copy");
        sem.Reset();
        var c = new AsyncCopy(this, src, dst, sem, label);
        c.Start();
        c.Wait();
    }

    /// <summary>
    /// Closes the run: all semaphores must be at zero, as on hardware; returns the report. A timing pass whose
    /// values other contexts computed says so with <paramref name="valuesComputed"/>.
    /// </summary>
    public RunReport Finish(string kernel, bool? valuesComputed = null)
    {
        CheckSemaphores();
        return RunReport.From(Timeline, kernel, !(valuesComputed ?? Functional), Vmem.Peak);
    }

    /// <summary>The exit rule of <see cref="Finish"/>: every semaphore at zero, as on hardware.</summary>
    internal void CheckSemaphores()
    {
        foreach (var s in _semaphores) s.CheckZero();
    }

    /// <summary>
    /// Makes this context a fresh one again for a session's next run, keeping its allocations: the timeline at
    /// cycle 0, every semaphore at zero (also after a run that failed midway), the VMEM high-water mark at what
    /// is held now. Allocations a kernel keeps between runs it releases and reclaims itself.
    /// </summary>
    internal void ResetForReuse()
    {
        Timeline.Reset();
        foreach (var s in _semaphores) s.Reset();
        _syncSemaphore?.Reset();
        // Bindings point into the last run's pinned arrays, which may have moved since.
        foreach (var b in _bindings) b.Reset();
        Vmem.ResetPeak();
    }

    public void Dispose()
    {
        Hbm.Dispose();
        Vmem.Dispose();
        Smem.Dispose();
    }
}
