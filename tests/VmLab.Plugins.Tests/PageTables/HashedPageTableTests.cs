using VmLab.Abstractions;
using VmLab.Abstractions.PageTables;
using VmLab.Plugins.PageTables;

namespace VmLab.Plugins.Tests.PageTables;

public sealed class HashedPageTableTests
{
    /// <summary>Reference VSID/VPN/hash arithmetic, written out from the format's description.</summary>
    private static (ulong Vpn, ulong Hash) Reference(ulong context, ulong ea)
    {
        ulong esid = ea >> 28;
        ulong proto = context << 21 | esid;
        ulong vsid = (ulong)((UInt128)proto * 12538073 % ((1UL << 40) - 1));
        ulong page = (ea >> 12) & 0xFFFF;
        return (vsid << 16 | page, vsid ^ page);
    }

    private static HashedTables Tables(Rig rig) => ((HashedPageTable)rig.Table).Tables;

    [Fact]
    public void FirstMappingOccupiesSlotZeroOfItsPrimaryGroupWithExactHpte()
    {
        var rig = new Rig("hashed");
        ulong context = rig.Table.CreateRoot();
        ulong ea = 0x1000_5000;
        rig.Table.Write(context, ea, new PageMapping(0xBEEF, Rig.UserRw));
        var walk = rig.Walk(context, ea + 0x10, AccessKind.Write);
        Assert.True(walk.IsOk);
        Assert.Equal(0xBEEFUL, walk.Leaf.Frame);
        Assert.Equal(1, rig.Memrefs); // one slot probed

        var (vpn, hash) = Reference(context, ea);
        ulong slot = Tables(rig).SlotAddress(hash & 2047, 0);
        Assert.Equal((vpn >> 11) << 7 | 0x1, rig.Memory.Read64(slot));            // AVPN | V
        Assert.Equal(0xBEEFUL << 12 | 0x100 | 0x80 | 0x10 | 0x2, rig.Memory.Read64(slot + 8)); // RPN | R | C | M | PP=10
    }

    private static ulong Colliding(int k) => 0x1000_0000UL + (5 + 2048UL * (ulong)k) * 0x1000;

    [Fact]
    public void NinthCollidingPageGoesToTheSecondaryGroupAndCostsNineProbes()
    {
        var rig = new Rig("hashed");
        ulong context = rig.Table.CreateRoot();
        for (int k = 0; k < 9; k++) rig.Table.Write(context, Colliding(k), new PageMapping(100 + (ulong)k, Rig.UserRw));
        var (vpn, hash) = Reference(context, Colliding(8));
        ulong secondarySlot = Tables(rig).SlotAddress(~hash & 2047, 0);
        Assert.Equal((vpn >> 11) << 7 | 0x2 | 0x1, rig.Memory.Read64(secondarySlot)); // H set
        var walk = rig.Walk(context, Colliding(8));
        Assert.Equal(108UL, walk.Leaf.Frame);
        Assert.Equal(9, rig.Memrefs);
        Assert.Equal(1, rig.Metrics["hpt.secondary"]);
        Assert.Equal(WalkStatus.NotPresent, rig.Walk(context, Colliding(9)).Status);
        Assert.Equal(9 + 16, rig.Memrefs); // a miss probes both groups
    }

    [Fact]
    public void OverflowOfBothGroupsDoublesTheTableAndKeepsEveryTranslation()
    {
        var rig = new Rig("hashed");
        var tables = Tables(rig);
        Assert.Equal(64, rig.Frames.PageTableFrames); // 2048 groups x 128 bytes
        ulong context = rig.Table.CreateRoot();
        for (int k = 0; k < 17; k++) Assert.True(rig.Table.Write(context, Colliding(k), new PageMapping(200 + (ulong)k, Rig.UserRw)));
        Assert.Equal(4096, tables.Groups);
        Assert.Equal(1, rig.Metrics["hpt.resizes"]);
        Assert.Equal(128, rig.Frames.PageTableFrames);
        for (int k = 0; k < 17; k++) Assert.Equal(200 + (ulong)k, rig.Walk(context, Colliding(k)).Leaf.Frame);
    }

    [Fact]
    public void ContextsAreIsolatedAndDestroyRootScrubsOnlyItsOwnEntries()
    {
        var rig = new Rig("hashed");
        ulong a = rig.Table.CreateRoot(), b = rig.Table.CreateRoot();
        rig.Table.Write(a, 0x1000_5000, new PageMapping(1, Rig.UserRw));
        rig.Table.Write(b, 0x1000_5000, new PageMapping(2, Rig.UserRw));
        Assert.Equal(1UL, rig.Walk(a, 0x1000_5000).Leaf.Frame);
        Assert.Equal(2UL, rig.Walk(b, 0x1000_5000).Leaf.Frame);
        rig.Table.DestroyRoot(a);
        Assert.Equal(2UL, rig.Table.Read(b, 0x1000_5000).Frame);
        ulong c = rig.Table.CreateRoot();
        Assert.Equal(a, c); // the context id is reused ...
        Assert.True(rig.Table.Read(c, 0x1000_5000).IsEmpty); // ... with nothing left behind
    }

    [Fact]
    public void PpBitsEncodeLinuxKeysAndDecidePermissions()
    {
        var rig = new Rig("hashed");
        ulong ctx = rig.Table.CreateRoot();
        rig.Table.Write(ctx, 0x2000_0000, new PageMapping(3, PageFlags.Present | PageFlags.User)); // user read-only
        Assert.Equal(0x7u, rig.Walk(ctx, 0x2000_0000, AccessKind.Write).ErrorCode.Value);
        rig.Table.Write(ctx, 0xC000_0000_0010_0000, new PageMapping(4, PageFlags.Present | PageFlags.Writable)); // kernel read/write
        Assert.Equal(WalkStatus.Protection, rig.Walk(ctx, 0xC000_0000_0010_0000).Status);
        Assert.True(rig.Walk(ctx, 0xC000_0000_0010_0000, AccessKind.Write, AccessMode.Kernel).IsOk);
        Assert.Equal(0x3UL, HashedTables.EncodeSecondDword(new PageMapping(0, PageFlags.Present | PageFlags.User)) & 0x3);
        Assert.Equal(0x0UL, HashedTables.EncodeSecondDword(new PageMapping(0, PageFlags.Present | PageFlags.Writable)) & (0x3 | 1UL << 63));
        Assert.Equal(1UL << 63 | 0x2, HashedTables.EncodeSecondDword(new PageMapping(0, PageFlags.Present)) & (0x3 | 1UL << 63));
        Assert.Equal(WalkStatus.NotPresent, rig.Walk(ctx, 1UL << 50).Status); // beyond the user segments
    }

    [Fact]
    public void OnlyFourKilobytePagesExist()
    {
        var rig = new Rig("hashed");
        ulong ctx = rig.Table.CreateRoot();
        Assert.Throws<ArgumentException>(() => rig.Table.Write(ctx, 0x4000_0000, new PageMapping(512, Rig.UserRw, 21)));
    }
}
