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
}
