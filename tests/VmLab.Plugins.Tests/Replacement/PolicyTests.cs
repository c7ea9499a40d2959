using VmLab.Abstractions;
using VmLab.Abstractions.Replacement;
using VmLab.Plugins.Replacement;

namespace VmLab.Plugins.Tests.Replacement;

public sealed class PolicyTests
{
    private const int FrameCount = 64;

    /// <summary>Per round: 4 hot pages read twice, then 10 pages never used again. 30 rounds: 4 + 300 distinct pages.</summary>
    public static IEnumerable<int> HotSetAndScans(int rounds = 30)
    {
        int scan = 100;
        for (int round = 0; round < rounds; round++)
        {
            for (int h = 0; h < 4; h++) yield return h;
            for (int h = 0; h < 4; h++) yield return h;
            for (int s = 0; s < 10; s++) yield return scan++;
        }
    }

    private static long Misses(IReplacementPolicy policy, IEnumerable<int> pages, int frames)
    {
        var h = new PolicyHarness(policy, frames);
        h.Run(pages);
        return h.Misses;
    }

    [Fact]
    public void LruLosesTheHotSetToEveryScanLongerThanTheFreeFrames() =>
        Assert.Equal(30 * 14, Misses(new LruPolicy(new FrameLinks(FrameCount)), HotSetAndScans(), 8));

    [Theory]
    [InlineData("arc")]
    [InlineData("2q")]
    [InlineData("lirs")]
    public void ScanResistantPoliciesKeepTheHotSet(string name)
    {
        IReplacementPolicy p = name switch
        {
            "arc" => new ArcPolicy(new FrameLinks(FrameCount)),
            // Kout must remember a hot page across one scan's ten evictions to promote it to Am.
            "2q" => new TwoQueuePolicy(new FrameLinks(FrameCount), new TwoQueueOptions { KoutPercent = 200 }),
            _ => new LirsPolicy(FrameCount, new LirsOptions()),
        };
        // The optimum is 304 (each distinct page once); allow the warm-up round to cost the hot set once more.
        long misses = Misses(p, HotSetAndScans(), 8);
        Assert.InRange(misses, 304, 304 + 4);
    }

    [Fact]
    public void TwoQWithTheSuggestedKoutForgetsAHotPageBeforeItReturns()
    {
        // Kout = 50% of 8 frames = 4 keys, but ten scan pages are evicted between two rounds: the hot pages never reach Am.
        Assert.Equal(30 * 14, Misses(new TwoQueuePolicy(new FrameLinks(FrameCount), new TwoQueueOptions()), HotSetAndScans(), 8));
    }

    [Fact]
    public void FifoShowsBeladysAnomaly()
    {
        int[] refs = [1, 2, 3, 4, 1, 2, 5, 1, 2, 3, 4, 5];
        Assert.Equal(9, Misses(new FifoPolicy(new FrameLinks(FrameCount)), refs, 3));
        Assert.Equal(10, Misses(new FifoPolicy(new FrameLinks(FrameCount)), refs, 4));
    }

    [Fact]
    public void ClockGivesAReferencedPageASecondChance()
    {
        // 1,2,3 loaded (all referenced); the scan for 4 clears every bit and comes back to 1, which goes.
        // Then 2 is touched again (bit set) and 5 arrives: the hand passes 2 (second chance) and takes 3.
        var h = new PolicyHarness(new ClockPolicy(new FrameLinks(FrameCount)), 3);
        h.Run([1, 2, 3, 4, 2, 5]);
        Assert.False(h.IsResident(1));
        Assert.True(h.IsResident(2));
        Assert.False(h.IsResident(3));
        Assert.True(h.IsResident(4) && h.IsResident(5));
    }

    [Fact]
    public void NruPrefersACleanUnreferencedPageOverADirtyOne()
    {
        var h = new PolicyHarness(new NruPolicy(new FrameLinks(FrameCount)), 3);
        h.Access(1, write: true);
        h.Access(2, write: false);
        h.Access(3, write: true);
        h.Access(4); // all referenced: the second pass clears A; then (0,0) is page 2, the only clean one
        Assert.False(h.IsResident(2));
        Assert.True(h.IsResident(1) && h.IsResident(3));
    }

