using VmLab.Abstractions;
using VmLab.Abstractions.PageTables;

namespace VmLab.Plugins.Tests.PageTables;

/// <summary>Properties every format keeps: one read per level, page-walk caches, no host allocation per walk.</summary>
public sealed class RadixWalkTests
{
    public static TheoryData<string> Radix => new(Rig.RadixFormats);
    public static TheoryData<string> All => new(Rig.AllFormats);

    [Theory]
    [MemberData(nameof(Radix))]
    public void WithoutPageWalkCacheEveryWalkReadsExactlyOneEntryPerLevel(string format)
    {
        var rig = new Rig(format);
        ulong root = rig.Table.CreateRoot();
        int levels = rig.Table.Geometry.Levels;
        for (int i = 0; i < 20; i++) rig.Table.Write(root, Rig.UserAddress(i * 7), new PageMapping(10 + (ulong)i, Rig.UserRw));
        for (int round = 0; round < 3; round++)
            for (int i = 0; i < 20; i++)
                Assert.True(rig.Walk(root, Rig.UserAddress(i * 7), AccessKind.Write).IsOk);
        Assert.Equal(60L * levels, rig.Memrefs);
        for (int l = 1; l <= levels; l++) Assert.Equal(60, rig.MemrefsAt(l));
        Assert.Equal(0, rig.Metrics["pwc.hits"] + rig.Metrics["pwc.misses"]);
    }

    [Theory]
    [MemberData(nameof(Radix))]
    public void PageWalkCacheHitLeavesOnlyTheLeafToRead(string format)
    {
        var rig = new Rig(format, pwcEntries: 4);
        ulong root = rig.Table.CreateRoot();
        int levels = rig.Table.Geometry.Levels;
        ulong a = Rig.UserAddress(0), b = Rig.UserAddress(1);
        rig.Table.Write(root, a, new PageMapping(1, Rig.UserRw));
        rig.Table.Write(root, b, new PageMapping(2, Rig.UserRw));
        Assert.True(rig.Walk(root, a).IsOk);
        Assert.Equal(levels, rig.Memrefs);
        Assert.Equal(1, rig.Metrics["pwc.misses"]);
        var walk = rig.Walk(root, b);
        Assert.Equal(2UL, walk.Leaf.Frame);
        Assert.Equal(levels + 1, rig.Memrefs);
        Assert.Equal(1, rig.Metrics["pwc.hits"]);
        Assert.Equal(1, rig.Metrics["pwc.l2.hits"]);

        rig.Table.InvalidateWalkCaches(root, b); // what the kernel's page flush does
        rig.Walk(root, b);
        Assert.Equal(2L * levels + 1, rig.Memrefs);
        Assert.Equal(2, rig.Metrics["pwc.misses"]);
    }

    /// <summary>The page sizes of each architecture (SDM Vol. 3A §4.3-4.5, Arm ARM D8 4 KiB granule, RISC-V privileged §4.4-4.6) and the level, counted from the leaf, whose entry maps each.</summary>
    public static TheoryData<string, int[]> PageSizes => new()
    {
        { "x86-64", [12, 21, 30] },
        { "x86-64-5", [12, 21, 30] },
        { "x86-32", [12, 22] },
        { "x86-32-pae", [12, 21] },
        { "arm64", [12, 21, 30] },
        { "riscv-sv39", [12, 21, 30] },
        { "riscv-sv48", [12, 21, 30, 39] },
        { "riscv-sv57", [12, 21, 30, 39, 48] },
    };

    [Theory]
    [MemberData(nameof(PageSizes))]
    public void EachPageSizeOfTheArchitectureMapsAtItsOwnLevelAndNoOtherSizeIsAccepted(string format, int[] shifts)
    {
        var rig = new Rig(format);
        ulong root = rig.Table.CreateRoot();
        int levels = rig.Table.Geometry.Levels;
        for (int shift = 12; shift <= 48; shift++)
        {
            ulong va = 1UL << shift, frame = 1UL << (shift - 12);
            var mapping = new PageMapping(frame, Rig.UserRw, (byte)shift);
            if (Array.IndexOf(shifts, shift) < 0)
            {
                var e = Assert.Throws<ArgumentException>(() => rig.Table.Write(root, va, mapping));
                Assert.StartsWith($"{rig.Table.Geometry.Architecture} has no {1UL << shift}-byte pages", e.Message);
                continue;
            }
            // 4 KiB pages are level 1; x86-32's 4 MiB page is a PDE (level 2); elsewhere each level adds 9 bits.
            int leafLevel = shift == 12 ? 1 : format == "x86-32" ? 2 : (shift - 12) / 9 + 1;
            Assert.True(rig.Table.Write(root, va, mapping));
            long before = rig.Memrefs;
            var walk = rig.Walk(root, va + (1UL << shift) - 8);
            Assert.True(walk.IsOk);
            Assert.Equal(frame, walk.Leaf.Frame);
            Assert.Equal(shift, walk.Leaf.PageShift);
            Assert.Equal(leafLevel, walk.Level);
            Assert.Equal(levels - leafLevel + 1, rig.Memrefs - before);
            Assert.True(rig.Table.Write(root, va, PageMapping.Empty));
        }
    }

