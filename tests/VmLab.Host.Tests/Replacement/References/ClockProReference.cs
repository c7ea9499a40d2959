namespace VmLab.Host.Tests.Replacement.References;

/// <summary>
/// CLOCK-Pro (Jiang, Chen, Zhang, USENIX ATC 2005, §4) over a stream of page numbers with m frames, written from the
/// rules docs/replacement.md lists for each variant and independent of the plugin: the clock is a list of pages in
/// recency order (index 0 the list tail, the last index the list head, where pages are placed); a hand moves towards
/// the head and from the head back to the tail; each hand is a reference to the page it rests on. m_c =
/// min(m, max(minCold, ⌊m·coldPercent/100⌋)).
/// <para><b>authors</b> (the authors' clock-pro.c): a reference to the page referenced just before is skipped; the first
/// m − m_c pages enter hot, later new pages cold in their test period. HAND_cold evicts a page whose bit is clear or
/// which is not in its test period; a referenced page in its test period is promoted unless HAND_hot, demoting one hot
/// page, reaches it first. HAND_hot moves hot pages to the head (spared with the bit reset, or demoted), passes cold
/// pages, and makes HAND_test step whenever it has just passed it; a HAND_test step ends a cold page's test period,
/// clears its bit and drops it if non-resident. A fault on a non-resident page in the clock after HAND_cold: HAND_hot
/// for it; promoted unless reached (then a new page, hot if HAND_hot demoted one). At most m non-resident pages.
/// With adaptive, credits: +1 for a refault that turns hot, −1 for a non-resident page HAND_test drops; HAND_cold, at a
/// referenced page in its test period, first zeroes a positive balance when the cold pages (m − hot) reach the upper
/// bound and a negative one when they are down to m_c; below zero it promotes the page without HAND_hot (+1); above
/// zero (as it was before HAND_hot ran) HAND_hot's demotion is not paired: the page goes to the head cold in a new
/// test period and the page after it gets its bit set (−1), or, if HAND_hot reached it, it is evicted (−1 if a page
/// was demoted).</para>
/// <para><b>paper</b>: every reference after the faulting one sets the bit; new pages enter cold in their test period;
/// HAND_cold evicts an unreferenced page, promotes a referenced one in its test period (m_c + 1 if adaptive), and moves a
/// referenced one outside it to the head with its bit reset. A fault on a non-resident page turns it hot (m_c + 1).
/// After a promotion HAND_hot runs while more than m − m_c pages are hot, then on to a hot page; it ends the test
/// periods of the cold pages it passes (m_c − 1 if adaptive, not below min(minCold, m)) and drops non-resident ones.
/// HAND_test does the same while more than m pages are non-resident.</para>
/// </summary>
public static class ClockProReference
{
    private sealed class Page(ulong id)
    {
        public readonly ulong Id = id;
        public bool Hot, Test, Resident = true, Ref;
    }

    private sealed class Clock(int m, int mc, bool adaptive, int minCold)
    {
        public readonly List<Page> Pages = [];
        public readonly Dictionary<ulong, Page> ById = [];
        public Page? HandHot, HandCold, HandTest;
        public int M = m, Mc = mc, HotCount, ResidentCount, NonResident;
        /// <summary>authors with adaptive: the cold allocation's upper bound and the credits HAND_cold spends.</summary>
        public int MaxCold, Credits;
        public bool CreditsOn;

        public Page Forward(Page p)
        {
            int i = Pages.IndexOf(p);
            return Pages[i == Pages.Count - 1 ? 0 : i + 1];
        }

        public Page Backward(Page p)
        {
            int i = Pages.IndexOf(p);
            return Pages[i == 0 ? Pages.Count - 1 : i - 1];
        }

        public void AddAtHead(Page p)
        {
            Pages.Add(p);
            ById[p.Id] = p;
            HandHot ??= p;
            HandCold ??= p;
            HandTest ??= p;
        }

        /// <summary>Takes the page out; a hand on it moves to the page after it.</summary>
        public void Remove(Page p)
        {
            Page? next = Pages.Count == 1 ? null : Forward(p);
            if (HandHot == p) HandHot = next;
            if (HandCold == p) HandCold = next;
            if (HandTest == p) HandTest = next;
            Pages.Remove(p);
            ById.Remove(p.Id);
        }

