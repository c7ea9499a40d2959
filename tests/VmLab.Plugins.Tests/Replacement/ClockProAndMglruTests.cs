using VmLab.Abstractions;
using VmLab.Plugins.Replacement;

namespace VmLab.Plugins.Tests.Replacement;

/// <summary>CLOCK-Pro's and MGLRU's rules on short strings, each step worked out by hand in the comments.</summary>
public sealed class ClockProAndMglruTests
{
    private const int FrameCount = 64;

    private static readonly ClockProOptions Paper = new() { Variant = ClockProVariant.Paper };

    private static (ClockProPolicy Policy, PolicyHarness Harness) ClockPro(int frames, ClockProOptions? options = null)
    {
        var p = new ClockProPolicy(FrameCount, options ?? new ClockProOptions());
        return (p, new PolicyHarness(p, frames));
    }

    // The harness names page x by the key x + 1.

    [Fact]
    public void ClockProAuthorsMakeTheFirstMMinusMcPagesHotAndPromoteAColdPageReferencedInItsTestPeriod()
    {
        var (p, h) = ClockPro(4);
        // m = 4, m_c = max(2, ⌊4·5/100⌋) = 2. 1, 2, 3, 4 arrive in that order, 3 is used again (the repeat right after
        // it is no reference). Miss 5: the first m - m_c = 2 pages, 1 and 2, are hot, 3 and 4 cold in their test
        // period; the list from the tail: 1 2 3 4. HAND_cold finds 3 referenced in its test period: HAND_hot demotes 1
        // (unreferenced) to the head, cold, and rests on 2; 3 turns hot at the head: 2 4 1 3. HAND_cold takes 4,
        // unreferenced: non-resident in its test period. 5 enters cold in its test period: 2 4' 1 3 5.
        h.Run([1, 2, 3, 4, 3, 3, 5]);

        Assert.True(p.IsHot(h.FrameOf(2)));
        Assert.True(p.IsHot(h.FrameOf(3)));
        Assert.False(p.IsHot(h.FrameOf(1)));
        Assert.False(p.InTest(h.FrameOf(1)));
        Assert.True(p.InTest(h.FrameOf(5)));
        Assert.True(p.IsNonResident(5));
        Assert.Equal((2, 2, 1), p.Counts);
        Assert.Equal([h.FrameOf(5), h.FrameOf(3), h.FrameOf(1), h.FrameOf(2)], p.ResidentFromHead());
        Assert.Equal(2, p.ColdTarget);
    }

    [Fact]
    public void ClockProAuthorsCountNoAccessRightAfterOneToTheSamePageAsAReference()
    {
        var (p, h) = ClockPro(4);
        h.Run([1, 2, 3, 3, 3]);
        Assert.False(p.IsReferenced(h.FrameOf(3))); // the fault and its repeats
        h.Run([2, 3]);
        Assert.True(p.IsReferenced(h.FrameOf(3)));

        var (paper, hp) = ClockPro(4, Paper);
        hp.Run([1, 2, 3, 3]);
        Assert.True(paper.IsReferenced(hp.FrameOf(3))); // the paper: every access after the fault
    }

    [Fact]
    public void ClockProAuthorsEvictAReferencedColdPageOutsideItsTestPeriod()
    {
        var (p, h) = ClockPro(4);
        // After the first test (2 4' 1 3 5, HAND_cold on 1): 1, cold outside its test period, is used. Miss 6: HAND_cold
        // evicts it all the same, and it leaves the list (no test period); HAND_cold moves on past hot 3 to 5.
        h.Run([1, 2, 3, 4, 3, 3, 5, 1, 6]);

        Assert.False(h.IsResident(1));
        Assert.False(p.IsNonResident(2));
        Assert.True(p.IsNonResident(5));
        Assert.Equal((2, 2, 1), p.Counts);
        Assert.Equal([h.FrameOf(6), h.FrameOf(5), h.FrameOf(3), h.FrameOf(2)], p.ResidentFromHead());
    }

