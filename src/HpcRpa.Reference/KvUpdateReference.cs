namespace HpcRpa.Reference;

/// <summary>The KV-cache update's semantics (rpa.md 4.1) and vLLM's slot mapping (4.3), as plain loops.</summary>
public static class KvUpdateReference
{
    /// <summary>For each real slice i: cache rows [start_i, start_i + len_i) = new_kv rows [new_i, new_i + len_i).</summary>
    public static void Run(ReadOnlySpan<byte> newKv, Span<byte> kvCache, int rowBytes, ReadOnlySpan<int> slices, int numSlices)
    {
        int nPad = slices.Length / 3;
        for (int i = 0; i < numSlices; i++)
        {
            int cacheStart = slices[i], newStart = slices[nPad + i], len = slices[2 * nPad + i];
            for (int r = 0; r < len; r++)
                for (int b = 0; b < rowBytes; b++)
                    kvCache[(cacheStart + r) * rowBytes + b] = newKv[(newStart + r) * rowBytes + b];
        }
    }

    /// <summary>_get_slot_mapping_metadata: one slice per (request, touched page); returns [3, numSlices] row-major, unpadded.</summary>
    public static int[] SlotMapping(int[] computedTokens, int[] scheduledTokens, int[][] blockTables, int pageSize, out int numSlices)
    {
        var cache = new List<int>();
        var lens = new List<int>();
        for (int r = 0; r < computedTokens.Length; r++)
        {
            int first = computedTokens[r], last = computedTokens[r] + scheduledTokens[r] - 1;
            for (int pos = first; pos <= last;)
            {
                int page = pos / pageSize;
                int end = Math.Min(last, (page + 1) * pageSize - 1);
                cache.Add(blockTables[r][page] * pageSize + pos % pageSize);
                lens.Add(end - pos + 1);
                pos = end + 1;
            }
        }
        numSlices = cache.Count;
        var result = new int[3 * numSlices];
        int acc = 0;
        for (int i = 0; i < numSlices; i++)
        {
            result[i] = cache[i];
            result[numSlices + i] = acc;
            result[2 * numSlices + i] = lens[i];
            acc += lens[i];
        }
        return result;
    }
}
