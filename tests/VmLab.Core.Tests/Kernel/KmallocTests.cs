using VmLab.Abstractions;
using VmLab.Abstractions.Workloads;
using VmLab.Core.Checks;
using VmLab.Core.Memory;

namespace VmLab.Core.Tests.Kernel;

/// <summary>kmalloc of more than a page: one contiguous buddy block (SLUB's kmalloc_large above two pages), reached through the direct map.</summary>
public sealed class KmallocTests
{
    private const ulong Page = 4096;

    /// <summary>Where the page-table format puts the direct map (the fake's: the first top-level slot of the kernel half).</summary>
    private static ulong DirectMap(Machine m) => m.Kernel.KernelHalf.Layout.DirectMapBase;

    /// <summary>get_order as the textbook defines it: the smallest k with 4096 · 2^k ≥ size.</summary>
    private static int ReferenceOrder(ulong size)
    {
        int k = 0;
        while (Page << k < size) k++;
        return k;
    }

    [Theory]
    [InlineData(1UL)]
    [InlineData(4096UL)]
    [InlineData(4097UL)]
    [InlineData(8192UL)]
    [InlineData(8193UL)]
    [InlineData(12288UL)]
    [InlineData(32768UL)]
    [InlineData(32769UL)]
    [InlineData(1UL << 21)]
    [InlineData((1UL << 22) - 1)]
    [InlineData(1UL << 22)]
    public void KmallocTakesTheSmallestBlockThatHoldsTheSize(ulong size) =>
        Assert.Equal(ReferenceOrder(size), VmLab.Core.Kernel.KernelHalf.KmallocOrder(size));

    [Fact]
    public void AnEightPageKmallocIsOneAlignedBlockWrittenThroughTheDirectMap()
    {
        var m = TestMachine.Create(frames: 4096, invariants: true);
        var api = m.KernelApi;
        int pid = api.Spawn();
        long free = m.Frames.FreeFrames;

        ulong address = (ulong)api.Kmalloc(8 * Page);

        ulong pfn = (address - DirectMap(m)) / Page;
        Assert.Equal(0UL, address % Page);
        Assert.Equal(0UL, pfn % 8); // naturally aligned, as every buddy block
        Assert.Equal(3, m.Frames.BlockOrder(pfn));
        for (ulong i = 1; i < 8; i++) Assert.True(m.Frames.IsTail(pfn + i));
        // The kernel half and the block. The fake maps the direct map with 4 KiB pages only, 512 to a leaf table, all of it
        // under one top-level slot and one level-3 entry: 16 MiB needs the reference root, one level-3 and one level-2
        // table and 4096 / 512 leaf tables; the vmalloc range's two top-level slots are pre-populated with a table each.
        long kernelHalf = 1 + 1 + 1 + 4096 / 512 + 2;
        Assert.Equal(free - kernelHalf - 8, m.Frames.FreeFrames);

        long faults = m.M(MetricNames.FaultsTotal);
        Assert.Equal(AccessStatus.Ok, api.KernelAccess(pid, 0, address + 7 * Page + 100, AccessKind.Write, 8, 0x1122334455667788).Status);
        Assert.Equal(0x88, m.Kernel.Memory.ReadByte(((pfn + 7) << 12) + 100)); // the eighth frame of the block
        Assert.Equal(0x1122334455667788UL, api.KernelAccess(pid, 0, address + 7 * Page + 100, AccessKind.Read, 8, 0).Value);
        Assert.Equal(faults, m.M(MetricNames.FaultsTotal));
    }

    [Fact]
    public void KmallocUpToFourMebibytesSucceedsAndAboveReturnsNullWithAWarning()
    {
        var m = TestMachine.Create(frames: 4096, invariants: true);
        m.KernelApi.Spawn();
        long atMax = m.KernelApi.Kmalloc(4UL << 20);
        Assert.NotEqual(0, atMax);
        Assert.Equal(10, m.Frames.BlockOrder(((ulong)atMax - DirectMap(m)) / Page));
        Assert.Equal(0, m.KernelApi.Kmalloc((4UL << 20) + 1));
        Assert.Contains(m.Kernel.Events, e => e.Kind == "warning" && e.Message.Contains("KMALLOC_MAX_SIZE is 4194304"));
    }