    [Fact]
    public void ClockProAuthorsRefaultTurnsHotWhenHandHotDemotedAPageBeforePassingIt()
    {
        var (p, h) = ClockPro(4);
        // List 2 4' 3 5 6 (1 evicted as above). Miss 4: HAND_cold takes 5 (unreferenced, in its test period):
        // 2 4' 3 5' 6. 4 is still in its test period: HAND_hot, from 2, demotes 2 to the head (4' 3 5' 6 2; HAND_test,
        // which was on 2, moves on to 4'), then passes cold pages to rest on a hot page: it passes 4' and HAND_test,
        // which steps and drops 4'. So 4 comes in as a new page - hot, since a page was demoted on the way.
        h.Run([1, 2, 3, 4, 3, 3, 5, 1, 6, 4]);

        Assert.True(p.IsHot(h.FrameOf(4)));
        Assert.True(p.IsHot(h.FrameOf(3)));
        Assert.False(p.IsHot(h.FrameOf(2)));
        Assert.True(p.InTest(h.FrameOf(6)));
        Assert.True(p.IsNonResident(6));
        Assert.Equal((2, 2, 1), p.Counts);
        Assert.Equal([h.FrameOf(4), h.FrameOf(2), h.FrameOf(6), h.FrameOf(3)], p.ResidentFromHead());
    }

    [Fact]
    public void ClockProAuthorsRefaultReachedByHandHotFirstComesInColdAndEndsTheTestPeriodsPassed()
    {
        var (p, h) = ClockPro(4);
        // List 3 5' 6 2 4 (hot 3 and 4, HAND_hot and HAND_test on 3, HAND_cold on 6); 3 and 4 are used. Miss 5: HAND_cold
        // takes 6 (unreferenced): 3 5' 6' 2 4. HAND_hot spares 3 (bit reset, to the head: 5' 6' 2 4 3) and reaches 5'
        // before demoting anything; HAND_test, pushed along, drops 5' and 6' (their test periods end) and clears 2's bit;
        // HAND_hot rests on 4. 5 comes in as a new cold page in its test period; no page is non-resident.
        h.Run([1, 2, 3, 4, 3, 3, 5, 1, 6, 4, 3, 4, 5]);

        Assert.False(p.IsHot(h.FrameOf(5)));
        Assert.True(p.InTest(h.FrameOf(5)));
        Assert.True(p.IsHot(h.FrameOf(3)));
        Assert.True(p.IsHot(h.FrameOf(4)));
        Assert.False(p.IsNonResident(6));
        Assert.False(p.IsNonResident(7));
        Assert.Equal((2, 2, 0), p.Counts);
        Assert.Equal([h.FrameOf(5), h.FrameOf(3), h.FrameOf(4), h.FrameOf(2)], p.ResidentFromHead());
    }

    [Fact]
    public void ClockProAuthorsAdaptiveSpendsACreditOnADemotionWithoutAPromotion()
    {
        // m = 4, m_c = 2, at most 4 cold pages. Miss 5: 1 2 hot, 3 4 cold; HAND_cold takes 3 (non-resident): 1 2 3' 4 5.
        // Miss 3: HAND_cold takes 4; HAND_hot demotes 1 to the head (HAND_test moves on with it to 2) and rests on 2;
        // 3 turns hot: a refault in its test period, credit +1. List 2 4' 5 1 3. 5 is used. Miss 6: HAND_cold finds 5
        // referenced in its test period with a credit to spend (2 cold pages < 4): HAND_hot demotes 2 to the head, then
        // passes 4' (HAND_test drops it: credit -1, now 0) and 5 (its test period ends, its bit is cleared) and rests on
        // 3. Having demoted a page, the credit decided before HAND_hot ran is spent (-1): 5 is not promoted but evicted,
        // so 3 is the only hot page left.
        var (p, h) = ClockPro(4, new ClockProOptions { Adaptive = true, MaxColdPercent = 100 });
        h.Run([1, 2, 3, 4, 5, 3, 5, 6]);
        Assert.False(h.IsResident(5));
        Assert.True(p.IsHot(h.FrameOf(3)));
        Assert.False(p.IsHot(h.FrameOf(2)));
        Assert.Equal((1, 3, 0), p.Counts);

        // Fixed: the same HAND_hot run pairs its demotion with the promotion of 5, and HAND_cold takes 1 instead.
        var (f, hf) = ClockPro(4);
        hf.Run([1, 2, 3, 4, 5, 3, 5, 6]);
        Assert.True(f.IsHot(hf.FrameOf(5)));
        Assert.False(hf.IsResident(1));
        Assert.Equal((2, 2, 0), f.Counts);
    }

