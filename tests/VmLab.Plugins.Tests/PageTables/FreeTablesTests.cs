using VmLab.Abstractions;
using VmLab.Abstractions.PageTables;

namespace VmLab.Plugins.Tests.PageTables;

/// <summary>
/// <see cref="IPageTable.FreeTables"/> on the radix formats: Linux's <c>free_pgd_range</c> rule. A table goes only when
/// the whole span it covers lies in [floor, ceiling) (floor the end of the VMA below the unmapped range, ceiling the
/// start of the VMA above, 0 for none), a last-level table is kept when floor or ceiling falls inside its slot, and
/// every freed frame goes back to the frame table; the count is returned (the kernel adds it to <c>pagetable.pages_freed</c>).
/// </summary>
public sealed class FreeTablesTests
{
    public static TheoryData<string> Radix => new(Rig.RadixFormats);

    private const ulong Slot = 2UL << 20;      // what one x86-64 last-level table covers
    private const ulong Gib = 1UL << 30;       // one level-2 table
    private const ulong X = 0x80_0000_0000;    // 512 GiB-aligned: the start of a level-3 table's span

    private static void Map(Rig rig, ulong root, ulong va) => Assert.True(rig.Table.Write(root, va, new PageMapping(rig.UserFrame(), Rig.UserRw)));

    private static void Clear(Rig rig, ulong root, ulong va) => rig.Table.Write(root, va, PageMapping.Empty);

    [Theory]
    [MemberData(nameof(Radix))]
    public void WithNoVmaLeftEveryTableBelowTheRootIsFreedCountedAndReturned(string format)
    {
        var rig = new Rig(format);
        ulong root = rig.Table.CreateRoot();
        ulong va = Rig.UserAddress(0);
        Map(rig, root, va);
        long tables = rig.Frames.PageTableFrames;
        int levels = rig.Table.Geometry.Levels;
        Assert.Equal(levels, tables - rig.BaselinePageTableFrames);
        Clear(rig, root, va);

        int freed = rig.Table.FreeTables(root, va, va + 0x1000, floor: 0, ceiling: 0);

        Assert.Equal(levels - 1, freed);
        Assert.Equal(tables - freed, rig.Frames.PageTableFrames);
        var walk = rig.Walk(root, va);
        Assert.Equal(WalkStatus.NotPresent, walk.Status);
        Assert.Equal(levels, walk.Level); // the root's entry is cleared: the walk stops at the top
        // The range can be mapped again: the tables come back.
        Map(rig, root, va);
        Assert.True(rig.Walk(root, va).IsOk);
    }

    [Theory]
    [MemberData(nameof(Radix))]
    public void AFloorOrCeilingInsideTheLastLevelSlotKeepsEveryTable(string format)
    {
        var rig = new Rig(format);
        ulong root = rig.Table.CreateRoot();
        ulong slot = 1UL << rig.Table.Geometry.PageShifts[1];
        ulong a = Rig.UserAddress(0) & ~(slot - 1);
        Map(rig, root, a);                 // the VMA below: [a, a+4K)
        Map(rig, root, a + slot / 2);      // unmapped below
        Clear(rig, root, a + slot / 2);
        long tables = rig.Frames.PageTableFrames;

        Assert.Equal(0, rig.Table.FreeTables(root, a + slot / 2, a + slot / 2 + 0x1000, floor: a + 0x1000, ceiling: 0));
        Assert.Equal(0, rig.Table.FreeTables(root, a + slot / 2, a + slot / 2 + 0x1000, floor: 0, ceiling: a + slot - 0x1000));
        Assert.Equal(tables, rig.Frames.PageTableFrames);
        Assert.True(rig.Walk(root, a).IsOk);
    }

    [Fact]
    public void ANeighbourInTheNextSlotKeepsTheTablesAboveTheLastLevelOne()
    {
        var rig = new Rig("x86-64");
        ulong root = rig.Table.CreateRoot();
        Map(rig, root, X);
        Map(rig, root, X + Slot);  // the next VMA starts in the next slot, under the same level-2 table
        Clear(rig, root, X);
        long tables = rig.Frames.PageTableFrames;

        Assert.Equal(1, rig.Table.FreeTables(root, X, X + 0x1000, floor: 0, ceiling: X + Slot));

        Assert.Equal(tables - 1, rig.Frames.PageTableFrames);
        var walk = rig.Walk(root, X);
        Assert.Equal(WalkStatus.NotPresent, walk.Status);
        Assert.Equal(2, walk.Level); // the level-2 entry that pointed to the freed table is clear
        Assert.True(rig.Walk(root, X + Slot).IsOk);
    }

