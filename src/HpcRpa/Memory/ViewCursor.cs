namespace HpcRpa.Memory;

/// <summary>
/// A base view and one view of it that every <see cref="Slice"/> re-aims in place. A kernel issues thousands of
/// DMAs per call, each over a slice; slicing through a cursor makes them without allocating. The returned view is
/// valid until the cursor's next Slice: long enough for a DMA's Start, which reads its views and keeps neither.
/// </summary>
internal sealed class ViewCursor
{
    private readonly Ref _base;
    private readonly Ref _view;

    public ViewCursor(Ref baseView)
    {
        _base = baseView;
        _view = baseView.Slice(0, 0, baseView.Dim(0)); // a view of its own, same rank
    }

    public Ref Base => _base;

    /// <summary>The base's <c>Slice(dim, start, length)</c>, in the cursor's one view.</summary>
    public Ref Slice(int dim, int start, int length) => _base.SliceInto(_view, dim, start, length);
}
