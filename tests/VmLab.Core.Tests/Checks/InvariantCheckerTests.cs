using VmLab.Abstractions;
using VmLab.Abstractions.Workloads;
using VmLab.Core.Checks;
using VmLab.Core.Memory;

namespace VmLab.Core.Tests.Checks;

public sealed class InvariantCheckerTests
{
    private const ulong Page = 4096;

    /// <summary>A process with one private read-write page at <c>addr</c>, written once (so it holds a frame).</summary>
    private static (Machine M, IKernelApi Api, int Pid, ulong Addr) OnePage(long every = 0)
    {
        var m = TestMachine.Create(frames: 256, invariants: true, checkEvery: every);
        var api = m.KernelApi;
        int pid = api.Spawn();
        ulong addr = (ulong)api.Mmap(pid, 0, 4 * Page, Protection.ReadWrite, MapFlags.Private | MapFlags.Anonymous);
        Assert.Equal(AccessStatus.Ok, api.Access(pid, 0, addr, AccessKind.Write, 8, 42).Status);
        return (m, api, pid, addr);
    }

    private static ulong FrameOf(Machine m, int pid, ulong addr) =>
        m.Kernel.PageTable.Read(m.Kernel.FindProcess(pid)!.PageTableRoot, addr).Frame;

    [Fact]
    public void ForkCowExitSequencePassesEveryCheck()
    {
        var (m, api, pid, addr) = OnePage();
        int child = api.Fork(pid);
        api.Access(child, 0, addr, AccessKind.Write, 8, 7);
        api.Access(pid, 0, addr + Page, AccessKind.Read, 8, 0);
        api.Mprotect(pid, addr, Page, Protection.Read);
        api.Munmap(child, addr + Page, Page);
        api.Exit(child, 0);
        api.Exit(pid, 0);
        // Spawn, mmap, access, fork, 2 accesses, mprotect, munmap, 2 exits = 10 operations, plus one check per fault.
        Assert.Equal(10 + m.M(MetricNames.FaultsTotal), m.Invariants!.Checks);
        Assert.Equal(m.Frames.FrameCount - 1, m.Frames.FreeFrames);
    }

    [Fact]
    public void ExtraReferenceIsReportedAsRefCountWithTheFrameAndTheMmap()
    {
        var (m, _, pid, addr) = OnePage();
        ulong pfn = FrameOf(m, pid, addr);
        m.Frames.Get(pfn);
        var e = Assert.Throws<InvariantViolationException>(() => m.Invariants!.Check());
        Assert.Equal("ref-count", e.Invariant);
        Assert.Contains($"frame {pfn} has reference count 2, but 1 leaf entries hold it", e.Message);
        // Operations without a range (spawn) touch every address of their pid; the fault and the access name the page.
        Assert.Contains($"last operations that touched it: #1 spawn pid {pid}; #2 mmap pid {pid} [0x{addr:x}-0x{addr + 4 * Page:x}) ReadWrite", e.Message);
        Assert.Contains($"#3 fault pid {pid} [0x{addr:x}-0x{addr + Page:x}) Write User cpu 0 -> Retry; #4 access pid {pid} [0x{addr:x}-0x{addr + Page:x}) Write cpu 0 -> Ok", e.Message);
    }

    [Fact]
    public void WrongMapCountIsReported()
    {
        var (m, _, pid, addr) = OnePage();
        ulong pfn = FrameOf(m, pid, addr);
        m.Frames.AddMap(pfn);
        var e = Assert.Throws<InvariantViolationException>(() => m.Invariants!.Check());
        Assert.Equal("map-count", e.Invariant);
        Assert.Contains($"frame {pfn} has map count 2, but 1 leaf entries map it", e.Message);
    }

    [Fact]
    public void UserFrameHeldByNothingIsALeak()
    {
        var (m, _, _, _) = OnePage();
        Assert.True(m.Frames.TryAllocate(FrameUse.User, out ulong leaked));
        var e = Assert.Throws<InvariantViolationException>(() => m.Invariants!.Check());
        Assert.Equal("free-xor-referenced", e.Invariant);
        Assert.Contains($"user frame {leaked} is allocated", e.Message);
    }

