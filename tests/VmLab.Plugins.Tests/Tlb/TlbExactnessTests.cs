using VmLab.Host.Running;

namespace VmLab.Plugins.Tests.Tlb;

/// <summary>
/// <c>tlb.misses</c> of the real configs, run through the host from JSON on the committed <c>ls</c> trace, against a
/// textbook cache of page numbers fed the same page stream (parsed here, independently of the Lackey plugin).
/// </summary>
public sealed class TlbExactnessTests(LsTracePages trace) : IClassFixture<LsTracePages>
{
    private static long Misses(RunResult r)
    {
        Assert.True(r.Status == RunResult.Completed, r.Error);
        return r.Metrics["tlb.misses"];
    }

    [Fact]
    public void TraceStreamHasOneTlbOutcomePerPageTouched()
    {
        var r = Repo.Run("tlb-unified-fa.json");
        Assert.Equal(trace.Pages.LongLength, r.Metrics["accesses"]);
        Assert.Equal(r.Metrics["accesses"], r.Metrics["tlb.hits"] + r.Metrics["tlb.misses"]);
        Assert.Equal(317, trace.Pages.Distinct().Count());
    }

    [Theory]
    [InlineData("lru", 4)]
    [InlineData("lru", 8)]
    [InlineData("lru", 16)]
    [InlineData("lru", 32)]
    [InlineData("lru", 64)]
    [InlineData("lru", 128)]
    [InlineData("fifo", 4)]
    [InlineData("fifo", 8)]
    [InlineData("fifo", 16)]
    [InlineData("fifo", 32)]
    [InlineData("fifo", 64)]
    [InlineData("fifo", 128)]
    public void FullyAssociativeMissesEqualTextbookCache(string policy, int entries)
    {
        long expected = ReferenceCache.MissesOf(trace.Pages, 1, entries, policy == "lru");
        var r = Repo.Run("tlb-unified-fa.json", $"machine:tlb:options:entries={entries}", $"machine:tlb:options:policy={policy}");
        Assert.Equal(expected, Misses(r));
    }

    /// <summary>
    /// With the zero page, a write to a page first read replaces its mapping: the cached read-only entry is dropped and
    /// the new one inserted. Under LRU that is exactly a move to most-recently-used, so the counts still match.
    /// </summary>
    [Theory]
    [InlineData(8)]
    [InlineData(64)]
    public void LruMissesMatchTextbookCacheWithZeroPageToo(int entries)
    {
        long expected = ReferenceCache.MissesOf(trace.Pages, 1, entries, lru: true);
        var r = Repo.Run("tlb-unified-fa.json", $"machine:tlb:options:entries={entries}", "machine:faultHandlers:1:options:zeroPage=true");
        Assert.True(r.Metrics["faults.zero_page"] > 0);
        Assert.Equal(expected, Misses(r));
    }

    /// <summary>Under FIFO the same replacement re-queues the page as newest, which a textbook FIFO does not: this is why the exactness config turns the zero page off.</summary>
    [Fact]
    public void FifoWithZeroPageDiffersFromTextbookBecauseReplacementRequeues()
    {
        long expected = ReferenceCache.MissesOf(trace.Pages, 1, 16, lru: false);
        var r = Repo.Run("tlb-unified-fa.json", "machine:tlb:options:entries=16", "machine:tlb:options:policy=fifo", "machine:faultHandlers:1:options:zeroPage=true");
        Assert.NotEqual(expected, Misses(r));
    }

    [Theory]
    [InlineData("lru", 64, 4)]
    [InlineData("lru", 64, 1)]
    [InlineData("lru", 32, 0)]
    [InlineData("fifo", 64, 4)]
    [InlineData("fifo", 128, 8)]
    [InlineData("fifo", 16, 1)]
    public void SetAssociativeMissesEqualTextbookSetAssociativeCache(string policy, int entries, int ways)
    {
        int w = ways == 0 ? entries : ways;
        long expected = ReferenceCache.MissesOf(trace.Pages, entries / w, w, policy == "lru");
        var r = Repo.Run("tlb-unified-fa.json", "machine:tlb:plugin=set-associative", $"machine:tlb:options:entries={entries}",
            $"machine:tlb:options:ways={ways}", $"machine:tlb:options:policy={policy}");
        Assert.Equal(expected, Misses(r));
    }

    [Fact]
    public void HierarchyMissesEqualLevelTwoMissesAndLevelHitsSumToTlbHits()
    {
        var r = Repo.Run("tlb-golden-cove.json", "machine:checks:tlb=true");
        var m = r.Metrics;
        Assert.Equal(RunResult.Completed, r.Status);
        Assert.Equal(m["tlb.l2.misses"], m["tlb.misses"]);
        Assert.Equal(m["tlb.hits"], m["tlb.l1i.hits"] + m["tlb.l1d.hits"] + m["tlb.l2.hits"]);
        Assert.Equal(m["tlb.l1i.misses"] + m["tlb.l1d.misses"], m["tlb.l2.hits"] + m["tlb.l2.misses"]);
        // 317 distinct pages, 2048-entry STLB, no context switch: every page walks exactly once.
        Assert.Equal(317, m["tlb.misses"]);
    }
}