    [Fact]
    public void TwoListActivatesAPageReferencedTwiceAndEvictsTheOnceReferenced()
    {
        var h = new PolicyHarness(new TwoListPolicy(new FrameLinks(FrameCount)), 3);
        h.Run([1, 2, 3]);
        h.Access(4); // every page referenced once: marked and rotated; then the first unreferenced inactive page goes (1)
        Assert.False(h.IsResident(1));
        h.Access(2); // 2 referenced again while marked
        h.Access(5); // 2 is activated, 3 (marked, not referenced since) is reclaimed
        Assert.True(h.IsResident(2));
        Assert.False(h.IsResident(3));
    }

    [Fact]
    public void RandomIsReproducibleFromItsSeed()
    {
        var refs = Enumerable.Range(0, 2000).Select(i => (i * 7919) % 37).ToArray();
        long a = Misses(new RandomPolicy(FrameCount, 42), refs, 8);
        long b = Misses(new RandomPolicy(FrameCount, 42), refs, 8);
        long c = Misses(new RandomPolicy(FrameCount, 43), refs, 8);
        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
    }

    [Fact]
    public void CarPromotesAPageReferencedAfterItArrivedAndEvictsOneThatWasNot()
    {
        var h = new PolicyHarness(new CarPolicy(new FrameLinks(FrameCount)), 3);
        h.Run([1, 2, 3]);
        h.Access(4); // the Accessed bits of the faulting accesses are not references: each page is passed once, then 1 goes
        Assert.False(h.IsResident(1));
        h.Access(2); // a real reference
        h.Access(5); // the hand promotes 2 to T2 and evicts 3, unreferenced since it was passed
        Assert.True(h.IsResident(2));
        Assert.False(h.IsResident(3));
        Assert.True(h.IsResident(4) && h.IsResident(5));
    }

    [Fact]
    public void ArcAdaptsPBeforeReplaceWhenTheArrivingPageIsKnownAndAfterItInBackgroundReclaim()
    {
        // Two frames. 1,1: 1 in T2. 2: T1 = [2]. 3: REPLACE with p = 0 evicts 2 to B1. 2 again is a B1 hit (case II):
        // p grows to 1 first, so REPLACE finds |T1| = 1 not above p and evicts T2's page 1 (Fig. 4). Choosing the victim
        // before p adapts (background reclaim, no arriving page) evicts T1's page 3 instead.
        var paper = new ArcPolicy(new FrameLinks(FrameCount));
        var h = new PolicyHarness(paper, 2);
        h.Run([1, 1, 2, 3, 2]);
        Assert.True(h.IsResident(3) && h.IsResident(2));
        Assert.False(h.IsResident(1));
        Assert.Equal(1.0, paper.P);

        var background = new PolicyHarness(new ArcPolicy(new FrameLinks(FrameCount)), 2, background: true);
        background.Run([1, 1, 2, 3, 2]);
        Assert.True(background.IsResident(1) && background.IsResident(2));
        Assert.False(background.IsResident(3));
    }

    [Fact]
    public void TwoQLooksUpTheArrivingPageInA1outBeforeReclaimForTrimsIt()
    {
        // Four slots: Kin = 1, Kout = 2. 5, 6, 7 page 1, 2, 3 out of A1in; A1out = [3, 2] (1 dropped). Page 2 returns:
        // it is found in A1out, then reclaimfor pages 4 out and trims A1out's tail, which is 2 itself; 2 still enters Am,
        // so the next four misses take A1in's pages and leave it. Looked up after the trim (background reclaim), 2 is
        // forgotten, enters A1in and is paged out by the fourth miss.
        var h = new PolicyHarness(new TwoQueuePolicy(new FrameLinks(FrameCount), new TwoQueueOptions()), 4);
        h.Run([1, 2, 3, 4, 5, 6, 7, 2, 8, 9, 10, 11]);
        Assert.True(h.IsResident(2));

        var background = new PolicyHarness(new TwoQueuePolicy(new FrameLinks(FrameCount), new TwoQueueOptions()), 4, background: true);
        background.Run([1, 2, 3, 4, 5, 6, 7, 2, 8, 9, 10, 11]);
        Assert.False(background.IsResident(2));
    }

    [Theory]
    [InlineData(true, 1)]
    [InlineData(false, 2)]
    public void TextbookClockArrivesReferencedOrNotAsConfigured(bool referenceOnInsert, int evicted)
    {
        // 1, 2, 3 arrive, 1 is hit, 4 misses. Arriving referenced, every bit is set: the hand clears them all and comes
        // back to 1. Arriving clear, only the hit page 1 is passed and 2 goes.
        var clock = new ClockPolicy(new FrameLinks(FrameCount), new ClockOptions { Mode = ClockMode.Textbook, ReferenceOnInsert = referenceOnInsert });
        Assert.Equal(ReplacementInput.EveryAccess, clock.Input);
        var h = new PolicyHarness(clock, 3);
        h.Run([1, 2, 3, 1, 4]);
        Assert.False(h.IsResident(evicted));
        Assert.Equal(3, new[] { 1, 2, 3, 4 }.Count(h.IsResident));
    }