    [Fact]
    public void FreedFrameStillMappedIsReported()
    {
        var (m, _, pid, addr) = OnePage();
        ulong pfn = FrameOf(m, pid, addr);
        m.Frames.RemoveMap(pfn);
        m.Frames.Put(pfn);
        var e = Assert.Throws<InvariantViolationException>(() => m.Invariants!.Check());
        Assert.Equal("free-xor-referenced", e.Invariant);
        Assert.Contains($"frame {pfn} is free but mapped by pid {pid} at 0x{addr:x}", e.Message);
    }

    // A machine of 4,096 frames: the frame loop tests frames in stretches of 256 at a time when none is held, so a
    // state that is wrong in one frame of an otherwise untouched stretch must still be found, and a stretch that is
    // held (tails of a block) must not be counted free.

    /// <summary>The one-page process of <see cref="OnePage"/> on a machine large enough for untouched stretches.</summary>
    private static (Machine M, int Pid, ulong Addr) OnePageOfMany()
    {
        var m = TestMachine.Create(frames: 4096, invariants: true);
        var api = m.KernelApi;
        int pid = api.Spawn();
        ulong addr = (ulong)api.Mmap(pid, 0, 4 * Page, Protection.ReadWrite, MapFlags.Private | MapFlags.Anonymous);
        Assert.Equal(AccessStatus.Ok, api.Access(pid, 0, addr, AccessKind.Write, 8, 42).Status);
        m.Invariants!.Check();
        return (m, pid, addr);
    }

    [Fact]
    public void ALeafMappingAFreeFrameFarFromEveryAllocatedOneIsReported()
    {
        var (m, pid, addr) = OnePageOfMany();
        const ulong far = 3000;
        Assert.True(m.Frames.IsFree(far));
        var p = m.Kernel.FindProcess(pid)!;
        m.Kernel.PageTable.Write(p.PageTableRoot, addr + Page, new PageMapping(far, PageFlags.Present | PageFlags.User));
        var e = Assert.Throws<InvariantViolationException>(() => m.Invariants!.Check());
        Assert.Equal("free-xor-referenced", e.Invariant);
        Assert.Contains($"frame {far} is free but mapped by pid {pid} at 0x{addr + Page:x}", e.Message);
    }

    [Fact]
    public void AStrayMapCountOnAFreeFrameFarFromEveryAllocatedOneIsReported()
    {
        var (m, _, _) = OnePageOfMany();
        m.Frames.AddMap(3001);
        var e = Assert.Throws<InvariantViolationException>(() => m.Invariants!.Check());
        Assert.Equal("free-xor-referenced", e.Invariant);
        Assert.Contains("frame 3001 is free but has reference count 0 and map count 1", e.Message);
    }

    [Fact]
    public void AStrayReferenceOnAFreeFrameFarFromEveryAllocatedOneIsALeak()
    {
        var (m, _, _) = OnePageOfMany();
        m.Frames.Get(3002);
        var e = Assert.Throws<InvariantViolationException>(() => m.Invariants!.Check());
        Assert.Equal("free-xor-referenced", e.Invariant);
        Assert.Contains("user frame 3002 is allocated (reference count 1) but no mapping and no cache holds it", e.Message);
    }

    [Fact]
    public void TheTailsOfABlockFillingAWholeStretchAreCountedAsItsFramesNotAsFree()
    {
        var (m, _, _) = OnePageOfMany();
        Assert.True(m.Frames.TryAllocateBlock(9, FrameUse.Kernel, out ulong head));
        Assert.Equal(0UL, head % 512); // its second half, 256 tails, is a stretch of its own
        Assert.True(m.Frames.IsTail(head + 256) && m.Frames.IsTail(head + 511));
        long free = m.Frames.FreeFrames;
        m.Invariants!.Check();
        m.Frames.FreeBlock(head, 9, FrameUse.Kernel);
        Assert.Equal(free + 512, m.Frames.FreeFrames);
        m.Invariants!.Check();
    }