        public void ToHead(Page p)
        {
            Remove(p);
            AddAtHead(p);
        }

        public Page ColdHand()
        {
            while (HandCold!.Hot || !HandCold.Resident) HandCold = Forward(HandCold);
            return HandCold;
        }

        public void Grow()
        {
            if (adaptive) Mc = Math.Min(Mc + 1, M);
        }

        public void Shrink()
        {
            if (adaptive) Mc = Math.Max(Mc - 1, Math.Min(minCold, M));
        }
    }

    public static long Misses(IReadOnlyList<ulong> pages, int m, bool authors = true, int coldPercent = 5, int minCold = 2, bool adaptive = false,
        int maxColdPercent = 5)
    {
        int Share(int percent) => Math.Min(m, Math.Max(minCold, m * percent / 100));
        var c = new Clock(m, Share(coldPercent), adaptive && !authors, minCold)
        {
            MaxCold = maxColdPercent < coldPercent ? Share(coldPercent) : Share(maxColdPercent),
            CreditsOn = adaptive && authors,
        };
        bool credits = adaptive && authors;
        long misses = 0;
        ulong? last = null;
        foreach (var x in pages)
        {
            if (authors)
            {
                if (x == last) continue; // a repeat: a hit that the authors' simulator skips
                last = x;
            }
            if (c.ById.TryGetValue(x, out var page) && page.Resident)
            {
                page.Ref = true;
                continue;
            }
            misses++;
            if (authors) AuthorsMiss(c, x, credits);
            else PaperMiss(c, x);
        }
        return misses;
    }

    // ---- authors ----------------------------------------------------------------------------------------

    private static void AuthorsMiss(Clock c, ulong x, bool credits)
    {
        if (c.ResidentCount < c.M)
        {
            bool hot = c.ResidentCount < c.M - c.Mc;
            c.AddAtHead(new Page(x) { Hot = hot, Test = !hot });
            c.ResidentCount++;
            if (hot) c.HotCount++;
            return;
        }
        AuthorsHandCold(c, credits);
        c.ResidentCount++;
        bool newHot = false;
        if (c.ById.TryGetValue(x, out var page))
        {
            var (met, demoted) = AuthorsHandHot(c, page);
            if (credits && (!met || demoted)) c.Credits++; // it turns hot: a refault in its test period
            if (!met)
            {
                page.Resident = true;
                page.Hot = true;
                page.Test = false;
                page.Ref = false;
                c.NonResident--;
                c.HotCount++;
                c.ToHead(page);
                return;
            }
            newHot = demoted;
        }
        c.AddAtHead(new Page(x) { Hot = newHot, Test = !newHot });
        if (newHot) c.HotCount++;
    }

    private static void AuthorsHandCold(Clock c, bool credits)
    {
        for (;;)
        {
            var p = c.ColdHand();
            if (!p.Ref || !p.Test)
            {
                Evict(c, p);
                if (c.NonResident > c.M)
                {
                    while (c.HandTest!.Resident)
                    {
                        if (!c.HandTest.Hot)
                        {
                            c.HandTest.Test = false;
                            c.HandTest.Ref = false;
                        }
                        c.HandTest = c.Forward(c.HandTest);
                    }
                    AuthorsTestStep(c);
                }
                return;
            }
            if (credits)
            {
                int coldPages = c.M - c.HotCount;
                if (c.Credits > 0 && coldPages >= c.MaxCold) c.Credits = 0;
                if (c.Credits < 0 && coldPages <= c.Mc) c.Credits = 0;
            }
            if (c.Credits < 0)
            {
                // Promoted without HAND_hot.
                p.Hot = true;
                p.Test = false;
                p.Ref = false;
                c.HotCount++;
                c.ToHead(p);
                c.Credits++;
                continue;
            }
            bool moreCold = c.Credits > 0;
            var (met, demoted) = AuthorsHandHot(c, p);
            if (moreCold)
            {
                if (met)
                {
                    p.Ref = false;
                    if (demoted) c.Credits--;
                    continue; // evicted next
                }
                // HAND_hot demoted a page; this one stays cold, to the head in a new test period, and the page after
                // it gets its reference bit set (what clock-pro.c does).
                var after = c.Forward(p);
                p.Ref = false;
                p.Test = true;
                c.ToHead(p);
                if (after.Resident) after.Ref = true;
                c.Credits--;
                continue;
            }
            if (met && !demoted) continue; // its test period ended, its bit was cleared: evicted next
            p.Hot = true;
            p.Test = false;
            p.Ref = false;
            c.HotCount++;
            c.ToHead(p);
        }
    }