    [Fact]
    public void ClockProPaperMovesAReferencedColdPageOutsideItsTestPeriodToTheHeadWithoutStatusChange()
    {
        var (p, h) = ClockPro(4, Paper);
        // 1..4 enter cold in their test periods; 1 and 2 are used. Miss 5 (m = 4, m_c = 2): HAND_cold turns 1, then 2,
        // hot at the head (hot 2 <= m - m_c) and takes 3 (non-resident): 3' 4 1 2 5. Miss 3: HAND_cold takes 4: 3' 4' 1 2 5;
        // 3 turns hot at the head (4' 1 2 5 3): hot 3 > 2, so HAND_hot drops 4' (its test period ends) and demotes 1
        // (unreferenced since its promotion) to the head: 2 5 3 1, resting on hot 2. 1 is used. Miss 6: HAND_cold takes 5
        // (non-resident): 2 5' 3 1 6. Miss 7: HAND_cold finds 1 referenced outside its test period: bit reset, to the head,
        // still cold and not in a test period (2 5' 3 6 1); it takes 6: 2 5' 3 6' 1 7.
        h.Run([1, 2, 3, 4, 1, 2, 5, 3, 1, 6, 7]);

        Assert.True(h.IsResident(1));
        Assert.False(p.IsHot(h.FrameOf(1)));
        Assert.False(p.InTest(h.FrameOf(1)));
        Assert.False(p.IsReferenced(h.FrameOf(1)));
        Assert.True(p.IsNonResident(7));
        Assert.True(p.IsNonResident(6));
        Assert.Equal((2, 2, 2), p.Counts);
        Assert.Equal([h.FrameOf(7), h.FrameOf(1), h.FrameOf(3), h.FrameOf(2)], p.ResidentFromHead());
    }

    [Fact]
    public void ClockProPaperAdaptiveGrowsTheColdShareOnAnAccessInTheTestPeriodAndShrinksItWhenHandHotEndsOne()
    {
        var (p, h) = ClockPro(4, Paper with { Adaptive = true });
        // 1..4 cold in their test periods; 1 is used. Miss 5 (m = 4, m_c = 2): HAND_cold finds 1 referenced in its test
        // period: hot at the head, m_c = 3 (hot 1 <= m - m_c); it takes 2 (non-resident): 2' 3 4 1 5.
        h.Run([1, 2, 3, 4, 1, 5]);
        Assert.Equal(3, p.ColdTarget);
        Assert.True(p.IsHot(h.FrameOf(1)));
        Assert.Equal((1, 3, 1), p.Counts);

        // Miss 2: HAND_cold takes 3: 2' 3' 4 1 5. 2 refaults in its test period: hot at the head, m_c = 4 (3' 4 1 5 2). Hot
        // 2 > m - m_c = 0: HAND_hot ends 3''s test period and drops it (m_c = 3), ends 4's (m_c = 2): hot 2 <= 2; it rests
        // on hot 1.
        h.Run([2]);
        Assert.Equal(2, p.ColdTarget);
        Assert.True(p.IsHot(h.FrameOf(2)));
        Assert.False(p.InTest(h.FrameOf(4)));
        Assert.True(p.InTest(h.FrameOf(5)));
        Assert.Equal((2, 2, 0), p.Counts);
    }

    [Fact]
    public void ClockProPaperWithoutAdaptationKeepsTheColdShare()
    {
        var (p, h) = ClockPro(4, Paper with { ColdPercent = 50, MinColdPages = 1 });
        // m_c = ⌊4·50/100⌋ = 2 throughout. As above, but the refault of 2 leaves hot 2 <= m - m_c: HAND_hot does not run
        // and 3 stays non-resident in its test period.
        h.Run([1, 2, 3, 4, 1, 5, 2]);
        Assert.Equal(2, p.ColdTarget);
        Assert.True(p.IsHot(h.FrameOf(2)));
        Assert.True(p.IsNonResident(4));
        Assert.Equal((2, 2, 1), p.Counts);
    }

    [Theory]
    [InlineData(ClockProVariant.Authors)]
    [InlineData(ClockProVariant.Paper)]
    public void ClockProKeepsAtMostMNonResidentPages(ClockProVariant variant)
    {
        var (p, h) = ClockPro(4, new ClockProOptions { Variant = variant });
        foreach (int page in Enumerable.Range(1, 40).Concat(Enumerable.Range(1, 40)))
        {
            h.Access(page);
            Assert.InRange(p.Counts.NonResident, 0, 4);
        }
        Assert.True(p.Counts.NonResident > 0);
    }