    [Fact]
    public void WritableEntryOnACowSharedFrameIsReported()
    {
        var (m, api, pid, addr) = OnePage();
        api.Fork(pid);
        var p = m.Kernel.FindProcess(pid)!;
        var leaf = m.Kernel.PageTable.Read(p.PageTableRoot, addr);
        Assert.False(leaf.Has(PageFlags.Writable)); // fork write-protected it
        m.Kernel.PageTable.Write(p.PageTableRoot, addr, leaf.With(PageFlags.Writable));
        var e = Assert.Throws<InvariantViolationException>(() => m.Invariants!.Check());
        Assert.Equal("writable-private-shared", e.Invariant);
        Assert.Contains($"frame {leaf.Frame} is mapped writable in a private VMA and is also mapped 1 more time(s)", e.Message);
    }

    [Fact]
    public void PageTablePageReachableFromNoRootIsALeak()
    {
        var (m, _, _, _) = OnePage();
        Assert.True(m.Frames.TryAllocate(FrameUse.PageTable, out ulong table));
        var e = Assert.Throws<InvariantViolationException>(() => m.Invariants!.Check());
        Assert.Equal("page-table-pages", e.Invariant);
        Assert.Contains($"accounts {m.Frames.PageTableFrames}", e.Message);
        Assert.True(table > 0);
    }

    [Fact]
    public void LeafOutsideEveryVmaIsReported()
    {
        var (m, _, pid, addr) = OnePage();
        var p = m.Kernel.FindProcess(pid)!;
        ulong outside = addr + 64 * Page;
        m.Kernel.PageTable.Write(p.PageTableRoot, outside, new PageMapping(FrameTable.ZeroPage, PageFlags.Present | PageFlags.User));
        var e = Assert.Throws<InvariantViolationException>(() => m.Invariants!.Check());
        Assert.Equal("mapping-outside-vma", e.Invariant);
        Assert.Contains($"pid {pid} maps 0x{outside:x}", e.Message);
    }

    [Fact]
    public void ViolationDuringAnOperationStopsThatOperation()
    {
        var (m, api, pid, addr) = OnePage();
        m.Frames.Get(FrameOf(m, pid, addr));
        var e = Assert.Throws<InvariantViolationException>(() => api.Mprotect(pid, addr, Page, Protection.Read));
        Assert.Contains("mprotect", e.Message);
    }

    [Fact]
    public void PeriodicCheckRunsEveryNAccesses()
    {
        var (m, _, pid, addr) = OnePage(every: 10);
        long before = m.Invariants!.Checks;
        long faults = m.M(MetricNames.FaultsTotal);
        var batch = Enumerable.Range(0, 25).Select(_ => MemoryAccess.Read(addr, 8, pid)).ToArray();
        m.Execute(batch);
        Assert.Equal(faults, m.M(MetricNames.FaultsTotal)); // all hits: only the period triggers checks
        Assert.Equal(2, m.Invariants.Checks - before);
        m.Execute(batch.AsSpan(0, 5));
        Assert.Equal(3, m.Invariants.Checks - before); // 25 + 5 = 30 accesses: the third period ends
    }

    [Fact]
    public void EveryHandledFaultIsChecked()
    {
        var (m, _, pid, addr) = OnePage();
        long before = m.Invariants!.Checks;
        long faults = m.M(MetricNames.FaultsTotal);
        m.Execute([MemoryAccess.Write(addr + Page, 8, pid), MemoryAccess.Read(addr + 2 * Page, 8, pid), MemoryAccess.Read(addr + 2 * Page, 8, pid)]);
        Assert.Equal(2, m.M(MetricNames.FaultsTotal) - faults);
        Assert.Equal(2, m.Invariants.Checks - before);
    }

    [Fact]
    public void AnAnonymousPageInAPrivateVmaWithoutAnAnonVmaIsReported()
    {
        // fork would skip such a VMA and the child would lose the page: the anon_vma must have been recorded.
        var (m, _, pid, addr) = OnePage();
        var vma = m.Kernel.FindProcess(pid)!.Mm.FindVma(addr)!;
        Assert.True(vma.HasAnonVma);
        vma.HasAnonVma = false;
        var e = Assert.Throws<InvariantViolationException>(() => m.Invariants!.Check());
        Assert.Equal("anon-vma", e.Invariant);
        Assert.Contains($"pid {pid} maps anonymous frame {FrameOf(m, pid, addr)} at 0x{addr:x}", e.Message);
    }

