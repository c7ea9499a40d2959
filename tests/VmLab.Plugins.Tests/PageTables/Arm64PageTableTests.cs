using VmLab.Abstractions;
using VmLab.Abstractions.PageTables;
using VmLab.Plugins.PageTables;

namespace VmLab.Plugins.Tests.PageTables;

public sealed class Arm64PageTableTests
{
    private const ulong Va = 0x0000_7F12_3456_7000;
    // Valid | page | AP[1] EL0 | SH inner | AF | nG
    private const ulong UserPageLow = 0x3 | 0x40 | 0x300 | 0x400 | 0x800;
    private const ulong Dbm = 1UL << 51, Pxn = 1UL << 53, Uxn = 1UL << 54, ApReadOnly = 0x80;

    private static ulong EntryAddress(Rig rig, ulong root, ulong va, int level)
    {
        ulong table = root;
        for (int l = 4; l > level; l--)
            table = rig.Memory.Read64(table + ((va >> (12 + 9 * (l - 1))) & 511) * 8) & 0x0000_FFFF_FFFF_F000;
        return table + ((va >> (12 + 9 * (level - 1))) & 511) * 8;
    }

    [Fact]
    public void WriteWalkWithHardwareDbmLeavesDirtyYoungUserPage()
    {
        var rig = new Rig("arm64");
        ulong root = rig.Table.CreateRoot();
        rig.Table.Write(root, Va, new PageMapping(0x1234, Rig.UserRw));
        Assert.Equal(0x1234UL << 12 | (UserPageLow & ~0x400UL) | ApReadOnly | Dbm | Pxn, rig.Memory.Read64(EntryAddress(rig, root, Va, 1)));
        Assert.True(rig.Walk(root, Va, AccessKind.Write).IsOk);
        Assert.Equal(0x1234UL << 12 | UserPageLow | Dbm | Pxn, rig.Memory.Read64(EntryAddress(rig, root, Va, 1)));
        for (int level = 4; level >= 2; level--)
            Assert.Equal(0x3UL | 1UL << 59, rig.Memory.Read64(EntryAddress(rig, root, Va, level)) & ~0x0000_FFFF_FFFF_F000UL); // table | PXNTable
        Assert.Equal(4, rig.Memrefs);
    }

    [Fact]
    public void ReadWalkSetsAfButLeavesTheEntryCleanAndNoExecuteSetsUxn()
    {
        var rig = new Rig("arm64");
        ulong root = rig.Table.CreateRoot();
        rig.Table.Write(root, Va, new PageMapping(0x55, Rig.UserRw | PageFlags.NoExecute));
        var walk = rig.Walk(root, Va);
        Assert.True(walk.IsOk);
        Assert.Equal(0x55UL << 12 | UserPageLow | ApReadOnly | Dbm | Pxn | Uxn, rig.Memory.Read64(EntryAddress(rig, root, Va, 1)));
        Assert.False(walk.Leaf.Has(PageFlags.Dirty));
        Assert.True(walk.Leaf.Has(PageFlags.Writable)); // DBM: a later write is allowed and made dirty by the hardware
    }

    [Fact]
    public void TranslationFaultsReportTheLevelTheWalkStopped()
    {
        var rig = new Rig("arm64");
        ulong root = rig.Table.CreateRoot();
        var empty = rig.Walk(root, Va);
        Assert.Equal(WalkStatus.NotPresent, empty.Status);
        Assert.Equal(0x04, Arm64Format.FaultStatusCode(empty)); // translation fault, level 0
        rig.Table.Write(root, Va, new PageMapping(1, Rig.UserRw));
        var neighbour = rig.Walk(root, Va + 0x1000);
        Assert.Equal(0x07, Arm64Format.FaultStatusCode(neighbour)); // translation fault, level 3
        Assert.Equal(0x4u, neighbour.ErrorCode.Value);
    }

    [Fact]
    public void WithoutHardwareAfAnOldEntryTakesAnAccessFlagFaultBeforeThePermissionCheck()
    {
        var rig = new Rig("arm64", arm64: new Arm64Options { HardwareAccessFlag = false, HardwareDirty = false });
        Assert.True(rig.Table.Geometry.SoftwareAccessDirty);
        ulong root = rig.Table.CreateRoot();
        rig.Table.Write(root, Va, new PageMapping(9, PageFlags.Present | PageFlags.User)); // read-only and old
        var write = rig.Walk(root, Va, AccessKind.Write);
        Assert.Equal(WalkStatus.AccessFlag, write.Status);
        Assert.Equal(0x0B, Arm64Format.FaultStatusCode(write)); // access flag fault, level 3
        Assert.Equal(0u, rig.Memory.Read64(EntryAddress(rig, root, Va, 1)) & 0x400); // AF still clear
    }

    [Fact]
    public void WithoutHardwareDirtyAWriteToACleanWritablePageIsAPermissionFault()
    {
        var rig = new Rig("arm64", arm64: new Arm64Options { HardwareAccessFlag = false, HardwareDirty = false });
        ulong root = rig.Table.CreateRoot();
        rig.Table.Write(root, Va, new PageMapping(9, Rig.UserRw | PageFlags.Accessed));
        var read = rig.Walk(root, Va);
        Assert.True(read.IsOk);
        Assert.False(read.Leaf.Has(PageFlags.Writable)); // cached read-only until made dirty
        var write = rig.Walk(root, Va, AccessKind.Write);
        Assert.Equal(WalkStatus.Protection, write.Status);
        Assert.Equal(0x0F, Arm64Format.FaultStatusCode(write)); // permission fault, level 3
        Assert.Equal(0x7u, write.ErrorCode.Value);
    }

