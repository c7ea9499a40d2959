namespace VmLab.Host.Tests.Replacement.References;

/// <summary>
/// CLOCK, SIEVE and S3-FIFO over a stream of page numbers with c entries, each written from its paper and independent
/// of the plugins.
/// </summary>
public static class FifoFamilyReferences
{
    /// <summary>
    /// Second chance (Corbató 1968; the textbook CLOCK): a circular buffer of c slots and a hand; a hit sets the page's
    /// reference bit; a miss with no free slot advances the hand past pages whose bit is set (clearing it) and replaces
    /// the first page found with the bit clear; the new page takes that slot and the hand moves past it. The new page's
    /// bit is set when <paramref name="referenceOnInsert"/>.
    /// </summary>
    public static long Clock(IReadOnlyList<ulong> pages, int c, bool referenceOnInsert)
    {
        var slot = new Dictionary<ulong, int>();
        var page = new ulong[c];
        var referenced = new bool[c];
        int used = 0, hand = 0;
        long misses = 0;
        foreach (var x in pages)
        {
            if (slot.TryGetValue(x, out int s))
            {
                referenced[s] = true;
                continue;
            }
            misses++;
            if (used < c)
            {
                s = used++;
            }
            else
            {
                while (referenced[hand])
                {
                    referenced[hand] = false;
                    hand = (hand + 1) % c;
                }
                s = hand;
                slot.Remove(page[s]);
                hand = (hand + 1) % c;
            }
            page[s] = x;
            slot[x] = s;
            referenced[s] = referenceOnInsert;
        }
        return misses;
    }

    /// <summary>
    /// SIEVE (Zhang, Yang, Yue, Vigfusson, Rashmi, NSDI 2024, Fig. 1's pseudo-code): a queue with new objects at the
    /// head; a hit sets visited; a miss in a full cache runs the hand from where it stopped (or the tail) towards the
    /// head, clearing visited bits, evicts the first unvisited object and leaves the hand at the object before it
    /// (towards the head), wrapping to the tail past the head.
    /// </summary>
    public static long Sieve(IReadOnlyList<ulong> pages, int c)
    {
        var queue = new LinkedList<(ulong Page, bool Visited)>(); // First = head (newest), Last = tail (oldest)
        var nodes = new Dictionary<ulong, LinkedListNode<(ulong Page, bool Visited)>>();
        LinkedListNode<(ulong Page, bool Visited)>? hand = null;
        long misses = 0;
        foreach (var x in pages)
        {
            if (nodes.TryGetValue(x, out var hit))
            {
                hit.Value = (x, true);
                continue;
            }
            misses++;
            if (nodes.Count == c)
            {
                var o = hand ?? queue.Last!;
                while (o.Value.Visited)
                {
                    o.Value = (o.Value.Page, false);
                    o = o.Previous ?? queue.Last!;
                }
                hand = o.Previous;
                nodes.Remove(o.Value.Page);
                queue.Remove(o);
            }
            nodes[x] = queue.AddFirst((x, false));
        }
        return misses;
    }

    /// <summary>
    /// S3-FIFO (Yang, Zhang, Qiu, Yue, Vinayak, SOSP 2023, Algorithm 1) with c entries: S, M and the ghost G as FIFOs;
    /// a hit increments the frequency up to 3; a miss evicts while the cache is full, then inserts into M when the key
    /// is in G, else into S, with frequency 0. evict(): evictS when |S| >= smallPercent% of c, else evictM. evictS: S's
    /// tail moves to M when its frequency is at least <paramref name="threshold"/> (its frequency reset to 0, as the
    /// authors' libCacheSim does), else it is evicted into G (G keeps at most ghostPercent% of c keys). evictM: M's tail
    /// is reinserted with frequency - 1 while above 0, else evicted. One eviction per miss: a move into a full M does not
    /// evict from M within the same eviction (see docs/replacement.md).
    /// </summary>
    public static long S3Fifo(IReadOnlyList<ulong> pages, int c, int smallPercent = 10, int ghostPercent = 90, int threshold = 2)
    {
        var s = new Queue<ulong>();
        var m = new Queue<ulong>();
        var g = new LinkedList<ulong>(); // First = oldest
        var ghost = new Dictionary<ulong, LinkedListNode<ulong>>();
        var freq = new Dictionary<ulong, int>(); // resident pages
        long misses = 0;

        ulong EvictOne()
        {
            if (s.Count * 100.0 >= c * smallPercent)
            {
                while (s.Count > 0)
                {
                    ulong t = s.Dequeue();
                    if (freq[t] >= threshold)
                    {
                        freq[t] = 0;
                        m.Enqueue(t);
                        continue;
                    }
                    freq.Remove(t);
                    if (ghostPercent > 0)
                    {
                        ghost[t] = g.AddLast(t);
                        while (g.Count * 100.0 > c * ghostPercent)
                        {
                            ghost.Remove(g.First!.Value);
                            g.RemoveFirst();
                        }
                    }
                    return t;
                }
            }
            for (;;)
            {
                ulong t = m.Dequeue();
                if (freq[t] > 0)
                {
                    freq[t]--;
                    m.Enqueue(t);
                    continue;
                }
                freq.Remove(t);
                return t;
            }
        }

        foreach (var x in pages)
        {
            if (freq.TryGetValue(x, out int f))
            {
                freq[x] = Math.Min(f + 1, 3);
                continue;
            }
            misses++;
            if (freq.Count == c) EvictOne();
            if (ghost.Remove(x, out var node))
            {
                g.Remove(node);
                m.Enqueue(x);
            }
            else s.Enqueue(x);
            freq[x] = 0;
        }
        return misses;
    }
}