    [Fact]
    public void ASwapEntryInAPrivateVmaWithoutAnAnonVmaIsReported()
    {
        var m = TestMachine.Create(frames: 256, invariants: true);
        var api = m.KernelApi;
        int pid = api.Spawn();
        ulong addr = (ulong)api.Mmap(pid, 0, Page, Protection.ReadWrite, MapFlags.Private | MapFlags.Anonymous);
        Assert.True(m.Kernel.PageTable.Write(m.Kernel.FindProcess(pid)!.PageTableRoot, addr, new PageMapping(0, PageFlags.Swapped)));
        var e = Assert.Throws<InvariantViolationException>(() => m.Invariants!.Check());
        Assert.Equal("anon-vma", e.Invariant);
        Assert.Contains($"holds a swap entry at 0x{addr:x}", e.Message);
    }

    [Fact]
    public void ASwapSlotHeldByNoEntryNorTheSwapCacheIsALeak()
    {
        var m = TestMachine.Create(frames: 64, invariants: true, replacement: new FifoTestPolicy(), swapSlots: 8);
        m.KernelApi.Spawn();
        Assert.True(m.Kernel.Swap.Device.TryAllocate(out ulong slot));
        var e = Assert.Throws<InvariantViolationException>(() => m.Invariants!.Check());
        Assert.Equal("swap-slots", e.Invariant);
        Assert.Contains($"swap slot {slot} is allocated but neither a swap entry nor the swap cache holds it (leaked)", e.Message);
    }

    [Fact]
    public void ASwapEntryNamingAFreeSlotOrAMiscountedSlotIsReported()
    {
        var swap = TestMachine.Create(frames: 64, invariants: true, replacement: new FifoTestPolicy(), swapSlots: 8);
        var sapi = swap.KernelApi;
        int spid = sapi.Spawn();
        ulong sa = (ulong)sapi.Mmap(spid, 0, 2 * Page, Protection.ReadWrite, MapFlags.Private | MapFlags.Anonymous);
        Assert.Equal(AccessStatus.Ok, sapi.Access(spid, 0, sa, AccessKind.Write, 8, 1).Status);
        ulong root = swap.Kernel.FindProcess(spid)!.PageTableRoot;

        // An entry for slot 3, which the device never handed out.
        Assert.True(swap.Kernel.PageTable.Write(root, sa + Page, new PageMapping(3, PageFlags.Swapped)));
        var e = Assert.Throws<InvariantViolationException>(() => swap.Invariants!.Check());
        Assert.Equal("swap-slots", e.Invariant);
        Assert.Contains($"pid {spid} holds a swap entry at 0x{sa + Page:x} for slot 3, which is not allocated", e.Message);

        // The slot handed out, but its count says two entries name it while one does.
        Assert.True(swap.Kernel.Swap.Device.TryAllocate(out ulong slot));
        Assert.True(swap.Kernel.PageTable.Write(root, sa + Page, new PageMapping(slot, PageFlags.Swapped)));
        swap.Kernel.Swap.Device.Dup(slot);
        swap.Kernel.Swap.Device.Dup(slot);
        e = Assert.Throws<InvariantViolationException>(() => swap.Invariants!.Check());
        Assert.Equal("swap-slots", e.Invariant);
        Assert.Contains($"swap slot {slot} has reference count 2, but 1 swap entries name it", e.Message);
    }

    [Fact]
    public void PageCachePagesAndTheZeroPageNeedNoAnonVma()
    {
        var m = TestMachine.Create(frames: 256, invariants: true, fileHandler: true);
        var api = m.KernelApi;
        int pid = api.Spawn();
        api.CreateFile("f", Page, 1);
        ulong f = (ulong)api.Mmap(pid, 0, Page, Protection.ReadWrite, MapFlags.Private, "f");
        ulong a = (ulong)api.Mmap(pid, 0, Page, Protection.ReadWrite, MapFlags.Private | MapFlags.Anonymous);
        Assert.Equal(AccessStatus.Ok, api.Access(pid, 0, f, AccessKind.Read, 1, 0).Status);
        Assert.Equal(AccessStatus.Ok, api.Access(pid, 0, a, AccessKind.Read, 1, 0).Status);
        var mm = m.Kernel.FindProcess(pid)!.Mm;
        Assert.False(mm.FindVma(f)!.HasAnonVma);
        Assert.False(mm.FindVma(a)!.HasAnonVma);
        m.Invariants!.Check();
    }
}
