namespace VmLab.Host.Tests.Replacement.References;

/// <summary>
/// ARC(c) as printed in Megiddo and Modha, "ARC: A Self-Tuning, Low Overhead Replacement Cache", FAST 2003, Fig. 4,
/// over a stream of page numbers: T1, T2, B1, B2 as LRU lists (first = LRU end), p real-valued, cases I-IV and
/// REPLACE(x, p) in the paper's order. Independent of the plugin.
/// </summary>
public static class ArcReference
{
    public static long Misses(IReadOnlyList<ulong> pages, int c)
    {
        var t1 = new LinkedList<ulong>();
        var t2 = new LinkedList<ulong>();
        var b1 = new LinkedList<ulong>();
        var b2 = new LinkedList<ulong>();
        var where = new Dictionary<ulong, (LinkedList<ulong> List, LinkedListNode<ulong> Node)>();
        double p = 0;
        long misses = 0;

        void MoveToMru(ulong x, LinkedList<ulong> to)
        {
            if (where.TryGetValue(x, out var w)) w.List.Remove(w.Node);
            where[x] = (to, to.AddLast(x));
        }

        void DeleteLru(LinkedList<ulong> list)
        {
            var first = list.First!;
            list.RemoveFirst();
            where.Remove(first.Value);
        }

        void Replace(bool xInB2)
        {
            if (t1.Count > 0 && (t1.Count > p || (xInB2 && t1.Count == p)))
                MoveToMru(t1.First!.Value, b1);
            else
                MoveToMru(t2.First!.Value, b2);
        }

        foreach (var x in pages)
        {
            where.TryGetValue(x, out var w);
            if (w.List == t1 || w.List == t2)
            {
                MoveToMru(x, t2); // case I
                continue;
            }
            misses++;
            if (w.List == b1)
            {
                double delta1 = b1.Count >= b2.Count ? 1 : (double)b2.Count / b1.Count;
                p = Math.Min(p + delta1, c);
                Replace(xInB2: false);
                MoveToMru(x, t2);
            }
            else if (w.List == b2)
            {
                double delta2 = b2.Count >= b1.Count ? 1 : (double)b1.Count / b2.Count;
                p = Math.Max(p - delta2, 0);
                Replace(xInB2: true);
                MoveToMru(x, t2);
            }
            else
            {
                int l1 = t1.Count + b1.Count, total = l1 + t2.Count + b2.Count;
                if (l1 == c)
                {
                    if (t1.Count < c)
                    {
                        DeleteLru(b1);
                        Replace(xInB2: false);
                    }
                    else DeleteLru(t1);
                }
                else if (total >= c)
                {
                    if (total == 2 * c) DeleteLru(b2);
                    Replace(xInB2: false);
                }
                MoveToMru(x, t1);
            }
        }
        return misses;
    }
}
