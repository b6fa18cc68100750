namespace HpcRpa.Workloads;

/// <summary>
/// vLLM's _get_slot_mapping_metadata (rpa.md 4.3): one slice per (request, touched page) of this step's new
/// tokens, listed request by request; new-KV starts are the exclusive prefix sum of the lengths.
/// </summary>
public static class SlotMapping
{
    /// <summary>Returns [3, nPad] row-major (cache starts, new starts, lengths) zero-padded, and the real count.</summary>
    public static (int[] Slices, int NumSlices) Build(IReadOnlyList<int> computed, IReadOnlyList<int> scheduled, IReadOnlyList<int[]> blockTables, int pageSize, int nPad)
    {
        var list = new List<(int Cache, int New, int Len)>();
        int newStart = 0;
        for (int r = 0; r < computed.Count; r++)
        {
            int c = computed[r], n = scheduled[r];
            if (n <= 0) continue;
            int lp0 = c / pageSize, lp1 = (c + n - 1) / pageSize;
            for (int lp = lp0; lp <= lp1; lp++)
            {
                int start = lp == lp0 ? c % pageSize : 0;
                int end = lp == lp1 ? (c + n - 1) % pageSize + 1 : pageSize;
                int len = end - start;
                list.Add((blockTables[r][lp] * pageSize + start, newStart, len));
                newStart += len;
            }
        }
        if (nPad < list.Count) throw new ArgumentException($"slot mapping has {list.Count} slices, more than N_pad = {nPad}");
        var slices = new int[3 * nPad];
        for (int i = 0; i < list.Count; i++)
        {
            slices[i] = list[i].Cache;
            slices[nPad + i] = list[i].New;
            slices[2 * nPad + i] = list[i].Len;
        }
        return (slices, list.Count);
    }

    /// <summary>vLLM's padding bound: N_pad = min(2·max_num_reqs + T_pad / P, T_pad), rounded up to a multiple of N_b (#19928).</summary>
    public static int PaddedCount(int maxNumReqs, int paddedTokens, int pageSize, int slicesPerBlock)
    {
        int n = Math.Min(2 * maxNumReqs + paddedTokens / pageSize, paddedTokens);
        return (n + slicesPerBlock - 1) / slicesPerBlock * slicesPerBlock;
    }
}
