using VmLab.Abstractions;
using VmLab.Abstractions.PageTables;
using VmLab.Plugins.PageTables;

namespace VmLab.Plugins.Tests.PageTables;

public sealed class X86_64PageTableTests
{
    private const ulong Va = 0x7f12_3456_7000;

    /// <summary>Follows the tables by hand: the address of the entry at <paramref name="level"/> (4 = PML4).</summary>
    private static ulong EntryAddress(Rig rig, ulong root, ulong va, int level)
    {
        ulong table = root;
        for (int l = 4; l > level; l--)
            table = rig.Memory.Read64(table + ((va >> (12 + 9 * (l - 1))) & 511) * 8) & 0x000F_FFFF_FFFF_F000;
        return table + ((va >> (12 + 9 * (level - 1))) & 511) * 8;
    }

    [Fact]
    public void WriteWalkOnPresentWritableUserPageLeavesPteFrameShiftedOr0x67()
    {
        var rig = new Rig("x86-64");
        ulong root = rig.Table.CreateRoot();
        ulong frame = 0x1234;
        Assert.True(rig.Table.Write(root, Va, new PageMapping(frame, Rig.UserRw)));
        var walk = rig.Walk(root, Va + 0x10, AccessKind.Write);
        Assert.Equal(WalkStatus.Ok, walk.Status);
        Assert.Equal(frame << 12 | 0x67, rig.Memory.Read64(EntryAddress(rig, root, Va, 1)));
        for (int level = 4; level >= 2; level--)
        {
            ulong e = rig.Memory.Read64(EntryAddress(rig, root, Va, level));
            Assert.Equal(0x67UL, e & 0xFFF); // Linux _PAGE_TABLE: P RW US A D
            Assert.NotEqual(0UL, e & 0x000F_FFFF_FFFF_F000);
        }
        Assert.Equal(new PageMapping(frame, Rig.UserRw | PageFlags.Accessed | PageFlags.Dirty), walk.Leaf);
    }

    [Fact]
    public void ReadWalkSetsAccessedButNotDirty()
    {
        var rig = new Rig("x86-64");
        ulong root = rig.Table.CreateRoot();
        rig.Table.Write(root, Va, new PageMapping(0x99, Rig.UserRw));
        rig.Walk(root, Va);
        Assert.Equal(0x99UL << 12 | 0x27, rig.Memory.Read64(EntryAddress(rig, root, Va, 1)));
    }

    [Fact]
    public void NoExecutePageHasXdAndProtectionKeyBitsInThePte()
    {
        var rig = new Rig("x86-64");
        ulong root = rig.Table.CreateRoot();
        rig.Table.Write(root, Va, new PageMapping(0x42, Rig.UserRw | PageFlags.NoExecute, 12, ProtectionKey: 5));
        Assert.Equal(1UL << 63 | 5UL << 59 | 0x42UL << 12 | 0x7, rig.Memory.Read64(EntryAddress(rig, root, Va, 1)));
    }

    public static TheoryData<string, AccessKind, AccessMode, PageFlags, bool, bool, uint, uint> ErrorCodes => new()
    {
        // case, kind, mode, leaf flags (None = not mapped), smap uaccess open, smep, pkru, expected error code
        { "user read, not present", AccessKind.Read, AccessMode.User, PageFlags.None, false, true, 0, 0x4 },
        { "user write, not present", AccessKind.Write, AccessMode.User, PageFlags.None, false, true, 0, 0x6 },
        { "user fetch, not present", AccessKind.Fetch, AccessMode.User, PageFlags.None, false, true, 0, 0x14 },
        { "kernel read, not present", AccessKind.Read, AccessMode.Kernel, PageFlags.None, false, true, 0, 0x0 },
        { "kernel write, not present", AccessKind.Write, AccessMode.Kernel, PageFlags.None, false, true, 0, 0x2 },
        { "user write to read-only", AccessKind.Write, AccessMode.User, PageFlags.Present | PageFlags.User, false, true, 0, 0x7 },
        { "user read of supervisor page", AccessKind.Read, AccessMode.User, PageFlags.Present | PageFlags.Writable, false, true, 0, 0x5 },
        { "user fetch of NX page", AccessKind.Fetch, AccessMode.User, Rig.UserRw | PageFlags.NoExecute, false, true, 0, 0x15 },
        { "SMAP: kernel read of user page", AccessKind.Read, AccessMode.Kernel, Rig.UserRw, false, true, 0, 0x1 },
        { "SMAP: kernel write of user page", AccessKind.Write, AccessMode.Kernel, Rig.UserRw, false, true, 0, 0x3 },
        { "SMEP: kernel fetch of user page", AccessKind.Fetch, AccessMode.Kernel, Rig.UserRw, false, true, 0, 0x11 },
        { "PKRU access-disable for key 3", AccessKind.Read, AccessMode.User, Rig.UserRw, false, true, 1u << 6, 0x25 },
        { "PKRU write-disable for key 3", AccessKind.Write, AccessMode.User, Rig.UserRw, false, true, 1u << 7, 0x27 },
    };

