namespace VmLab.Host.Tests.Replacement.References;

/// <summary>
/// The Aging algorithm of Tanenbaum and Bos, Modern Operating Systems (4th ed., §3.4.7), over a stream of page numbers
/// with c frames and a clock tick after every <paramref name="tick"/> references: a reference sets R; a tick shifts
/// each resident page's counter right and puts R in the leftmost of <paramref name="bits"/> bits, clearing R; a miss in
/// a full memory removes the page with the lowest counter (the earliest loaded among equals); a loaded page starts at 0.
/// </summary>
public static class AgingReference
{
    public static long Misses(IReadOnlyList<ulong> pages, int c, int bits = 8, long tick = 1000)
    {
        var counter = new Dictionary<ulong, (ulong Value, bool R, long Loaded)>();
        long misses = 0, loads = 0;
        for (int i = 0; i < pages.Count; i++)
        {
            ulong x = pages[i];
            if (!counter.TryGetValue(x, out var e))
            {
                misses++;
                if (counter.Count == c)
                {
                    var victim = counter.MinBy(kv => (kv.Value.Value, kv.Value.Loaded)).Key;
                    counter.Remove(victim);
                }
                e = (0, false, ++loads);
            }
            counter[x] = e with { R = true };
            if ((i + 1) % tick == 0)
                foreach (var p in counter.Keys.ToList())
                {
                    var v = counter[p];
                    counter[p] = ((v.Value >> 1) | (v.R ? 1UL << (bits - 1) : 0), false, v.Loaded);
                }
        }
        return misses;
    }
}
