using VmLab.Abstractions;
using VmLab.Abstractions.Tlb;
using VmLab.Plugins.Tlb;

namespace VmLab.Plugins.Tests.Tlb;

public sealed class FullyAssociativeTlbTests
{
    private static readonly TlbEntry Rw = new(100, PageFlags.Present | PageFlags.User | PageFlags.Writable);

    private static FullyAssociativeTlbState Tlb(int entries, FullyAssociativePolicy policy, ulong seed = 1) =>
        new(new FullyAssociativeTlbOptions { Entries = entries, Policy = policy }, seed);

    private static bool Has(FullyAssociativeTlbState t, ulong page) => t.TryLookup(page << 12, 1, out _);

    /// <summary>Same worked example as the set-associative tree-PLRU: slots fill 0..3, a hit on slot 0, then slot 2 goes.</summary>
    [Fact]
    public void PlruEvictsAlongTheTreeBits()
    {
        var t = Tlb(4, FullyAssociativePolicy.Plru);
        foreach (ulong p in new ulong[] { 10, 11, 12, 13 }) t.Insert(p << 12, 1, Rw);
        Assert.True(Has(t, 10));
        t.Insert(14UL << 12, 1, Rw);
        Assert.False(Has(t, 12));
        Assert.True(Has(t, 10) && Has(t, 11) && Has(t, 13) && Has(t, 14));
    }

    [Fact]
    public void PlruWithANonPowerOfTwoSizeNeverLeavesTheEntries()
    {
        var t = Tlb(5, FullyAssociativePolicy.Plru);
        for (ulong p = 0; p < 1000; p++)
        {
            t.Insert(p << 12, 1, Rw);
            Assert.True(Has(t, p));
            Assert.Equal((int)Math.Min(p + 1, 5), t.Count);
        }
    }

    [Fact]
    public void RandomKeepsTheTlbFullAndDependsOnlyOnTheSeed()
    {
        static string Contents(ulong seed)
        {
            var t = Tlb(8, FullyAssociativePolicy.Random, seed);
            for (ulong p = 0; p < 200; p++) t.Insert(p << 12, 1, Rw);
            Assert.Equal(8, t.Count);
            return string.Join(",", Enumerable.Range(0, 200).Where(p => Has(t, (ulong)p)));
        }
        Assert.Equal(Contents(3), Contents(3));
        Assert.NotEqual(Contents(3), Contents(4));
    }

    [Fact]
    public void FifoIgnoresHitsAndLruHonoursThem()
    {
        foreach (var (policy, expectVictim) in new[] { (FullyAssociativePolicy.Fifo, 10UL), (FullyAssociativePolicy.Lru, 11UL) })
        {
            var t = Tlb(3, policy);
            foreach (ulong p in new ulong[] { 10, 11, 12 }) t.Insert(p << 12, 1, Rw);
            Assert.True(Has(t, 10));
            t.Insert(13UL << 12, 1, Rw);
            Assert.False(Has(t, expectVictim));
        }
    }
}

public sealed class FullyAssociativeTlbTagTests
{
    /// <summary>With 5-level paging user addresses reach 2^56: pages that differ only in high VA bits must not alias.</summary>
    [Fact]
    public void PagesDifferingOnlyInHighVirtualAddressBitsDoNotAlias()
    {
        var t = new FullyAssociativeTlbState(new FullyAssociativeTlbOptions { Entries = 8 });
        ulong low = 0x0000_1000UL, high = low | (1UL << 54);
        t.Insert(low, 1, new TlbEntry(5, PageFlags.Present | PageFlags.User));
        Assert.False(t.TryLookup(high, 1, out _));
        t.Insert(high, 1, new TlbEntry(6, PageFlags.Present | PageFlags.User));
        Assert.True(t.TryLookup(low, 1, out var a));
        Assert.True(t.TryLookup(high, 1, out var b));
        Assert.Equal(5UL, a.Frame);
        Assert.Equal(6UL, b.Frame);
        t.Invalidate(high, 1);
        Assert.True(t.TryLookup(low, 1, out _));
        Assert.False(t.TryLookup(high, 1, out _));
    }
}
