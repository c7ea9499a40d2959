using VmLab.Abstractions;
using VmLab.Plugins.Replacement;

namespace VmLab.Plugins.Tests.Replacement;

/// <summary>CLOCK-Pro's and MGLRU's rules on short strings, each step worked out by hand in the comments.</summary>
public sealed class ClockProAndMglruTests
{
    private const int FrameCount = 64;

    private static (ClockProPolicy Policy, PolicyHarness Harness) ClockPro(int frames, ClockProOptions? options = null)
    {
        var p = new ClockProPolicy(FrameCount, options ?? new ClockProOptions());
        return (p, new PolicyHarness(p, frames));
    }

    [Fact]
    public void ClockProColdPageAccessedInItsTestPeriodTurnsHotAndGrowsTheColdShare()
    {
        var (p, h) = ClockPro(3);
        // 1, 2, 3 enter cold in their test periods; 1 is accessed again. Miss 4: m = 3, m_c = max(1, 1% of 3) = 1.
        // HAND_cold finds 1 referenced in its test period: hot, m_c = 2, to the list head (hot 1 <= m - m_c = 1, HAND_hot
        // rests); then 2, unreferenced: the victim, kept as a non-resident page in its test period.
        h.Run([1, 2, 3, 1, 4]);

        Assert.True(p.IsHot(h.FrameOf(1)));
        Assert.False(h.IsResident(2));
        Assert.Equal(2, p.ColdTarget);
        Assert.Equal((1, 2, 1), p.Counts);
        Assert.True(p.InTest(h.FrameOf(4)));
    }

    [Fact]
    public void ClockProRefaultInTheTestPeriodTurnsHotAndHandHotDemotesAndEndsTestPeriods()
    {
        var (p, h) = ClockPro(3);
        // As above, then miss 2: HAND_cold takes 3 (unreferenced, kept non-resident); 2 is still in the list in its
        // test period: it turns hot at the head, m_c = 3. HAND_hot runs while hot (2) > m - m_c (0): the non-resident 3
        // ends its test period (m_c = 2) and leaves; hot 1, unreferenced since it turned hot, turns cold (hot 1 = 3 - 2).
        h.Run([1, 2, 3, 1, 4, 2]);

        Assert.True(p.IsHot(h.FrameOf(2)));
        Assert.False(p.IsHot(h.FrameOf(1)));
        Assert.False(p.InTest(h.FrameOf(1)));
        Assert.Equal(2, p.ColdTarget);
        Assert.Equal((1, 2, 0), p.Counts);
        Assert.Equal(5, h.Misses);
    }

    [Fact]
    public void ClockProKeepsAtMostMNonResidentPages()
    {
        var (p, h) = ClockPro(4);
        foreach (int page in Enumerable.Range(1, 40))
        {
            h.Access(page);
            Assert.InRange(p.Counts.NonResident, 0, 4);
        }
        Assert.True(p.Counts.NonResident > 0);
    }

    [Fact]
    public void ClockProWithoutAdaptationKeepsItsInitialColdShare()
    {
        var (p, h) = ClockPro(3, new ClockProOptions { Adaptive = false, InitialColdPercent = 34 });
        h.Run([1, 2, 3, 1, 4, 2]); // m_c = ⌊3·34/100⌋ = 1 throughout
        Assert.Equal(1, p.ColdTarget);
        Assert.True(p.IsHot(h.FrameOf(2)));
    }

    [Fact]
    public void ClockProKeepsAHotSetThroughScans()
    {
        var (_, h) = ClockPro(8);
        h.Run(PolicyTests.HotSetAndScans());
        // LRU loses the hot set to every scan (420 misses); the optimum is 304.
        Assert.InRange(h.Misses, 304, 304 + 8);
    }

    [Fact]
    public void ClockProAllocatesNothingPerAccess()
    {
        var p = new ClockProPolicy(FrameCount, new ClockProOptions());
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
