namespace VmLab.Host.Tests.Replacement.References;

/// <summary>
/// CLOCK-Pro (Jiang, Chen, Zhang, USENIX ATC 2005, §4) over a stream of page numbers with m frames, written from the
/// paper's rules and independent of the plugin: one circular list of resident pages and non-resident cold pages in their
/// test period; the list head is just behind HAND_hot. A hit sets the page's reference bit (a page arrives with it clear).
/// A miss with memory full runs HAND_cold until it replaces a resident cold page with a clear bit (kept as non-resident
/// if in its test period; HAND_test then runs while more than m pages are non-resident). A cold page HAND_cold finds
/// referenced goes to the head with its bit cleared: in its test period it turns hot (m_c + 1, then HAND_hot runs while
/// more than m - m_c pages are hot), otherwise it starts a new test period. The missed page, if still in the list
/// (non-resident, in its test period), turns hot at the head (m_c + 1, HAND_hot runs); else it enters cold, in its test
/// period, at the head. HAND_hot spares referenced hot pages (clearing the bit), turns unreferenced ones cold, ends cold
/// pages' test periods (m_c - 1) and drops non-resident ones; HAND_test does the latter two. m_c starts at
/// max(minCold, ⌊m·initialColdPercent/100⌋) and stays within [minCold, m].
/// </summary>
public static class ClockProReference
{
    private sealed class Page(ulong id)
    {
        public ulong Id = id;
        public bool Hot, Test, Resident = true, Ref;
    }

    public static long Misses(IReadOnlyList<ulong> pages, int m, int initialColdPercent = 1, int minCold = 1)
    {
        var clock = new LinkedList<Page>();
        var where = new Dictionary<ulong, LinkedListNode<Page>>();
        LinkedListNode<Page>? handHot = null, handCold = null, handTest = null;
        int mc = Math.Max(minCold, m * initialColdPercent / 100);
        int hot = 0, resident = 0, nonResident = 0;
        long misses = 0;

        LinkedListNode<Page> Next(LinkedListNode<Page> n) => n.Next ?? clock.First!;

        void Remove(LinkedListNode<Page> n)
        {
            if (clock.Count == 1) handHot = handCold = handTest = null;
            else
            {
                if (handHot == n) handHot = Next(n);
                if (handCold == n) handCold = Next(n);
                if (handTest == n) handTest = Next(n);
            }
            clock.Remove(n);
        }

        LinkedListNode<Page> AtHead(Page p)
        {
            LinkedListNode<Page> n;
            if (handHot is null)
            {
                n = clock.AddLast(p);
                handHot = handCold = handTest = n;
            }
            else n = clock.AddBefore(handHot, p);
            where[p.Id] = n;
            return n;
        }

        void ToHead(LinkedListNode<Page> n)
        {
            Remove(n);
            AtHead(n.Value);
        }

        void TerminateTest(LinkedListNode<Page> n)
        {
            var p = n.Value;
            if (p.Hot || !p.Test) return;
            p.Test = false;
            mc = Math.Max(mc - 1, minCold);
            if (!p.Resident)
            {
                nonResident--;
                where.Remove(p.Id);
                Remove(n);
            }
        }

        void RunHandHot()
        {
            while (hot > 0 && hot > m - mc)
            {
                var n = handHot!;
                handHot = Next(n);
                var p = n.Value;
                if (p.Hot)
                {
                    if (p.Ref) p.Ref = false;
                    else p.Hot = false;
                    if (!p.Hot) hot--;
                }
                else TerminateTest(n);
            }
        }

        void RunHandTest()
        {
            while (nonResident > m)
            {
                var n = handTest!;
                handTest = Next(n);
                TerminateTest(n);
            }
        }

        void RunHandCold()
        {
            for (;;)
            {
                var n = handCold!;
                var p = n.Value;
                if (!p.Resident || p.Hot)
                {
                    handCold = Next(n);
                    continue;
                }
                if (!p.Ref)
                {
                    handCold = Next(n);
                    resident--;
                    if (p.Test)
                    {
                        p.Resident = false;
                        nonResident++;
                        RunHandTest();
                    }
                    else
                    {
                        where.Remove(p.Id);
                        Remove(n);
                    }
                    return;
                }
                p.Ref = false;
                handCold = Next(n);
                if (p.Test)
                {
                    p.Hot = true;
                    p.Test = false;
                    hot++;
                    mc = Math.Min(mc + 1, m);
                    ToHead(n);
                    RunHandHot();
                }
                else
                {
                    p.Test = true;
                    ToHead(n);
                }
            }
        }

        foreach (var x in pages)
        {
            if (where.TryGetValue(x, out var node) && node.Value.Resident)
            {
                node.Value.Ref = true;
                continue;
            }
            misses++;
            if (resident == m) RunHandCold();
            resident++;
            if (where.TryGetValue(x, out node))
            {
                var p = node.Value;
                p.Resident = true;
                p.Hot = true;
                p.Test = false;
                p.Ref = false;
                nonResident--;
                hot++;
                mc = Math.Min(mc + 1, m);
                ToHead(node);
                RunHandHot();
            }
            else AtHead(new Page(x) { Test = true });
        }
        return misses;
    }
}