    [Theory]
    [MemberData(nameof(ErrorCodes))]
    public void FaultsCarryTheExactX86ErrorCode(string situation, AccessKind kind, AccessMode mode, PageFlags flags, bool uaccess, bool smep, uint pkru, uint expected)
    {
        var rig = new Rig("x86-64");
        ulong root = rig.Table.CreateRoot();
        if (flags != PageFlags.None) rig.Table.Write(root, Va, new PageMapping(0x42, flags, 12, ProtectionKey: 3));
        var cpu = new CpuState(Smap: true, Smep: smep, UaccessOpen: uaccess, Pkru: pkru);
        var walk = rig.Walk(root, Va, kind, mode, cpu);
        Assert.False(walk.IsOk, situation);
        Assert.Equal(expected, walk.ErrorCode.Value);
    }

    [Fact]
    public void PkruWriteDisableStillAllowsReadsAndUaccessAllowsKernelAccessToUserPages()
    {
        var rig = new Rig("x86-64");
        ulong root = rig.Table.CreateRoot();
        rig.Table.Write(root, Va, new PageMapping(0x42, Rig.UserRw, 12, ProtectionKey: 3));
        Assert.True(rig.Walk(root, Va, AccessKind.Read, AccessMode.User, new CpuState(true, true, false, 1u << 7)).IsOk);
        Assert.True(rig.Walk(root, Va, AccessKind.Write, AccessMode.Kernel, new CpuState(true, true, UaccessOpen: true, 0)).IsOk);
    }

    [Fact]
    public void ReservedBitsFaultWithRsvd()
    {
        var rig = new Rig("x86-64");
        ulong root = rig.Table.CreateRoot();
        rig.Table.Write(root, Va, new PageMapping(0x42, Rig.UserRw));
        ulong pte = EntryAddress(rig, root, Va, 1);
        rig.Memory.Write64(pte, rig.Memory.Read64(pte) | 1UL << 50); // above MAXPHYADDR 46
        var walk = rig.Walk(root, Va);
        Assert.Equal(WalkStatus.Reserved, walk.Status);
        Assert.Equal(0xDu, walk.ErrorCode.Value); // P | U | RSVD

        ulong pml4e = EntryAddress(rig, root, Va, 4);
        rig.Memory.Write64(pml4e, rig.Memory.Read64(pml4e) | X86Paging.PS);
        walk = rig.Walk(root, Va, AccessKind.Write);
        Assert.Equal(WalkStatus.Reserved, walk.Status);
        Assert.Equal(4, walk.Level);
        Assert.Equal(0xFu, walk.ErrorCode.Value); // P | W | U | RSVD
    }

    [Fact]
    public void TwoMegabytePdeWithLowAddressBitSetIsReserved()
    {
        var rig = new Rig("x86-64");
        ulong root = rig.Table.CreateRoot();
        rig.Table.Write(root, 0x4000_0000, new PageMapping(0x200, Rig.UserRw, 21));
        ulong pde = EntryAddress(rig, root, 0x4000_0000, 2);
        Assert.Equal(0x200UL << 12 | 0x87, rig.Memory.Read64(pde)); // PS | US | RW | P
        rig.Memory.Write64(pde, rig.Memory.Read64(pde) | 1UL << 13);
        Assert.Equal(WalkStatus.Reserved, rig.Walk(root, 0x4000_0000).Status);
    }