    [Theory]
    [InlineData(ClockProVariant.Authors)]
    [InlineData(ClockProVariant.Paper)]
    public void ClockProKeepsAHotSetThroughScans(ClockProVariant variant)
    {
        var (_, h) = ClockPro(8, new ClockProOptions { Variant = variant });
        h.Run(PolicyTests.HotSetAndScans());
        // LRU loses the hot set to every scan (420 misses); the optimum is 304.
        Assert.InRange(h.Misses, 304, 304 + 8);
    }

    [Theory]
    [InlineData(ClockProVariant.Authors)]
    [InlineData(ClockProVariant.Paper)]
    public void ClockProAllocatesNothingPerAccess(ClockProVariant variant)
    {
        var p = new ClockProPolicy(FrameCount, new ClockProOptions { Variant = variant });
        for (ulong f = 0; f < 16; f++) p.OnResident(f, f + 1);
        for (ulong f = 0; f < 16; f++) p.OnAccess(f); // warm up (JIT)
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 100_000; i++) p.OnAccess((ulong)(i % 16));
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    private static (MglruPolicy Policy, PolicyHarness Harness) Mglru(int frames)
    {
        var p = new MglruPolicy(new FrameLinks(FrameCount));
        return (p, new PolicyHarness(p, frames));
    }

    [Fact]
    public void MglruAgingMarksAYoungPageReferencedAndPromotesItOnlyWhenYoungAgain()
    {
        var (p, h) = Mglru(3);
        // max_seq 3, min_seq 0: 1, 2, 3 arrive (active, in a fault) in generation max_seq - 1 = 2. Miss 4: generations 0
        // and 1 are empty (min_seq 2), two are left: aging finds 1, 2, 3 young (their faults) and only marks them
        // PG_referenced; max_seq 4. Generation 2's oldest page, 1, is no longer young: the victim. 4 joins generation 3.
        h.Run([1, 2, 3, 4]);
        Assert.False(h.IsResident(1));
        Assert.True(p.IsReferenced(h.FrameOf(2)));
        Assert.Equal(2, p.GenerationOf(h.FrameOf(2)));
        Assert.Equal(3, p.GenerationOf(h.FrameOf(4)));
        Assert.Equal((2, 4), p.Seq);

        // 2 is used again. Miss 5: the eviction finds 2 young with PG_referenced: activated to max_seq 4 with
        // PG_workingset; 3 is not young: the victim.
        h.Run([2, 5]);
        Assert.False(h.IsResident(3));
        Assert.True(p.IsWorkingset(h.FrameOf(2)));
        Assert.False(p.IsReferenced(h.FrameOf(2)));
        Assert.Equal(4, p.GenerationOf(h.FrameOf(2)));
    }

    [Fact]
    public void MglruRefaultGoesToTheYoungestGenerationOnlyWithWorkingset()
    {
        var (p, h) = Mglru(3);
        // After 1..5 as above (2 in generation 4 with PG_workingset, 4 and 5 in generation 3): miss 6 retires the empty
        // generation 2 (min_seq 3), ages (4, 5 get PG_referenced; max_seq 5) and evicts 4 (shadow: min_seq 3, no
        // workingset). Miss 4 evicts 5; 4's shadow is recent (|5 - 3| < 4) without PG_workingset: generation max_seq - 1.
        h.Run([1, 2, 3, 4, 2, 5, 6, 4]);
        Assert.False(h.IsResident(5));
        Assert.Equal(4, p.GenerationOf(h.FrameOf(4)));
        Assert.False(p.IsWorkingset(h.FrameOf(4)));

        // Miss 7 retires generation 3 (min_seq 4), ages (6, 4 get PG_referenced; max_seq 6) and evicts 2, the oldest of
        // generation 4 (tier 3, not protected: fewer than 64 refaults); its shadow keeps PG_workingset. Miss 2 evicts 6;
        // 2 refaults recently with PG_workingset: generation max_seq 6, PG_workingset again.
        h.Run([7, 2]);
        Assert.False(h.IsResident(6));
        Assert.Equal(6, p.GenerationOf(h.FrameOf(2)));
        Assert.True(p.IsWorkingset(h.FrameOf(2)));
        Assert.Equal((4, 6), p.Seq);
    }

    [Fact]
    public void MglruKeepsBetweenTwoAndFourGenerations()
    {
        var (p, h) = Mglru(6);
        var random = new Random(7);
        for (int i = 0; i < 5000; i++)
        {
            h.Access(random.Next(20));
            var (min, max) = p.Seq;
            Assert.InRange(max - min + 1, MglruPolicy.MinNrGens, MglruPolicy.MaxNrGens);
        }
    }
}
