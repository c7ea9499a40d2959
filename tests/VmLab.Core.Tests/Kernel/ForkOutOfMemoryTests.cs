using VmLab.Abstractions;
using VmLab.Abstractions.Workloads;
using VmLab.Core.Memory;

namespace VmLab.Core.Tests.Kernel;

/// <summary>
/// fork when the child's page tables cannot be allocated (Linux dup_mmap / copy_page_range returning -ENOMEM): the half-built
/// child gives back everything it took and never exists. The invariant checker runs after every call.
/// </summary>
public sealed class ForkOutOfMemoryTests
{
    private const ulong Page = 4096;

    /// <summary>
    /// A parent with two written pages on the heap and two in an mmap region, under different top-level slots: on the
    /// 4-level fake page table a child needs 7 table frames, its top level, then a level-3, level-2 and leaf table for
    /// each region.
    /// </summary>
    private static (Machine M, IKernelApi Api, int Pid, ulong Heap, ulong Map) Parent()
    {
        var m = TestMachine.Create(frames: 64, invariants: true);
        var api = m.KernelApi;
        int pid = api.Spawn();
        ulong heap = (ulong)api.Brk(pid, 0);
        Assert.Equal((long)(heap + 2 * Page), api.Brk(pid, heap + 2 * Page));
        ulong map = (ulong)api.Mmap(pid, 0, 2 * Page, Protection.ReadWrite, MapFlags.Private | MapFlags.Anonymous);
        for (ulong i = 0; i < 2; i++)
        {
            Assert.Equal(AccessStatus.Ok, api.Access(pid, 0, heap + i * Page, AccessKind.Write, 8, 0x10 + i).Status);
            Assert.Equal(AccessStatus.Ok, api.Access(pid, 0, map + i * Page, AccessKind.Write, 8, 0x20 + i).Status);
        }
        return (m, api, pid, heap, map);
    }

    private static void Starve(Machine m, long left)
    {
        while (m.Frames.FreeFrames > left) Assert.True(m.Frames.TryAllocate(FrameUse.Kernel, out _));
    }

    private static PageMapping Leaf(Machine m, int pid, ulong address) =>
        m.Kernel.PageTable.Read(m.Kernel.FindProcess(pid)!.PageTableRoot, address);

    [Theory]
    [InlineData(0)] // no top-level table
    [InlineData(1)] // the top level, no level-3 table for the heap
    [InlineData(3)] // up to the heap's level-2 table, no leaf table
    [InlineData(4)] // every heap table and both heap pages shared, no level-3 table for the mmap region
    [InlineData(6)] // up to the mmap region's level-2 table, no leaf table
    public void ForkWithoutFramesForTheChildsTablesReturnsEnomemAndLeavesNothingOfTheChild(int free)
    {
        var (m, api, pid, heap, map) = Parent();
        Starve(m, free);
        long tables = m.Frames.PageTableFrames;

        Assert.Equal(-Errno.ENOMEM, api.Fork(pid));

        Assert.Equal(free, m.Frames.FreeFrames);
        Assert.Equal(tables, m.Frames.PageTableFrames);
        Assert.Single(m.Kernel.Processes.All);
        Assert.Equal(1, m.Kernel.Events.Count(e => e.Kind == "fork-failed"));
        foreach (ulong a in new[] { heap, heap + Page, map, map + Page })
        {
            ulong pfn = Leaf(m, pid, a).Frame;
            Assert.Equal((1, 1), (m.Frames.RefCount(pfn), m.Frames.MapCount(pfn)));
        }
        // copy_present_pte write-protected the heap entries it copied before the failure; they stay so, as in Linux.
        Assert.Equal(free < 4, Leaf(m, pid, heap).Has(PageFlags.Writable));
        Assert.True(Leaf(m, pid, map).Has(PageFlags.Writable));
        Assert.Equal(4, api.Status(pid).ResidentPages);
        Assert.Equal(0x21UL, api.Access(pid, 0, map + Page, AccessKind.Read, 8, 0).Value);
        Assert.Equal(pid + 1, m.Kernel.Processes.NextPid()); // no pid was used
    }

    [Fact]
    public void ForkWithExactlySevenFreeFramesSucceedsAndTakesThemAll()
    {
        var (m, api, pid, heap, _) = Parent();
        Starve(m, 7);
        int child = api.Fork(pid);
        Assert.Equal(pid + 1, child);
        Assert.Equal(0, m.Frames.FreeFrames);
        Assert.Equal(0x11UL, api.Access(child, 0, heap + Page, AccessKind.Read, 8, 0).Value);
    }

