namespace VmLab.Host.Tests.Replacement.References;

/// <summary>
/// Full 2Q as printed in Johnson and Shasha, "2Q: A Low Overhead High Performance Buffer Management Replacement
/// Algorithm", VLDB 1994, Fig. 2, over a stream of page numbers with c page slots: Am checked first, then A1out (and
/// reclaimfor(X) runs after that lookup, X's identifier leaving A1out when X enters Am), then A1in. Kin and Kout are the
/// given shares of c, compared as real numbers. Independent of the plugin.
/// </summary>
public static class TwoQueueReference
{
    public static long Misses(IReadOnlyList<ulong> pages, int c, int kinPercent = 25, int koutPercent = 50)
    {
        double kin = c * kinPercent / 100.0, kout = c * koutPercent / 100.0;
        var a1in = new LinkedList<ulong>(); // First = head (newest), Last = tail
        var am = new LinkedList<ulong>();   // First = head (MRU), Last = tail (LRU)
        var a1out = new LinkedList<ulong>(); // First = head (newest)
        var inA1in = new Dictionary<ulong, LinkedListNode<ulong>>();
        var inAm = new Dictionary<ulong, LinkedListNode<ulong>>();
        var inA1out = new Dictionary<ulong, LinkedListNode<ulong>>();
        long misses = 0;

        void ReclaimFor()
        {
            if (inA1in.Count + inAm.Count < c) return; // a free page slot
            if (a1in.Count > kin)
            {
                ulong y = a1in.Last!.Value;
                a1in.RemoveLast();
                inA1in.Remove(y);
                inA1out[y] = a1out.AddFirst(y);
                if (a1out.Count > kout)
                {
                    inA1out.Remove(a1out.Last!.Value);
                    a1out.RemoveLast();
                }
            }
            else
            {
                inAm.Remove(am.Last!.Value);
                am.RemoveLast();
            }
        }

        foreach (var x in pages)
        {
            if (inAm.TryGetValue(x, out var node))
            {
                am.Remove(node);
                am.AddFirst(node);
            }
            else if (inA1out.ContainsKey(x))
            {
                misses++;
                ReclaimFor();
                if (inA1out.Remove(x, out var ghost)) a1out.Remove(ghost);
                inAm[x] = am.AddFirst(x);
            }
            else if (inA1in.ContainsKey(x))
            {
            }
            else
            {
                misses++;
                ReclaimFor();
                inA1in[x] = a1in.AddFirst(x);
            }
        }
        return misses;
    }
}