    [Theory]
    [InlineData(4, 0x0000_7FFF_FFFF_FFFFUL, true)]
    [InlineData(4, 0x0000_8000_0000_0000UL, false)]
    [InlineData(4, 0xFFFF_8000_0000_0000UL, true)]
    [InlineData(4, 0xFFFF_7FFF_FFFF_FFFFUL, false)]
    [InlineData(5, 0x0000_8000_0000_0000UL, true)]
    [InlineData(5, 0x00FF_FFFF_FFFF_FFFFUL, true)]
    [InlineData(5, 0x0100_0000_0000_0000UL, false)]
    [InlineData(5, 0xFF00_0000_0000_0000UL, true)]
    public void CanonicalCheckFollowsTheLevelCount(int levels, ulong va, bool canonical)
    {
        var rig = new Rig(levels == 5 ? "x86-64-5" : "x86-64");
        Assert.Equal(canonical, rig.Table.IsCanonical(va));
    }

    [Theory]
    [InlineData("x86-64", 21, 3)]
    [InlineData("x86-64", 30, 2)]
    [InlineData("x86-64-5", 21, 4)]
    [InlineData("x86-64-5", 30, 3)]
    public void HugeLeavesTranslateAnywhereInsideWithFewerReads(string format, int shift, int reads)
    {
        var rig = new Rig(format);
        ulong root = rig.Table.CreateRoot();
        ulong size = 1UL << shift;
        ulong va = 0x0000_0040_0000_0000 + 3 * size;
        ulong frame = 5 * (size >> 12);
        rig.Table.Write(root, va, new PageMapping(frame, Rig.UserRw, (byte)shift));
        ulong offset = size - 0x1238;
        var walk = rig.Walk(root, va + offset);
        Assert.True(walk.IsOk);
        Assert.Equal(frame, walk.Leaf.Frame);
        Assert.Equal(shift, walk.Leaf.PageShift);
        Assert.Equal(reads, rig.Memrefs);
        Assert.Equal(new PageMapping(frame, Rig.UserRw | PageFlags.Accessed, (byte)shift), rig.Table.Read(root, va + offset));
    }

    [Fact]
    public void FiveLevelWalkReadsFiveEntries()
    {
        var rig = new Rig("x86-64-5");
        ulong root = rig.Table.CreateRoot();
        ulong va = 0x00AB_CDEF_1234_5000; // above the 48-bit range
        rig.Table.Write(root, va, new PageMapping(7, Rig.UserRw));
        Assert.True(rig.Walk(root, va).IsOk);
        Assert.Equal(5, rig.Memrefs);
        for (int l = 1; l <= 5; l++) Assert.Equal(1, rig.MemrefsAt(l));
    }
}

public sealed class X86_32PageTableTests
{
    private const ulong Va = 0x0804_8000; // PDE index 0x20, PTE index 0x48

    [Fact]
    public void FourByteEntriesEncodeTheLinuxValues()
    {
        var rig = new Rig("x86-32");
        ulong root = rig.Table.CreateRoot();
        rig.Table.Write(root, Va, new PageMapping(0xABCDE, Rig.UserRw | PageFlags.NoExecute));
        Assert.True(rig.Walk(root, Va + 4, AccessKind.Write).IsOk);
        uint pde = rig.Read32(root + 0x20 * 4);
        Assert.Equal(0x67u, pde & 0xFFF);
        uint pte = rig.Read32((pde & 0xFFFF_F000) + 0x48 * 4);
        Assert.Equal(0xABCDE067u, pte); // no NX bit exists without PAE
        Assert.Equal(2, rig.Memrefs);
        Assert.Equal(0UL, rig.Memory.Read64(root + 0x20 * 4) >> 32); // the neighbouring PDE (index 0x21) is untouched
    }

    [Fact]
    public void PsePageOf4MiBUsesPse36HighBitsAndTranslatesWithOneRead()
    {
        var rig = new Rig("x86-32");
        ulong root = rig.Table.CreateRoot();
        ulong frame = 0x100400; // physical 0x1_0040_0000: bit 32 goes to PDE bit 13
        rig.Table.Write(root, 0x4000_0000, new PageMapping(frame, Rig.UserRw, 22));
        var walk = rig.Walk(root, 0x4012_3456);
        Assert.True(walk.IsOk);
        Assert.Equal(frame, walk.Leaf.Frame);
        Assert.Equal(22, walk.Leaf.PageShift);
        Assert.Equal(1, rig.Memrefs);
        Assert.Equal(0x0040_20A7u, rig.Read32(root + 0x100 * 4)); // addr 31:22 | PA[32] at bit 13 | PS | A | US RW P
        rig.Memory.Write64(root + 0x100 * 4, 0x0040_20A7UL | 1UL << 21);
        var bad = rig.Walk(root, 0x4012_3456);
        Assert.Equal(WalkStatus.Reserved, bad.Status);
        Assert.Equal(0xDu, bad.ErrorCode.Value);
    }