    [Fact]
    public void AfterAFailedForkTheParentsWritesReuseItsPagesWithoutCopying()
    {
        var (m, api, pid, heap, map) = Parent();
        Starve(m, 4);
        Assert.Equal(-Errno.ENOMEM, api.Fork(pid));
        long minor = m.M(MetricNames.FaultsMinor), allocated = m.M(MetricNames.PagesAllocated);

        api.Access(pid, 0, heap, AccessKind.Write, 8, 0x99);
        api.Access(pid, 0, heap + Page, AccessKind.Write, 8, 0x98);
        api.Access(pid, 0, map, AccessKind.Write, 8, 0x97);

        Assert.Equal(minor + 2, m.M(MetricNames.FaultsMinor)); // the two write-protected heap pages
        Assert.Equal(2, m.M(MetricNames.FaultsCowReuse));
        Assert.Equal(0, m.M(MetricNames.FaultsCowCopy));
        Assert.Equal(allocated, m.M(MetricNames.PagesAllocated));
        Assert.Equal(0x99UL, api.Access(pid, 0, heap, AccessKind.Read, 8, 0).Value);
    }

    /// <summary>
    /// A parent whose first region's oldest page is the first entry fork copies, with one frame free (for the child's top
    /// level): the child's level-3 table is reclaimed from that very page, which goes to swap while its entry is being copied.
    /// </summary>
    [Fact]
    public void ThePageReclaimedWhileItsEntryIsCopiedReachesTheChildAsTheParentsSwapEntry()
    {
        var m = TestMachine.Create(frames: 64, invariants: true, replacement: new FifoTestPolicy(), swapSlots: 8);
        var api = m.KernelApi;
        int pid = api.Spawn(); // 62 free
        ulong a = (ulong)api.Mmap(pid, 0, 58 * Page, Protection.ReadWrite, MapFlags.Private | MapFlags.Anonymous);
        for (ulong i = 0; i < 58; i++) api.Access(pid, 0, a + i * Page, AccessKind.Write, 8, 0x100 + i); // 58 pages + 3 tables
        Assert.Equal(1, m.Frames.FreeFrames);
        Assert.Equal(0, m.M(MetricNames.SwapOuts));

        int child = api.Fork(pid);

        Assert.True(child > 0);
        // The child's level-3, level-2 and leaf tables were reclaimed from a0, a1 and a2, oldest first.
        Assert.Equal(3, m.M("reclaim.direct"));
        for (ulong i = 0; i < 3; i++)
        {
            var parentLeaf = Leaf(m, pid, a + i * Page);
            Assert.True(parentLeaf.IsSwapped);
            Assert.Equal(parentLeaf, Leaf(m, child, a + i * Page));
            Assert.Equal(2, m.Kernel.Swap.Device.RefCount(parentLeaf.Frame));
        }
        Assert.Equal(55, api.Status(child).ResidentPages);
        Assert.Equal(0x100UL, api.Access(child, 0, a, AccessKind.Read, 8, 0).Value);
        Assert.Equal(0x100UL, api.Access(pid, 0, a, AccessKind.Read, 8, 0).Value);
    }

    [Fact]
    public void AFailedForkReleasesTheSwapEntriesItDuplicated()
    {
        var m = TestMachine.Create(frames: 64, invariants: true, replacement: new FifoTestPolicy(), swapSlots: 2);
        var api = m.KernelApi;
        int pid = api.Spawn(); // 62 free
        ulong heap = (ulong)api.Brk(pid, 0);
        api.Brk(pid, heap + 2 * Page);
        api.Access(pid, 0, heap, AccessKind.Write, 8, 0x51);
        api.Access(pid, 0, heap + Page, AccessKind.Write, 8, 0x52); // 2 pages + 3 tables: 57 free
        ulong a = (ulong)api.Mmap(pid, 0, 56 * Page, Protection.ReadWrite, MapFlags.Private | MapFlags.Anonymous);
        for (ulong i = 0; i < 56; i++) api.Access(pid, 0, a + i * Page, AccessKind.Write, 8, i);
        // 56 pages + 3 tables need 59 of 57 frames: the two heap pages went to swap, which is now full.
        Assert.Equal(2, m.M(MetricNames.SwapOuts));
        Assert.Equal(0, m.Frames.FreeFrames);
        Assert.Equal(0, api.Munmap(pid, a + 52 * Page, 4 * Page)); // 4 free
        var heapLeaves = new[] { Leaf(m, pid, heap), Leaf(m, pid, heap + Page) };
        Assert.All(heapLeaves, l => Assert.True(l.IsSwapped));

        // Top level and the heap's three tables fit; both swap entries are copied; the mmap region's level-3 table does not fit
        // and nothing can be reclaimed (every resident page is dirty and swap is full).
        Assert.Equal(-Errno.ENOMEM, api.Fork(pid));

        Assert.Equal(4, m.Frames.FreeFrames);
        Assert.Equal(2, m.M("reclaim.direct")); // the two of the setup: fork's attempt found nothing to reclaim
        Assert.Single(m.Kernel.Processes.All);
        for (int i = 0; i < 2; i++)
        {
            Assert.Equal(heapLeaves[i], Leaf(m, pid, heap + (ulong)i * Page));
            Assert.Equal(1, m.Kernel.Swap.Device.RefCount(heapLeaves[i].Frame));
        }
        Assert.Equal(2, m.Kernel.Swap.SlotsInUse);
        Assert.Equal(0x52UL, api.Access(pid, 0, heap + Page, AccessKind.Read, 8, 0).Value);
    }
}