    [Fact]
    public void SieveLeavesSurvivorsInPlaceSoANewPageBehindTheHandGoesFirst()
    {
        // 1, 2, 3, then 1 is hit; 4: the hand clears 1 and evicts 2, resting on 3. 3 is hit; 5: the hand clears 3 and
        // takes 4, the newest page, while 1 (passed over, not moved) stays. CLOCK would have moved 1 behind 4 and taken it.
        var h = new PolicyHarness(new SievePolicy(new FrameLinks(FrameCount)), 3);
        h.Run([1, 2, 3, 1, 4, 3, 5]);
        Assert.True(h.IsResident(1) && h.IsResident(3) && h.IsResident(5));
        Assert.False(h.IsResident(4));

        var clock = new PolicyHarness(new ClockPolicy(new FrameLinks(FrameCount), new ClockOptions { Mode = ClockMode.Textbook, ReferenceOnInsert = false }), 3);
        clock.Run([1, 2, 3, 1, 4, 3, 5]);
        Assert.False(clock.IsResident(1));
    }

    [Fact]
    public void S3FifoMovesTwiceHitPagesAndGhostHitsToMainWhereAScanCannotReachThem()
    {
        // Ten frames, S is 10%. Page 1 is hit twice in S: at S's tail it moves to M. Page 2 is seen once: evicted into G;
        // when it comes back it enters M. A scan of one-hit pages is then filtered by S alone and both survive it.
        var h = new PolicyHarness(new S3FifoPolicy(new FrameLinks(FrameCount), new S3FifoOptions()), 10);
        h.Run([1, 1, 1, .. Enumerable.Range(2, 9), 11, 2]);
        Assert.True(h.IsResident(1) && h.IsResident(2));
        Assert.False(h.IsResident(3));
        h.Run(Enumerable.Range(100, 50));
        Assert.True(h.IsResident(1) && h.IsResident(2));

        var fifo = new PolicyHarness(new FifoPolicy(new FrameLinks(FrameCount)), 10);
        fifo.Run([1, 1, 1, .. Enumerable.Range(2, 9), 11, 2, .. Enumerable.Range(100, 50)]);
        Assert.False(fifo.IsResident(1) || fifo.IsResident(2));
    }

    /// <summary>Accessed bits the test sets by hand.</summary>
    private sealed class Bits : IReclaimView
    {
        public readonly HashSet<ulong> Accessed = [];
        public bool TestAndClearAccessed(ulong pfn, bool clear) => clear ? Accessed.Remove(pfn) : Accessed.Contains(pfn);
        public bool IsDirty(ulong pfn) => false;
    }

    [Theory]
    [InlineData(true, 2)]
    [InlineData(false, 1)]
    public void TwoListActivatesARefaultWhoseDistanceFitsInTheActiveList(bool workingset, int active)
    {
        var p = new TwoListPolicy(new FrameLinks(FrameCount), new TwoListOptions { Workingset = workingset });
        var v = new Bits();
        foreach (ulong pfn in (ulong[])[1, 2, 3]) p.OnResident(pfn, 0);
        v.Accessed.Add(1);
        Assert.True(p.TrySelectVictim(v, out ulong victim)); // 1 is marked and rotated, 2 goes
        Assert.Equal(2UL, victim);
        p.OnEvicted(2, 102); // shadow: age 0; the clock is 1
        v.Accessed.UnionWith([1, 3]);
        Assert.True(p.TrySelectVictim(v, out victim)); // 3 marked and rotated, 1 activated (clock 2), then 3 goes
        Assert.Equal(3UL, victim);
        p.OnEvicted(3, 103); // shadow: age 2; the clock is 3
        Assert.Equal(1, p.ActiveCount);

        p.OnResident(4, 102); // refault distance 3 - 0 = 3 > 1 active page: inactive
        p.OnResident(5, 103); // refault distance 3 - 2 = 1 <= 1: activated at once (without workingset: inactive)
        Assert.Equal(active, p.ActiveCount);
    }
}
