using VmLab.Abstractions;
using VmLab.Abstractions.Tlb;
using VmLab.Core;
using VmLab.Plugins.Tlb;
using VmLab.Plugins.Tlb.Policies;

namespace VmLab.Plugins.Tests.Tlb;

public sealed class HierarchicalTlbTests
{
    private const ushort Asid = 1;
    private static readonly TlbEntry Rx = new(7, PageFlags.Present | PageFlags.User);

    private static TlbLevelOptions Level(int entries, int ways, params string[] sizes) =>
        new() { Arrays = [new TlbArrayOptions { Entries = entries, Ways = ways, PageSizes = sizes.Length == 0 ? ["4k"] : sizes }] };

    private static (TlbHierarchy<LruPolicy> Tlb, MetricRegistry Metrics) Make(bool inclusive, TlbLevelOptions? l2, TlbLevelOptions? l1d = null)
    {
        var metrics = new MetricRegistry();
        var options = new HierarchicalTlbOptions { Inclusive = inclusive, L1i = Level(4, 0), L1d = l1d ?? Level(4, 0), L2 = l2 };
        return (new TlbHierarchy<LruPolicy>(options, 1, metrics), metrics);
    }

    private static ulong Va(ulong page) => page << 12;

    [Fact]
    public void FetchesUseTheInstructionL1AndDataTheDataL1()
    {
        var (t, m) = Make(false, Level(16, 4));
        t.Insert(Va(1), Asid, AccessKind.Fetch, Rx);
        Assert.True(t.TryLookup(Va(1), Asid, AccessKind.Fetch, out _));
        Assert.Equal(1, m["tlb.l1i.hits"]);
        // The data side misses in its L1 and finds the page in the unified L2, which refills the L1D.
        Assert.True(t.TryLookup(Va(1), Asid, AccessKind.Read, out _));
        Assert.Equal(1, m["tlb.l1d.misses"]);
        Assert.Equal(1, m["tlb.l2.hits"]);
        Assert.True(t.TryLookup(Va(1), Asid, AccessKind.Write, out _));
        Assert.Equal(1, m["tlb.l1d.hits"]);
        Assert.Equal(0, m["tlb.l2.misses"]);
    }

    [Fact]
    public void WithoutL2AnL1MissIsAWalk()
    {
        var (t, m) = Make(false, null);
        Assert.False(t.TryLookup(Va(1), Asid, AccessKind.Read, out _));
        Assert.Equal(1, m["tlb.l1d.misses"]);
        Assert.Equal(0, m["tlb.l2.misses"]);
    }

    /// <summary>A 2-entry L2 evicts page 1 when page 3 is walked; inclusive, the L1D must drop it too, non-inclusive it keeps it.</summary>
    [Theory]
    [InlineData(true, false)]
    [InlineData(false, true)]
    public void InclusiveL2EvictionBackInvalidatesTheL1s(bool inclusive, bool stillInL1)
    {
        var (t, _) = Make(inclusive, Level(2, 0));
        foreach (ulong p in new ulong[] { 1, 2, 3 }) t.Insert(Va(p), Asid, AccessKind.Read, Rx);
        Assert.Equal(stillInL1, t.L1d.TryLookup(Va(1), Asid, out _));
        Assert.False(t.L2!.TryLookup(Va(1), Asid, out _));
    }

    [Fact]
    public void PerPageSizeArraysKeepHugePagesApartFromSmallOnes()
    {
        var l1d = new TlbLevelOptions
        {
            Arrays = [new TlbArrayOptions { Entries = 2, Ways = 0, PageSizes = ["4k"] }, new TlbArrayOptions { Entries = 2, Ways = 0, PageSizes = ["2m"] }],
        };
        var (t, _) = Make(false, null, l1d);
        t.Insert(0x20_0000, Asid, AccessKind.Read, Rx with { PageShift = 21 });
        // Filling the 4k array past its size does not touch the 2m one.
        foreach (ulong p in new ulong[] { 1, 2, 3 }) t.Insert(Va(p), Asid, AccessKind.Read, Rx);
        Assert.True(t.TryLookup(0x20_0000 + 0x12345, Asid, AccessKind.Read, out var e));
        Assert.Equal(21, e.PageShift);
        Assert.Equal(1, t.L1d.Arrays[1].Count);
        Assert.Equal(2, t.L1d.Arrays[0].Count);
    }

    [Fact]
    public void APageSizeNoArrayHoldsIsNotCached()
    {
        var (t, _) = Make(false, Level(16, 4));
        t.Insert(0x4000_0000, Asid, AccessKind.Read, Rx with { PageShift = 30 });
        Assert.False(t.TryLookup(0x4000_0000, Asid, AccessKind.Read, out _));
    }

    [Fact]
    public void InvalidationsReachEveryLevel()
    {
        var (t, _) = Make(false, Level(16, 4));
        t.Insert(Va(1), Asid, AccessKind.Fetch, Rx);
        t.Insert(Va(1), Asid, AccessKind.Read, Rx);
        t.Insert(Va(2), Asid, AccessKind.Read, Rx);
        t.Invalidate(Va(1), Asid);
        Assert.False(t.L1i.TryLookup(Va(1), Asid, out _) || t.L1d.TryLookup(Va(1), Asid, out _) || t.L2!.TryLookup(Va(1), Asid, out _));
        t.InvalidateAsid(Asid);
        Assert.False(t.TryLookup(Va(2), Asid, AccessKind.Read, out _));
    }
}