    [Fact]
    public void FetchErrorCodeReportsIOnlyWithSmep()
    {
        var rig = new Rig("x86-32");
        ulong root = rig.Table.CreateRoot();
        Assert.Equal(0x4u, rig.Walk(root, Va, AccessKind.Fetch, AccessMode.User, new CpuState(true, Smep: false, false, 0)).ErrorCode.Value);
        Assert.Equal(0x14u, rig.Walk(root, Va, AccessKind.Fetch, AccessMode.User, new CpuState(true, Smep: true, false, 0)).ErrorCode.Value);
    }

    [Fact]
    public void WithoutNxAUserFetchOfANoExecuteMappingSucceeds()
    {
        var rig = new Rig("x86-32");
        ulong root = rig.Table.CreateRoot();
        rig.Table.Write(root, Va, new PageMapping(3, Rig.UserRw | PageFlags.NoExecute));
        Assert.True(rig.Walk(root, Va, AccessKind.Fetch).IsOk);
        Assert.False(rig.Table.Read(root, Va).Has(PageFlags.NoExecute));
    }

    [Fact]
    public void AddressSpaceIsFourGigabytesWithUserSpaceBelowThreeGigabytes()
    {
        var rig = new Rig("x86-32");
        Assert.True(rig.Table.IsCanonical(0xFFFF_FFFF));
        Assert.False(rig.Table.IsCanonical(0x1_0000_0000));
        Assert.Equal(0xC000_0000UL, rig.Table.Geometry.UserTop);
        Assert.Equal(0xC000_0000UL, rig.Table.Geometry.KernelBase);
    }
}

public sealed class X86PaePageTableTests
{
    private const ulong Va = 0x0804_8000; // PDPTE 0, PDE 0x40, PTE 0x48

    [Fact]
    public void PdptePdeAndPteHoldTheLinuxValues()
    {
        var rig = new Rig("x86-32-pae");
        ulong root = rig.Table.CreateRoot();
        rig.Table.Write(root, Va, new PageMapping(0x12345, Rig.UserRw | PageFlags.NoExecute));
        Assert.True(rig.Walk(root, Va, AccessKind.Write).IsOk);
        ulong pdpte = rig.Memory.Read64(root);
        Assert.Equal(0x1UL, pdpte & 0xFFF); // address | P only
        ulong pde = rig.Memory.Read64((pdpte & ~0xFFFUL) + 0x40 * 8);
        Assert.Equal(0x67UL, pde & 0xFFF);
        ulong pte = rig.Memory.Read64((pde & 0x000F_FFFF_FFFF_F000) + 0x48 * 8);
        Assert.Equal(1UL << 63 | 0x12345UL << 12 | 0x67, pte);
        Assert.Equal(3, rig.Memrefs);
        Assert.Equal(0x15u, rig.Walk(root, Va, AccessKind.Fetch).ErrorCode.Value);
    }

    [Fact]
    public void PdpteWithReadWriteBitIsReserved()
    {
        var rig = new Rig("x86-32-pae");
        ulong root = rig.Table.CreateRoot();
        rig.Table.Write(root, Va, new PageMapping(1, Rig.UserRw));
        rig.Memory.Write64(root, rig.Memory.Read64(root) | 0x2);
        var walk = rig.Walk(root, Va);
        Assert.Equal(WalkStatus.Reserved, walk.Status);
        Assert.Equal(3, walk.Level);
        Assert.Equal(0xDu, walk.ErrorCode.Value);
    }

    [Fact]
    public void TwoMegabytePagesTranslateWithTwoReads()
    {
        var rig = new Rig("x86-32-pae");
        ulong root = rig.Table.CreateRoot();
        rig.Table.Write(root, 0xBFE0_0000, new PageMapping(0x400, Rig.UserRw, 21));
        var walk = rig.Walk(root, 0xBFFF_FFFF);
        Assert.True(walk.IsOk);
        Assert.Equal(0x400UL, walk.Leaf.Frame);
        Assert.Equal(2, rig.Memrefs);
        Assert.False(rig.Table.IsCanonical(0x1_0000_0000));
    }
}
