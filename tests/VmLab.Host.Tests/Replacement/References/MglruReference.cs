namespace VmLab.Host.Tests.Replacement.References;

/// <summary>
/// Linux's multi-gen LRU for one memcg and one page type, over a stream of page numbers with c frames, written from the
/// kernel's rules (mm/vmscan.c, mm/workingset.c, lru_gen_folio_seq in include/linux/mm_inline.h) as simply as possible
/// and independent of the plugin. Each access sets the page's Accessed bit (what a one-entry TLB gives: every access to
/// another page than the last re-walks). Generation lists hold pages oldest first; a page also records the generation
/// number it belongs to, which the aging may raise without moving it.
/// <list type="number">
/// <item>max_seq = 3, min_seq = 0 at the start.</item>
/// <item>A missed page goes to the young end of max_seq - 1, or of max_seq if its shadow is recent (|max_seq - shadow
/// seq| &lt; 4) and says PG_workingset (then the page has PG_workingset); a recent shadow counts a refault in tier 3
/// (PG_workingset) or 0.</item>
/// <item>To evict: while only two generations exist, age — every resident page with its Accessed bit set has it
/// cleared and gets PG_referenced if it had neither flag, else moves to generation max_seq with PG_workingset (and
/// without PG_referenced); if four generations exist the oldest one's pages go to the old end of the next one (clearing
/// PG_referenced unless they moved on) counting as protected, and min_seq + 1; then max_seq + 1. An empty oldest
/// generation is dropped (min_seq + 1, while more than two remain). The oldest page of the oldest generation: if it
/// belongs to a younger generation, it moves there; if its tier is above the PID controller's index, it moves to
/// min_seq + 1 losing PG_referenced (protected); if its Accessed bit is clear it is evicted (its shadow: min_seq and
/// PG_workingset; counted evicted in its tier); else the bit is cleared and, without PG_referenced or PG_workingset, it
/// gets PG_referenced and goes to max_seq - 1; with either, it gets PG_workingset only and goes to max_seq.</item>
/// <item>The PID controller: per tier, refaulted, evicted and protected since min_seq last moved, and averages that
/// take half of (average + current) and restart the current counts each time min_seq moves. The index is the last tier
/// t (from 0) such that every tier 1..t has fewer than 64 refaults or refaulted_t·(total_0 + 64)·2 ≤ (refaulted_0 + 1)·total_t·3.</item>
/// </list>
/// </summary>
public static class MglruReference
{
    private sealed class Page
    {
        public long Seq;   // the generation it belongs to
        public long List;  // the generation list it is on
        public bool Accessed, Referenced, Workingset;
    }

    public static long Misses(IReadOnlyList<ulong> pages, int c)
    {
        var resident = new Dictionary<ulong, Page>();
        var lists = new Dictionary<long, LinkedList<ulong>>(); // generation number → pages, oldest first
        var shadows = new Dictionary<ulong, (long Seq, bool Workingset)>();
        long maxSeq = 3, minSeq = 0, misses = 0;
        var refaulted = new long[4];
        var evicted = new long[4];
        var protectedPages = new long[4];
        var avgRefaulted = new long[4];
        var avgTotal = new long[4];

        LinkedList<ulong> ListOf(long seq)
        {
            if (!lists.TryGetValue(seq, out var l)) lists[seq] = l = new LinkedList<ulong>();
            return l;
        }

        void Put(ulong x, long seq, bool young)
        {
            var p = resident[x];
            ListOf(p.List).Remove(x);
            p.Seq = p.List = seq;
            if (young) ListOf(seq).AddLast(x);
            else ListOf(seq).AddFirst(x);
        }

        int TierOf(Page p) => p.Workingset ? 3 : 0;

        void NewPeriod()
        {
            for (int t = 0; t < 4; t++)
            {
                avgRefaulted[t] = (avgRefaulted[t] + refaulted[t]) / 2;
                avgTotal[t] = (avgTotal[t] + protectedPages[t] + evicted[t]) / 2;
                refaulted[t] = evicted[t] = protectedPages[t] = 0;
            }
        }

        int TierIndex()
        {
            long r0 = avgRefaulted[0] + refaulted[0], n0 = avgTotal[0] + protectedPages[0] + evicted[0];
            int t = 1;
            while (t < 4)
            {
                long r = avgRefaulted[t] + refaulted[t], n = avgTotal[t] + protectedPages[t] + evicted[t];
                if (r >= 64 && r * (n0 + 64) * 2 > (r0 + 1) * n * 3) break;
                t++;
            }
            return t - 1;
        }

        void Age()
        {
            foreach (var p in resident.Values)
            {
                if (!p.Accessed) continue;
                p.Accessed = false;
                if (!p.Referenced && !p.Workingset) p.Referenced = true;
                else
                {
                    p.Referenced = false;
                    p.Workingset = true;
                    p.Seq = maxSeq;
                }
            }
            if (maxSeq - minSeq + 1 == 4)
            {
                var oldest = ListOf(minSeq);
                while (oldest.Count > 0)
                {
                    var x = oldest.First!.Value;
                    var p = resident[x];
                    long to = p.Seq == minSeq ? minSeq + 1 : p.Seq;
                    if (p.Seq == minSeq) p.Referenced = false;
                    protectedPages[TierOf(p)]++;
                    Put(x, to, young: false);
                }
                NewPeriod();
                minSeq++;
            }
            maxSeq++;
        }

        ulong Evict()
        {
            for (;;)
            {
                if (maxSeq - minSeq + 1 <= 2)
                {
                    Age();
                    continue;
                }
                var oldest = ListOf(minSeq);
                if (oldest.Count == 0)
                {
                    long s = minSeq;
                    while (s + 2 <= maxSeq && ListOf(s).Count == 0) s++;
                    if (s != minSeq)
                    {
                        NewPeriod();
                        minSeq = s;
                    }
                    continue;
                }
                var x = oldest.First!.Value;
                var p = resident[x];
                if (p.Seq != minSeq)
                {
                    Put(x, p.Seq, young: true);
                    continue;
                }
                if (TierOf(p) > TierIndex())
                {
                    p.Referenced = false;
                    protectedPages[TierOf(p)]++;
                    Put(x, minSeq + 1, young: true);
                    continue;
                }
                if (!p.Accessed) return x;
                p.Accessed = false;
                if (!p.Referenced && !p.Workingset)
                {
                    p.Referenced = true;
                    Put(x, Math.Max(maxSeq - 1, minSeq), young: true);
                }
                else
                {
                    p.Referenced = false;
                    p.Workingset = true;
                    Put(x, maxSeq, young: true);
                }
            }
        }

        foreach (var x in pages)
        {
            if (resident.TryGetValue(x, out var hit))
            {
                hit.Accessed = true;
                continue;
            }
            misses++;
            if (resident.Count == c)
            {
                var v = Evict();
                var victim = resident[v];
                evicted[TierOf(victim)]++;
                shadows[v] = (minSeq, victim.Workingset);
                ListOf(victim.List).Remove(v);
                resident.Remove(v);
            }
            bool workingset = false;
            if (shadows.Remove(x, out var shadow) && Math.Abs(maxSeq - shadow.Seq) < 4)
            {
                refaulted[shadow.Workingset ? 3 : 0]++;
                workingset = shadow.Workingset;
            }
            long seq = Math.Max(workingset ? maxSeq : maxSeq - 1, minSeq);
            resident[x] = new Page { Seq = seq, List = seq, Accessed = true, Workingset = workingset };
            ListOf(seq).AddLast(x);
        }
        return misses;
    }
}