    [Theory]
    [InlineData(0x1000UL, 0)]                 // ceiling in the same 2 MiB slot: nothing
    [InlineData(Slot, 1)]                     // in the next slot: the last-level table
    [InlineData(Gib, 2)]                      // in the next 1 GiB: the level-2 table too
    [InlineData(512 * Gib, 3)]                // in the next 512 GiB: the level-3 table too
    public void EachLevelGoesOnlyWhenTheCeilingIsPastItsWholeSpan(ulong neighbourAt, int expected)
    {
        var rig = new Rig("x86-64");
        ulong root = rig.Table.CreateRoot();
        Map(rig, root, X);
        Map(rig, root, X + neighbourAt);
        Clear(rig, root, X);

        long tables = rig.Frames.PageTableFrames;

        Assert.Equal(expected, rig.Table.FreeTables(root, X, X + 0x1000, floor: 0, ceiling: X + neighbourAt));
        Assert.Equal(tables - expected, rig.Frames.PageTableFrames);
        Assert.True(rig.Walk(root, X + neighbourAt).IsOk);
    }

    [Theory]
    [InlineData(0x1000UL, 0)]                 // the VMA below ends in the same 2 MiB slot: nothing
    [InlineData(Slot, 1)]                     // in the slot before: the last-level table
    [InlineData(Gib, 2)]                      // in the 1 GiB before: the level-2 table too
    [InlineData(512 * Gib, 3)]                // in the 512 GiB before: the level-3 table too
    public void TheFloorIsTheMirrorOfTheCeiling(ulong neighbourBelow, int expected)
    {
        var rig = new Rig("x86-64");
        ulong root = rig.Table.CreateRoot();
        ulong at = 3 * 512 * Gib - 0x1000;            // the last page of a 512 GiB span
        ulong below = at - neighbourBelow;            // a one-page VMA [below, below + 4K)
        Map(rig, root, below);
        Map(rig, root, at);
        Clear(rig, root, at);

        Assert.Equal(expected, rig.Table.FreeTables(root, at, at + 0x1000, floor: below + 0x1000, ceiling: 0));
        Assert.True(rig.Walk(root, below).IsOk);
    }

    [Fact]
    public void AFloorAtTheSlotStartAndACeilingAtItsEndStillFreeTheTable()
    {
        // munmap of a 2 MiB-aligned 2 MiB region between two VMAs that end and start exactly at its edges.
        var rig = new Rig("x86-64");
        ulong root = rig.Table.CreateRoot();
        Map(rig, root, X + Slot - 0x1000);
        Map(rig, root, X + 2 * Slot);
        for (ulong a = X + Slot; a < X + 2 * Slot; a += 0x40000) Map(rig, root, a);
        for (ulong a = X + Slot; a < X + 2 * Slot; a += 0x40000) Clear(rig, root, a);

        Assert.Equal(1, rig.Table.FreeTables(root, X + Slot, X + 2 * Slot, floor: X + Slot, ceiling: X + 2 * Slot));
        Assert.True(rig.Walk(root, X + Slot - 0x1000).IsOk);
        Assert.True(rig.Walk(root, X + 2 * Slot).IsOk);
    }

    [Fact]
    public void AnEmptiedHugeMappingLeavesNoLastLevelTableAndFreesTheTablesAbove()
    {
        var rig = new Rig("x86-64");
        ulong root = rig.Table.CreateRoot();
        Assert.True(rig.Frames.TryAllocateBlock(9, FrameUse.User, out ulong pfn));
        Assert.True(rig.Table.Write(root, X, new PageMapping(pfn, Rig.UserRw, 21)));
        Assert.Equal(3, rig.Frames.PageTableFrames - rig.BaselinePageTableFrames); // the root and the level-3 and level-2 tables: no last level
        rig.Table.Write(root, X, PageMapping.Empty with { PageShift = 21 });

        Assert.Equal(2, rig.Table.FreeTables(root, X, X + Slot, floor: 0, ceiling: 0));
        Assert.Equal(1, rig.Frames.PageTableFrames - rig.BaselinePageTableFrames);
    }

    [Fact]
    public void FreeingTablesDropsThePageWalkCachesOfTheRoot()
    {
        var rig = new Rig("x86-64", pwcEntries: 8);
        ulong root = rig.Table.CreateRoot();
        Map(rig, root, X);
        Map(rig, root, X + 0x1000);
        Map(rig, root, X + Slot);
        Assert.True(rig.Walk(root, X).IsOk);
        Assert.True(rig.Walk(root, X + Slot).IsOk);   // both cached down to their last-level tables
        Clear(rig, root, X);
        Clear(rig, root, X + 0x1000);
        long misses = rig.Metrics["pwc.misses"];

        Assert.Equal(1, rig.Table.FreeTables(root, X, X + 0x2000, floor: 0, ceiling: X + Slot));

        // A cached pointer to the freed table would make this a hit; after the free the walk starts from the root.
        var walk = rig.Walk(root, X + 0x1000);
        Assert.Equal(WalkStatus.NotPresent, walk.Status);
        Assert.Equal(misses + 1, rig.Metrics["pwc.misses"]);
    }

    [Fact]
    public void AFormatWithoutFreeTablesKeepsItsTables()
    {
        var rig = new Rig("hashed");
        ulong root = rig.Table.CreateRoot();
        ulong va = Rig.UserAddress(0);
        Map(rig, root, va);
        Clear(rig, root, va);
        long tables = rig.Frames.PageTableFrames;
        Assert.Equal(0, rig.Table.FreeTables(root, va, va + 0x1000, 0, 0));
        Assert.Equal(tables, rig.Frames.PageTableFrames);
    }
}
