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
