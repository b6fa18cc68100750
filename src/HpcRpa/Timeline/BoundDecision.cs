namespace HpcRpa.Timeline;

/// <summary>
/// The bound rule (<see cref="RunReport.DecideBound"/>) as figures, its words formatted only when asked for: a
/// session decides the bound of every call and allocates nothing unless someone reads the reason.
/// </summary>
internal readonly record struct BoundDecision(Bound Bound, double Hbm, string Compute, double ComputeBusy)
{
    private static readonly string[] ComputeEngines = ["mxu", "vpu", "eup", "xlu"];

    /// <summary>
    /// A resource busy at least half the run bounds it, HBM against the busiest compute engine (the first of
    /// mxu, vpu, eup, xlu on a tie); otherwise fixed costs (dispatch, grid-step bookkeeping, descriptor issue,
    /// DMA latency) dominate.
    /// </summary>
    public static BoundDecision Of(IReadOnlyDictionary<string, double> engines)
    {
        double mem = engines.GetValueOrDefault("hbm");
        string name = ComputeEngines[0];
        double busy = engines.GetValueOrDefault(name);
        for (int i = 1; i < ComputeEngines.Length; i++)
        {
            double b = engines.GetValueOrDefault(ComputeEngines[i]);
            if (b > busy) (name, busy) = (ComputeEngines[i], b);
        }
        var bound = Math.Max(mem, busy) < 0.5 ? Bound.Overhead : mem >= busy ? Bound.Memory : Bound.Compute;
        return new BoundDecision(bound, mem, name, busy);
    }

    public string Reason => Bound switch
    {
        Bound.Overhead => $"no resource busy half the time (HBM {Hbm:P0}, {Compute} {ComputeBusy:P0}): fixed costs (dispatch, grid steps, DMA latency) dominate",
        Bound.Memory => $"HBM channel busy {Hbm:P0} of the run ({Compute} {ComputeBusy:P0})",
        _ => $"{Compute} busy {ComputeBusy:P0} of the run (HBM {Hbm:P0})",
    };
}
