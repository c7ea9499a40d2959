namespace VmLab.Host.Tests.Replacement.References;

/// <summary>
/// LIRS as described in Jiang and Zhang, "LIRS: An Efficient Low Inter-reference Recency Set Replacement Policy to
/// Improve Buffer Cache Performance", SIGMETRICS 2002, §3.3, over a stream of page numbers with c frames: Lhirs =
/// max(1, ⌊c · hirPercent / 100⌋) frames for resident HIR blocks, the first c − Lhirs distinct blocks become LIR; stack S
/// (recency order, resident and non-resident entries, pruned so its bottom is LIR) and queue Q (resident HIR blocks,
/// front = victim). <paramref name="nonResidentLimit"/> &gt; 0 bounds the non-resident entries kept in S (the oldest
/// one goes first); the paper keeps them all. Independent of the plugin.
/// </summary>
public static class LirsReference
{
    private sealed class Block
    {
        public ulong Page;
        public bool Lir, Resident;
        public LinkedListNode<Block>? InS, InQ;
    }

    public static long Misses(IReadOnlyList<ulong> pages, int c, int hirPercent = 1, int nonResidentLimit = 0)
    {
        int lhirs = Math.Max(1, c * hirPercent / 100), llirs = c - lhirs;
        var s = new LinkedList<Block>(); // First = top
        var q = new LinkedList<Block>(); // First = front
        var blocks = new Dictionary<ulong, Block>();
        int resident = 0, lir = 0, nonResidentInS = 0;
        long misses = 0;

        void Prune()
        {
            while (s.Last is { } bottom && !bottom.Value.Lir)
            {
                var b = bottom.Value;
                s.RemoveLast();
                b.InS = null;
                if (!b.Resident)
                {
                    nonResidentInS--;
                    blocks.Remove(b.Page);
                }
            }
        }

        void ToTop(Block b)
        {
            if (b.InS is not null) s.Remove(b.InS);
            else if (!b.Resident) nonResidentInS++;
            b.InS = s.AddFirst(b);
        }

        void BottomLirToHir()
        {
            var bottom = s.Last!.Value; // pruned: the bottom is LIR
            bottom.Lir = false;
            lir--;
            s.RemoveLast();
            bottom.InS = null;
            bottom.InQ = q.AddLast(bottom);
            Prune();
        }

        foreach (var x in pages)
        {
            blocks.TryGetValue(x, out var b);
            if (b is { Resident: true })
            {
                if (b.Lir)
                {
                    bool wasBottom = s.Last == b.InS;
                    ToTop(b);
                    if (wasBottom) Prune();
                }
                else if (b.InS is not null)
                {
                    ToTop(b);
                    b.Lir = true;
                    lir++;
                    q.Remove(b.InQ!);
                    b.InQ = null;
                    BottomLirToHir();
                }
                else
                {
                    ToTop(b);
                    q.Remove(b.InQ!);
                    b.InQ = q.AddLast(b);
                }
                continue;
            }

            misses++;
            if (resident == c)
            {
                var victim = q.First!.Value;
                q.RemoveFirst();
                victim.InQ = null;
                victim.Resident = false;
                resident--;
                if (victim.InS is null) blocks.Remove(victim.Page);
                else nonResidentInS++;
            }
            if (b is null)
            {
                b = new Block { Page = x };
                blocks[x] = b;
            }
            bool wasInS = b.InS is not null;
            if (wasInS)
            {
                s.Remove(b.InS!);
                b.InS = null;
                nonResidentInS--;
            }
            b.Resident = true;
            resident++;
            b.InS = s.AddFirst(b);
            if (lir < llirs)
            {
                b.Lir = true; // warm-up: the first Llirs blocks are LIR
                lir++;
            }
            else if (wasInS)
            {
                b.Lir = true;
                lir++;
                BottomLirToHir();
            }
            else b.InQ = q.AddLast(b);

            if (nonResidentLimit > 0)
                while (nonResidentInS > nonResidentLimit)
                    for (var n = s.Last; n is not null; n = n.Previous)
                        if (!n.Value.Resident)
                        {
                            s.Remove(n);
                            n.Value.InS = null;
                            blocks.Remove(n.Value.Page);
                            nonResidentInS--;
                            break;
                        }
        }
        return misses;
    }
}
