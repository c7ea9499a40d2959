using VmLab.Abstractions;
using VmLab.Abstractions.PageTables;
using VmLab.Abstractions.Tlb;
using VmLab.Core.Memory;

namespace VmLab.Core.Tests.Fakes;

/// <summary>The fakes the core tests run on do what they claim, so a core test that passes on them means something.</summary>
public sealed class FakeSelfTests
{
    [Fact]
    public void TheFakePageTableKeepsEveryLeafInSimulatedFramesAndReadsItBack()
    {
        var memory = new PhysicalMemory(64);
        var metrics = new MetricRegistry();
        var frames = new FrameTable(memory, metrics);
        var table = new FakePageTable(memory, frames, metrics);
        ulong root = table.CreateRoot();
        var leaves = new (ulong Va, PageMapping Leaf)[]
        {
            (0x1000, new PageMapping(7, PageFlags.Present | PageFlags.User | PageFlags.Writable | PageFlags.NoExecute, 12, 5)),
            (0x7fff_ffff_f000, new PageMapping(123_456, PageFlags.Swapped)),
            (0x7fff_ffff_e000, new PageMapping(9, PageFlags.ProtNone | PageFlags.Accessed | PageFlags.Dirty)),
        };
        foreach (var (va, leaf) in leaves) Assert.True(table.Write(root, va, leaf));

        foreach (var (va, leaf) in leaves) Assert.Equal(leaf, table.Read(root, va));
        var collected = new List<(ulong, PageMapping)>();
        table.CollectLeaves(root, 0, table.Geometry.UserTop, collected);
        Assert.Equal(leaves.OrderBy(l => l.Va).Select(l => (l.Va, l.Leaf)), collected);
        // Two disjoint paths below the root: 1 + 3 + 3 table frames, all held by the frame table.
        var tables = new HashSet<ulong>();
        Assert.True(table.CollectTableFrames(root, tables));
        Assert.Equal(7, tables.Count);
        Assert.Equal(7, frames.PageTableFrames);

        long memrefs = metrics[MetricNames.WalkMemrefs];
        var walk = table.Walk(root, 0x1000, AccessKind.Write, AccessMode.User, CpuState.LinuxDefault);
        Assert.Equal(WalkStatus.Ok, walk.Status);
        Assert.Equal(4, metrics[MetricNames.WalkMemrefs] - memrefs); // one read per level
        Assert.True(table.Read(root, 0x1000).Has(PageFlags.Accessed | PageFlags.Dirty)); // written back to memory
        Assert.Equal(WalkStatus.NotPresent, table.Walk(root, 0x7fff_ffff_f000, AccessKind.Read, AccessMode.User, CpuState.LinuxDefault).Status);

        table.DestroyRoot(root);
        Assert.Equal(0, frames.PageTableFrames);
    }

    [Fact]
    public void TheFakeTlbHonoursEveryFlushAndEvictsTheLeastRecentlyUsed()
    {
        var tlb = new FakeTlb(3);
        var user = new TlbEntry(1, PageFlags.Present | PageFlags.User);
        var global = new TlbEntry(2, PageFlags.Present | PageFlags.Global);
        tlb.Insert(0x1000, 1, AccessKind.Read, user);
        tlb.Insert(0x2000, 2, AccessKind.Read, user);
        tlb.Insert(0xffff_8000_0000_0000, 1, AccessKind.Read, global);

        Assert.True(tlb.TryLookup(0xffff_8000_0000_0010, 7, AccessKind.Read, out _)); // global: any ASID
        Assert.False(tlb.TryLookup(0x1000, 2, AccessKind.Read, out _)); // another ASID's entry

        tlb.InvalidateAsid(1);
        Assert.False(tlb.TryLookup(0x1000, 1, AccessKind.Read, out _));
        Assert.True(tlb.TryLookup(0xffff_8000_0000_0000, 1, AccessKind.Read, out _)); // globals survive an ASID flush
        tlb.InvalidateAll(keepGlobal: true);
        Assert.Equal(1, tlb.Count);
        tlb.Invalidate(0xffff_8000_0000_0000, 3); // invlpg drops a global entry too
        Assert.Equal(0, tlb.Count);

        tlb.Insert(0x1000, 1, AccessKind.Read, user);
        tlb.Insert(0x2000, 1, AccessKind.Read, user);
        tlb.Insert(0x3000, 1, AccessKind.Read, user);
        Assert.True(tlb.TryLookup(0x1000, 1, AccessKind.Read, out _)); // 0x2000 is now the least recently used
        tlb.Insert(0x4000, 1, AccessKind.Read, user);
        Assert.False(tlb.TryLookup(0x2000, 1, AccessKind.Read, out _));
        Assert.True(tlb.TryLookup(0x1000, 1, AccessKind.Read, out _));
        tlb.InvalidateAll(keepGlobal: false);
        Assert.Equal(0, tlb.Count);
    }
}
