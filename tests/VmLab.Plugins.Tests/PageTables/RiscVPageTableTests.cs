using VmLab.Abstractions;
using VmLab.Abstractions.PageTables;
using VmLab.Plugins.PageTables;

namespace VmLab.Plugins.Tests.PageTables;

public sealed class RiscVPageTableTests
{
    private const ulong Va = 0x12_3456_7000; // inside Sv39's lower half

    private static ulong EntryAddress(Rig rig, ulong root, ulong va, int levels, int level)
    {
        ulong table = root;
        for (int l = levels; l > level; l--)
            table = ((rig.Memory.Read64(table + ((va >> (12 + 9 * (l - 1))) & 511) * 8) >> 10) & ((1UL << 44) - 1)) << 12;
        return table + ((va >> (12 + 9 * (level - 1))) & 511) * 8;
    }

    [Theory]
    [InlineData("riscv-sv39", 3)]
    [InlineData("riscv-sv48", 4)]
    [InlineData("riscv-sv57", 5)]
    public void StoreWalkLeavesPteWithVRWXUAD(string format, int levels)
    {
        var rig = new Rig(format);
        ulong root = rig.Table.CreateRoot();
        rig.Table.Write(root, Va, new PageMapping(0x4321, Rig.UserRw));
        Assert.True(rig.Walk(root, Va, AccessKind.Write).IsOk);
        Assert.Equal(0x4321UL << 10 | 0xDF, rig.Memory.Read64(EntryAddress(rig, root, Va, levels, 1)));
        for (int level = levels; level >= 2; level--)
            Assert.Equal(0x1UL, rig.Memory.Read64(EntryAddress(rig, root, Va, levels, level)) & 0x3FF); // Linux _PAGE_TABLE: V only
        Assert.Equal(levels, rig.Memrefs);
        Assert.Equal($"riscv-sv{12 + 9 * levels}", rig.Table.Geometry.Architecture);
    }

    [Fact]
    public void NoExecuteClearsXAndAReadWalkSetsOnlyA()
    {
        var rig = new Rig("riscv-sv39");
        ulong root = rig.Table.CreateRoot();
        rig.Table.Write(root, Va, new PageMapping(0x10, Rig.UserRw | PageFlags.NoExecute));
        Assert.True(rig.Walk(root, Va).IsOk);
        Assert.Equal(0x10UL << 10 | 0x57, rig.Memory.Read64(EntryAddress(rig, root, Va, 3, 1))); // V R W U A
        Assert.Equal(WalkStatus.Protection, rig.Walk(root, Va, AccessKind.Fetch).Status);
    }

    [Fact]
    public void BadlyExtendedAddressesArePageFaultsWithoutReads()
    {
        var rig = new Rig("riscv-sv39");
        ulong root = rig.Table.CreateRoot();
        Assert.True(rig.Table.IsCanonical(0x40_0000_0000));
        Assert.Equal(WalkStatus.NotPresent, rig.Walk(root, 0x40_0000_0000).Status);
        Assert.Equal(0, rig.Memrefs);
        Assert.Equal(WalkStatus.NotPresent, rig.Walk(root, 0xFFFF_FFC0_0000_0000).Status); // upper half: a real walk
        Assert.Equal(1, rig.Memrefs);
        Assert.Equal(1UL << 38, rig.Table.Geometry.UserTop);
    }

    [Theory]
    [InlineData("riscv-sv39", 21, 2)]
    [InlineData("riscv-sv39", 30, 1)]
    [InlineData("riscv-sv48", 39, 1)]
    [InlineData("riscv-sv57", 48, 1)]
    public void SuperpagesTranslateAnywhereInside(string format, int shift, int reads)
    {
        var rig = new Rig(format);
        ulong root = rig.Table.CreateRoot();
        ulong size = 1UL << shift;
        ulong va = shift >= 39 ? size : 4 * size;
        ulong frame = size >> 12;
        rig.Table.Write(root, va, new PageMapping(frame, Rig.UserRw, (byte)shift));
        var walk = rig.Walk(root, va + size - 8);
        Assert.True(walk.IsOk);
        Assert.Equal(frame, walk.Leaf.Frame);
        Assert.Equal(shift, walk.Leaf.PageShift);
        Assert.Equal(reads, rig.Memrefs);
    }

    [Fact]
    public void Sv39HasNoTerapages()
    {
        var rig = new Rig("riscv-sv39");
        ulong root = rig.Table.CreateRoot();
        Assert.Throws<ArgumentException>(() => rig.Table.Write(root, 1UL << 39, new PageMapping(1UL << 27, Rig.UserRw, 39)));
    }

    [Fact]
    public void WriteWithoutReadAndMisalignedSuperpagesFault()
    {
        var rig = new Rig("riscv-sv39");
        ulong root = rig.Table.CreateRoot();
        rig.Table.Write(root, Va, new PageMapping(0x10, Rig.UserRw));
        ulong pte = EntryAddress(rig, root, Va, 3, 1);
        rig.Memory.Write64(pte, 0x10UL << 10 | 0x1 | 0x4 | 0x10); // V W U: W without R is reserved
        Assert.Equal(WalkStatus.Reserved, rig.Walk(root, Va).Status);

        rig.Table.Write(root, 0x4000_0000, new PageMapping(0x200, Rig.UserRw, 21));
        ulong pmd = EntryAddress(rig, root, 0x4000_0000, 3, 2);
        rig.Memory.Write64(pmd, 0x201UL << 10 | 0xDF); // a megapage whose PPN[0] is not zero
        Assert.Equal(WalkStatus.Reserved, rig.Walk(root, 0x4000_0000).Status);
    }

    [Fact]
    public void WithSvadeAnUnaccessedPageFaultsAndACleanPageIsCachedReadOnly()
    {
        var rig = new Rig("riscv-sv39", riscvHardwareAd: false);
        Assert.True(rig.Table.Geometry.SoftwareAccessDirty);
        ulong root = rig.Table.CreateRoot();
        rig.Table.Write(root, Va, new PageMapping(0x10, Rig.UserRw));
        Assert.Equal(WalkStatus.AccessFlag, rig.Walk(root, Va).Status);
        rig.Table.Write(root, Va, new PageMapping(0x10, Rig.UserRw | PageFlags.Accessed));
        var read = rig.Walk(root, Va);
        Assert.True(read.IsOk);
        Assert.False(read.Leaf.Has(PageFlags.Writable));
        var store = rig.Walk(root, Va, AccessKind.Write);
        Assert.Equal(WalkStatus.Protection, store.Status);
        Assert.Equal(0x10UL << 10 | 0x5F, rig.Memory.Read64(EntryAddress(rig, root, Va, 3, 1))); // untouched: V R W X U A
    }

    [Fact]
    public void SupervisorNeedsSumForUserDataAndNeverExecutesUserPages()
    {
        var rig = new Rig("riscv-sv39");
        ulong root = rig.Table.CreateRoot();
        rig.Table.Write(root, Va, new PageMapping(0x10, Rig.UserRw));
        var outside = new CpuState(Smap: false, Smep: false, UaccessOpen: false, 0);
        Assert.Equal(WalkStatus.Protection, rig.Walk(root, Va, AccessKind.Read, AccessMode.Kernel, outside).Status);
        Assert.True(rig.Walk(root, Va, AccessKind.Write, AccessMode.Kernel, outside with { UaccessOpen = true }).IsOk);
        Assert.Equal(WalkStatus.Protection, rig.Walk(root, Va, AccessKind.Fetch, AccessMode.Kernel, outside with { UaccessOpen = true }).Status);
    }
}