    [Fact]
    public void KernelHalfLivesInOneSharedTtbr1Table()
    {
        var rig = new Rig("arm64");
        ulong a = rig.Table.CreateRoot(), b = rig.Table.CreateRoot();
        ulong kva = 0xFFFF_0000_1234_5000;
        rig.Table.Write(a, kva, new PageMapping(0x77, PageFlags.Present | PageFlags.Writable | PageFlags.Global));
        var tables = ((RadixPageTable<Arm64Format>)rig.Table).Tables;
        Assert.NotEqual(0UL, tables.UpperRoot);
        Assert.Equal(0UL, rig.Memory.Read64(a + ((kva >> 39) & 511) * 8)); // nothing in the process's TTBR0 table
        var fromB = rig.Walk(b, kva, AccessKind.Write, AccessMode.Kernel);
        Assert.True(fromB.IsOk);
        Assert.Equal(0x77UL, fromB.Leaf.Frame);
        Assert.True(fromB.Leaf.Has(PageFlags.Global));
        Assert.Equal(WalkStatus.Protection, rig.Walk(b, kva).Status); // EL0 has no access
        ulong upperL0 = rig.Memory.Read64(tables.UpperRoot + ((kva >> 39) & 511) * 8);
        Assert.Equal(0x3UL | 1UL << 60, upperL0 & ~0x0000_FFFF_FFFF_F000UL); // kernel tables carry UXNTable
    }

    [Fact]
    public void AddressesOutsideBothHalvesAreLevelZeroTranslationFaultsNotGeneralProtection()
    {
        var rig = new Rig("arm64");
        ulong root = rig.Table.CreateRoot();
        Assert.True(rig.Table.IsCanonical(0x0001_0000_0000_0000));
        var walk = rig.Walk(root, 0x0001_0000_0000_0000);
        Assert.Equal(0x04, Arm64Format.FaultStatusCode(walk));
        Assert.Equal(0, rig.Memrefs);
        Assert.Equal(1UL << 48, rig.Table.Geometry.UserTop);
    }

    [Fact]
    public void TopByteIsIgnoredForUserDataAccessesOnly()
    {
        var rig = new Rig("arm64");
        ulong root = rig.Table.CreateRoot();
        rig.Table.Write(root, Va, new PageMapping(0x31, Rig.UserRw));
        ulong tagged = 0x5AUL << 56 | Va;
        var read = rig.Walk(root, tagged + 8);
        Assert.True(read.IsOk);
        Assert.Equal(0x31UL, read.Leaf.Frame);
        Assert.True(rig.Walk(root, tagged, AccessKind.Write).IsOk);
        Assert.Equal(WalkStatus.NotPresent, rig.Walk(root, tagged, AccessKind.Fetch).Status);
        Assert.Equal(WalkStatus.NotPresent, rig.Walk(root, tagged, AccessKind.Read, AccessMode.Kernel, new CpuState(true, true, true, 0)).Status);
        var noTbi = new Rig("arm64", arm64: new Arm64Options { TopByteIgnore = false });
        ulong r2 = noTbi.Table.CreateRoot();
        noTbi.Table.Write(r2, Va, new PageMapping(0x31, Rig.UserRw));
        Assert.Equal(WalkStatus.NotPresent, noTbi.Walk(r2, tagged).Status);
    }

    [Fact]
    public void PanPxnUxnAndApTableDecidePermissions()
    {
        var rig = new Rig("arm64");
        ulong root = rig.Table.CreateRoot();
        rig.Table.Write(root, Va, new PageMapping(0x31, Rig.UserRw));
        var pan = new CpuState(Smap: true, Smep: false, UaccessOpen: false, 0);
        Assert.Equal(WalkStatus.Protection, rig.Walk(root, Va, AccessKind.Read, AccessMode.Kernel, pan).Status);
        Assert.True(rig.Walk(root, Va, AccessKind.Read, AccessMode.Kernel, pan with { UaccessOpen = true }).IsOk);
        Assert.Equal(WalkStatus.Protection, rig.Walk(root, Va, AccessKind.Fetch, AccessMode.Kernel, pan).Status); // PXN, SMEP-like bit off
        Assert.True(rig.Walk(root, Va, AccessKind.Fetch).IsOk);

        rig.Table.Write(root, Va, new PageMapping(0x31, Rig.UserRw | PageFlags.NoExecute));
        Assert.Equal(WalkStatus.Protection, rig.Walk(root, Va, AccessKind.Fetch).Status); // UXN

        ulong l2 = EntryAddress(rig, root, Va, 2);
        rig.Memory.Write64(l2, rig.Memory.Read64(l2) | 1UL << 62); // APTable[1]: read-only below
        Assert.Equal(WalkStatus.Protection, rig.Walk(root, Va, AccessKind.Write).Status);
        Assert.True(rig.Walk(root, Va).IsOk);
    }

    [Theory]
    [InlineData(21, 3)]
    [InlineData(30, 2)]
    public void BlocksTranslateWithFewerReads(int shift, int reads)
    {
        var rig = new Rig("arm64");
        ulong root = rig.Table.CreateRoot();
        ulong va = 0x0000_0040_0000_0000;
        ulong frame = 2 * (1UL << (shift - 12));
        rig.Table.Write(root, va, new PageMapping(frame, Rig.UserRw, (byte)shift));
        ulong block = rig.Memory.Read64(EntryAddress(rig, root, va, shift == 21 ? 2 : 3));
        Assert.Equal(0x1UL, block & 0x3); // block descriptor: bits[1:0] = 01
        var walk = rig.Walk(root, va + (1UL << shift) - 1);
        Assert.True(walk.IsOk);
        Assert.Equal(frame, walk.Leaf.Frame);
        Assert.Equal(reads, rig.Memrefs);
    }
}