    [Fact]
    public void PageWalkCacheHitResumesAtTheLowestCachedLevel()
    {
        var rig = new Rig("x86-64", pwcEntries: 4);
        ulong root = rig.Table.CreateRoot();
        ulong a = 0x7000_0000_0000, otherTable = a + (1UL << 21), otherDirectory = a + (1UL << 30);
        foreach (var va in new[] { a, otherTable, otherDirectory }) rig.Table.Write(root, va, new PageMapping(3, Rig.UserRw));
        rig.Walk(root, a);
        Assert.Equal(4, rig.Memrefs);
        rig.Walk(root, otherTable);      // PDPTE cached: reads PDE and PTE
        Assert.Equal(4 + 2, rig.Memrefs);
        Assert.Equal(1, rig.Metrics["pwc.l3.hits"]);
        rig.Walk(root, otherDirectory);  // PML4E cached: reads PDPTE, PDE, PTE
        Assert.Equal(4 + 2 + 3, rig.Memrefs);
        Assert.Equal(1, rig.Metrics["pwc.l4.hits"]);
    }

    [Fact]
    public void PageWalkCacheKeepsTheRightsOfTheLevelsItSkips()
    {
        var rig = new Rig("x86-64", pwcEntries: 4);
        ulong root = rig.Table.CreateRoot();
        ulong a = 0x7000_0000_0000, b = a + 0x1000;
        rig.Table.Write(root, a, new PageMapping(1, Rig.UserRw));
        rig.Table.Write(root, b, new PageMapping(2, Rig.UserRw));
        // Clear R/W in the PDPTE: everything below becomes read-only, whatever the leaves say.
        ulong pml4e = rig.Memory.Read64(root + ((a >> 39) & 511) * 8);
        ulong pdpteAddress = (pml4e & 0x000F_FFFF_FFFF_F000) + ((a >> 30) & 511) * 8;
        rig.Memory.Write64(pdpteAddress, rig.Memory.Read64(pdpteAddress) & ~2UL);
        Assert.True(rig.Walk(root, a).IsOk);                  // fills the caches
        var write = rig.Walk(root, b, AccessKind.Write);      // resumes from the cached PDE
        Assert.Equal(1, rig.Metrics["pwc.l2.hits"]);
        Assert.Equal(WalkStatus.Protection, write.Status);
        Assert.Equal(0x7u, write.ErrorCode.Value);
    }

    [Fact]
    public void HugeLeafReplacingACachedTableIsNotShadowedByThePageWalkCache()
    {
        var rig = new Rig("x86-64", pwcEntries: 8);
        ulong root = rig.Table.CreateRoot();
        ulong va = 0x4000_0000;
        rig.Table.Write(root, va, new PageMapping(7, Rig.UserRw));
        Assert.Equal(7UL, rig.Walk(root, va).Leaf.Frame);
        long tables = rig.Frames.PageTableFrames;
        rig.Table.Write(root, va, new PageMapping(0x400, Rig.UserRw, 21)); // collapse: the page table is freed
        Assert.Equal(tables - 1, rig.Frames.PageTableFrames);
        var walk = rig.Walk(root, va + 0x1000);
        Assert.Equal(0x400UL, walk.Leaf.Frame);
        Assert.Equal(21, walk.Leaf.PageShift);
    }
}

/// <summary>Walks allocate nothing on the host; measured alone, since other threads' collections shift the count.</summary>
[Collection(AllocationMeasurement.Name)]
public sealed class RadixWalkAllocationTests
{
    public static TheoryData<string> All => new(Rig.AllFormats);

    [Theory]
    [MemberData(nameof(All))]
    public void WalksAllocateNothingOnTheHost(string format)
    {
        var rig = new Rig(format, pwcEntries: format == "hashed" ? 0 : 4);
        ulong root = rig.Table.CreateRoot();
        for (int i = 0; i < 64; i++) rig.Table.Write(root, Rig.UserAddress(i * 3), new PageMapping(5 + (ulong)i, Rig.UserRw));
        var cpu = CpuState.LinuxDefault;
        var table = rig.Table;
        void Run()
        {
            for (int n = 0; n < 2000; n++)
            {
                ulong va = Rig.UserAddress(n % 200);
                table.Walk(root, va, (AccessKind)(n % 3), AccessMode.User, cpu);
                table.Walk(root, va, AccessKind.Read, AccessMode.Kernel, cpu); // SMAP fault
            }
        }
        Assert.Equal(0, AllocationMeasurement.FewestBytes(Run));
    }
}
