using VmLab.Abstractions;
using VmLab.Abstractions.Plugins;
using VmLab.Abstractions.Tlb;

namespace FooPlugin.Tests;

public sealed class FooPluginTests
{
    private static TlbDriver<FooPlugin> Driver(int entries, TestMetrics? metrics = null) =>
        new(new FooPlugin(new FooPluginOptions { Entries = entries }, metrics ?? new TestMetrics()));

    [Fact]
    public void AFullTlbEvictsTheEntryWithTheFewestHits()
    {
        var metrics = new TestMetrics();
        var tlb = Driver(entries: 2, metrics);
        Assert.Equal(2, tlb.Run([1, 1, 1, 2])); // page 1: 2 hits, page 2: none
        Assert.Equal(1, tlb.Run([3]));          // evicts page 2
        Assert.Equal(0, tlb.Run([1]));
        Assert.Equal(1, tlb.Run([2]));          // page 3 (0 hits) goes, not page 1
        Assert.Equal(0, tlb.Run([1]));
        Assert.Equal(2, metrics["tlb.lfu_evictions"]);
    }

    [Fact]
    public void AmongEqualCountsTheOldestEntryGoes()
    {
        var tlb = Driver(entries: 3);
        tlb.Run([1, 2, 3, 4]);
        Assert.False(tlb.Holds(1UL << 12));
        Assert.True(tlb.Holds(2UL << 12) && tlb.Holds(3UL << 12) && tlb.Holds(4UL << 12));
    }

    [Fact]
    public void EntriesOfOneAddressSpaceAreFlushedAndGlobalOnesSurviveAFlushThatKeepsThem()
    {
        var tlb = new FooPlugin(new FooPluginOptions { Entries = 8 }, new TestMetrics());
        var user = new TlbEntry(5, PageFlags.Present | PageFlags.User);
        var global = new TlbEntry(6, PageFlags.Present | PageFlags.Global);
        tlb.Insert(0x1000, asid: 1, AccessKind.Read, user);
        tlb.Insert(0x2000, asid: 2, AccessKind.Read, user);
        tlb.Insert(0x3000, asid: 1, AccessKind.Read, global);
        Assert.True(tlb.TryLookup(0x3000, asid: 7, AccessKind.Read, out var hit)); // a global entry matches any ASID
        Assert.Equal(6UL, hit.Frame);

        tlb.InvalidateAsid(1);
        Assert.False(tlb.TryLookup(0x1000, 1, AccessKind.Read, out _));
        Assert.True(tlb.TryLookup(0x2000, 2, AccessKind.Read, out _));
        tlb.InvalidateAll(keepGlobal: true);
        Assert.Equal(1, tlb.Count);
        tlb.InvalidateAll(keepGlobal: false);
        Assert.Equal(0, tlb.Count);
    }

    [Fact]
    public void RegistersAsATlbUnderItsKebabCaseNameWithItsOptions()
    {
        var registry = TestRegistry.Of(new FooPluginModule());
        var registration = Assert.Single(registry.Items);
        Assert.Equal((PluginKind.Tlb, "foo-plugin", typeof(FooPluginOptions)), (registration.Kind, registration.Name, registration.OptionsType));
        var tlb = registry.Create<FooPlugin>(PluginKind.Tlb, "foo-plugin", new FooPluginOptions { Entries = 4 });
        Assert.Equal(4, new TlbDriver<FooPlugin>(tlb).Run([1, 2, 3, 4, 1, 2, 3, 4]));
    }
}