    [Fact]
    public void KfreeGivesTheBlockBackAndItMergesWithItsBuddies()
    {
        var m = TestMachine.Create(frames: 4096, invariants: true);
        m.KernelApi.Spawn();
        m.Kernel.KernelHalf.Ensure(0);
        var before = Enumerable.Range(0, FrameTable.MaxOrder + 1).Select(k => m.Frames.FreeBlocks(k)).ToArray();

        long a = m.KernelApi.Kmalloc(5 * Page); // order 3
        long b = m.KernelApi.Kmalloc(64 * Page); // order 6
        m.KernelApi.Kfree((ulong)a);
        m.KernelApi.Kfree((ulong)b);

        Assert.Equal(before, Enumerable.Range(0, FrameTable.MaxOrder + 1).Select(k => m.Frames.FreeBlocks(k)).ToArray());
        Assert.Empty(m.Kernel.KernelHalf.KmallocBlocks);
    }

    [Fact]
    public void ALargeKmallocFailsInFragmentedMemoryWithPlentyFree()
    {
        var m = TestMachine.Create(frames: 1024);
        m.Kernel.KernelHalf.Ensure(0);
        var taken = new List<ulong>();
        while (m.Frames.TryAllocate(FrameUse.Kernel, out ulong pfn)) taken.Add(pfn);
        foreach (ulong pfn in taken.Where(p => p % 2 == 0)) m.Frames.Free(pfn, FrameUse.Kernel);
        long free = m.Frames.FreeFrames;
        Assert.True(free >= 400, $"{free} frames free");
        Assert.Equal(free, m.Frames.FreeBlocks(0)); // every free frame's buddy is held

        Assert.Equal(0UL, m.Kernel.KernelHalf.Kmalloc(2 * Page, 0)); // even two contiguous pages are not to be had
        Assert.Equal(0UL, m.Kernel.KernelHalf.Kmalloc(8 * Page, 0));
        Assert.NotEqual(0UL, m.Kernel.KernelHalf.Kmalloc(Page, 0));
        Assert.Equal(free - 1, m.Frames.FreeFrames);
    }

    [Fact]
    public void KfreeAcceptsNullAndZeroSizeAndRefusesAnythingElseItDidNotHandOut()
    {
        var m = TestMachine.Create(frames: 4096);
        var k = m.Kernel.KernelHalf;
        Assert.Equal(VmLab.Core.Kernel.KernelHalf.ZeroSizePtr, k.Kmalloc(0, 0));
        long free = m.Frames.FreeFrames;
        k.Kfree(0);
        k.Kfree(VmLab.Core.Kernel.KernelHalf.ZeroSizePtr);
        Assert.Equal(free, m.Frames.FreeFrames);

        ulong a = k.Kmalloc(3 * Page, 0);
        Assert.Throws<ArgumentException>(() => k.Kfree(a + Page)); // inside the block, not its start
        Assert.Throws<ArgumentException>(() => k.Kfree(0x1000)); // not a direct-map address
        k.Kfree(a);
        Assert.Throws<ArgumentException>(() => k.Kfree(a)); // a double free
        Assert.Equal(free, m.Frames.FreeFrames);
    }

    [Fact]
    public void TheCheckerCountsTheTailsOfAKmallocBlockAndCatchesABlockFreedBehindTheKernelsBack()
    {
        var m = TestMachine.Create(frames: 4096, invariants: true);
        m.KernelApi.Spawn();
        ulong a = (ulong)m.KernelApi.Kmalloc(16 * Page); // checked after the call: 15 tails, not free
        m.Invariants!.Check();

        m.Frames.FreeBlock((a - DirectMap(m)) / Page, 4, FrameUse.Kernel);
        var e = Assert.Throws<InvariantViolationException>(() => m.Invariants.Check());
        Assert.Equal("kmalloc-blocks", e.Invariant);
    }
}