    private static (bool Met, bool Demoted) AuthorsHandHot(Clock c, Page trigger)
    {
        bool met = false, demoted = false;
        while (!(met || demoted) || (c.HotCount > 0 && !c.HandHot!.Hot))
        {
            var h = c.HandHot!;
            if (h.Hot)
            {
                if (h.Ref) h.Ref = false;
                else
                {
                    h.Hot = false;
                    c.HotCount--;
                    demoted = true;
                }
                c.ToHead(h);
            }
            else
            {
                if (h == trigger) met = true;
                c.HandHot = c.Forward(h);
            }
            if (c.Backward(c.HandHot!) == c.HandTest) AuthorsTestStep(c);
        }
        return (met, demoted);
    }

    private static void AuthorsTestStep(Clock c)
    {
        var t = c.HandTest!;
        c.HandTest = c.Forward(t);
        if (t.Hot) return;
        if (c.CreditsOn && !t.Resident) c.Credits--; // a non-resident page's test period ends
        t.Test = false;
        t.Ref = false;
        if (!t.Resident)
        {
            c.Remove(t);
            c.NonResident--;
        }
    }

    // ---- paper ------------------------------------------------------------------------------------------

    private static void PaperMiss(Clock c, ulong x)
    {
        if (c.ResidentCount == c.M) PaperHandCold(c);
        c.ResidentCount++;
        if (c.ById.TryGetValue(x, out var page))
        {
            page.Resident = true;
            page.Hot = true;
            page.Test = false;
            page.Ref = false;
            c.NonResident--;
            c.HotCount++;
            c.Grow();
            c.ToHead(page);
            PaperHandHot(c);
            return;
        }
        c.AddAtHead(new Page(x) { Test = true });
    }

    private static void PaperHandCold(Clock c)
    {
        for (;;)
        {
            var p = c.ColdHand();
            if (!p.Ref)
            {
                Evict(c, p);
                while (c.NonResident > c.M)
                {
                    var t = c.HandTest!;
                    c.HandTest = c.Forward(t);
                    if (!t.Hot) PaperEndTest(c, t);
                }
                return;
            }
            p.Ref = false;
            if (p.Test)
            {
                p.Hot = true;
                p.Test = false;
                c.HotCount++;
                c.Grow();
                c.ToHead(p);
                PaperHandHot(c);
            }
            else c.ToHead(p);
        }
    }

    private static void PaperHandHot(Clock c)
    {
        if (c.HotCount <= c.M - c.Mc) return;
        while (c.HotCount > c.M - c.Mc) PaperHotStep(c);
        while (c.HotCount > 0 && !c.HandHot!.Hot) PaperHotStep(c);
    }

    private static void PaperHotStep(Clock c)
    {
        var h = c.HandHot!;
        if (h.Hot)
        {
            if (h.Ref) h.Ref = false;
            else
            {
                h.Hot = false;
                c.HotCount--;
            }
            c.ToHead(h);
            return;
        }
        c.HandHot = c.Forward(h);
        PaperEndTest(c, h);
    }

    private static void PaperEndTest(Clock c, Page p)
    {
        if (!p.Test) return;
        p.Test = false;
        c.Shrink();
        if (!p.Resident)
        {
            c.Remove(p);
            c.NonResident--;
        }
    }

    // ---- both -------------------------------------------------------------------------------------------

    /// <summary>The victim leaves memory: it stays in the clock, non-resident, if in its test period; HAND_cold moves on at once.</summary>
    private static void Evict(Clock c, Page p)
    {
        c.ResidentCount--;
        p.Resident = false;
        p.Ref = false;
        if (p.Test)
        {
            c.NonResident++;
            c.HandCold = c.Forward(p);
        }
        else c.Remove(p);
        if (c.ResidentCount > c.HotCount) c.ColdHand(); // it rests on the next resident cold page
    }
}
