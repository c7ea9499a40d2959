using VmLab.Abstractions;
using VmLab.Abstractions.Workloads;
using VmLab.Core.Kernel;
using VmLab.Core.Memory;

namespace VmLab.Core.Tests.Kernel;

/// <summary>
/// Which VMAs fork copies page-table entries for (Linux copy_page_range → vma_needs_copy): only those with an anon_vma
/// (anonymous pages of their own, now or before) and VM_PFNMAP-like ones; shared mappings and private file mappings
/// never written start empty in the child, which faults their pages in from the page cache. The invariant checker runs
/// after every call and fault.
/// </summary>
public sealed class ForkCopyRuleTests
{
    private const ulong Page = 4096;

    private static (Machine M, IKernelApi Api, int Pid) Machine() => TestMachine.WithProcess();

    private static Vma VmaAt(Machine m, int pid, ulong address) => m.Kernel.FindProcess(pid)!.Mm.FindVma(address)!;

    private static void Access(IKernelApi api, int pid, ulong address, AccessKind kind, ulong value = 0) =>
        Assert.Equal(AccessStatus.Ok, api.Access(pid, 0, address, kind, 8, value).Status);

    [Fact]
    public void ForkCopiesNoEntryOfASharedMappingAndTakesNoReferenceOnItsPages()
    {
        var (m, api, pid) = Machine();
        ulong s = (ulong)api.Mmap(pid, 0, 4 * Page, Protection.ReadWrite, MapFlags.Shared | MapFlags.Anonymous);
        for (ulong i = 0; i < 4; i++) Access(api, pid, s + i * Page, AccessKind.Write, 0x10 + i);
        var frames = Enumerable.Range(0, 4).Select(i => m.Leaf(pid, s + (ulong)i * Page).Frame).ToArray();
        // Each shmem page: the page cache's reference and the parent's mapping.
        Assert.All(frames, f => Assert.Equal((2, 1), (m.Frames.RefCount(f), m.Frames.MapCount(f))));

        int child = api.Fork(pid);

        Assert.True(child > 0);
        Assert.False(VmaAt(m, pid, s).HasAnonVma);
        for (ulong i = 0; i < 4; i++) Assert.True(m.Leaf(child, s + i * Page).IsEmpty);
        Assert.All(frames, f => Assert.Equal((2, 1), (m.Frames.RefCount(f), m.Frames.MapCount(f))));
        Assert.Equal(0, api.Status(child).ResidentPages);
        Assert.Equal(4, api.Status(pid).ResidentPages);
        // The parent's entries are untouched: still writable and dirty.
        Assert.True(m.Leaf(pid, s).Has(PageFlags.Writable | PageFlags.Dirty));

        long minorBefore = m.M(MetricNames.FaultsMinor);
        Assert.Equal(0x12UL, api.Access(child, 0, s + 2 * Page, AccessKind.Read, 8, 0).Value);
        Assert.Equal(minorBefore + 1, m.M(MetricNames.FaultsMinor));
        var childLeaf = m.Leaf(child, s + 2 * Page);
        Assert.Equal(frames[2], childLeaf.Frame);
        Assert.Equal((3, 2), (m.Frames.RefCount(frames[2]), m.Frames.MapCount(frames[2])));
        // shmem needs no write notification: the read fault mapped the page writable, and clean.
        Assert.True(childLeaf.Has(PageFlags.Writable));
        Assert.False(childLeaf.Has(PageFlags.Dirty));
        long total = m.M(MetricNames.FaultsTotal);
        Access(api, child, s + 2 * Page, AccessKind.Write, 0x99);
        Assert.Equal(total, m.M(MetricNames.FaultsTotal));
        Assert.Equal(0x99UL, api.Access(pid, 0, s + 2 * Page, AccessKind.Read, 8, 0).Value);
    }

    [Fact]
    public void ForkOfAPrivateFileMappingNeverWrittenLeavesTheChildEmptyAndItFaultsFromThePageCache()
    {
        var (m, api, pid) = Machine();
        api.CreateFile("lib", 3 * Page, 0x7f);
        ulong f = (ulong)api.Mmap(pid, 0, 3 * Page, Protection.ReadWrite, MapFlags.Private, "lib");
        for (ulong i = 0; i < 3; i++) Access(api, pid, f + i * Page, AccessKind.Read);
        Assert.False(VmaAt(m, pid, f).HasAnonVma); // page-cache pages mapped read-only are not anonymous pages
        ulong cached = m.Leaf(pid, f + Page).Frame;

        int child = api.Fork(pid);

        for (ulong i = 0; i < 3; i++) Assert.True(m.Leaf(child, f + i * Page).IsEmpty);
        Assert.Equal((2, 1), (m.Frames.RefCount(cached), m.Frames.MapCount(cached)));
        var before = api.Status(child);
        Assert.Equal(0x7fUL, api.Access(child, 0, f + Page, AccessKind.Read, 1, 0).Value);
        var after = api.Status(child);
        Assert.Equal((before.MinorFaults + 1, before.MajorFaults), (after.MinorFaults, after.MajorFaults));
        Assert.Equal(cached, m.Leaf(child, f + Page).Frame);
        Assert.False(m.Leaf(child, f + Page).Has(PageFlags.Writable));
    }

    [Fact]
    public void OnceAPrivateFileMappingIsWrittenForkCopiesEveryEntryOfIt()
    {
        var (m, api, pid) = Machine();
        api.CreateFile("lib", 3 * Page, 0x7f);
        ulong f = (ulong)api.Mmap(pid, 0, 3 * Page, Protection.ReadWrite, MapFlags.Private, "lib");
        Access(api, pid, f, AccessKind.Read);
        Access(api, pid, f + 2 * Page, AccessKind.Write, 0x55); // do_cow_fault: a private copy, the VMA's anon_vma
        Assert.True(VmaAt(m, pid, f).HasAnonVma);
        ulong cached = m.Leaf(pid, f).Frame;
        ulong copy = m.Leaf(pid, f + 2 * Page).Frame;
        Assert.Equal((2, 1), (m.Frames.RefCount(cached), m.Frames.MapCount(cached)));

        int child = api.Fork(pid);

        Assert.Equal(cached, m.Leaf(child, f).Frame);
        Assert.Equal(copy, m.Leaf(child, f + 2 * Page).Frame);
        Assert.True(m.Leaf(child, f + Page).IsEmpty); // never mapped in the parent
        Assert.Equal((3, 2), (m.Frames.RefCount(cached), m.Frames.MapCount(cached)));
        Assert.Equal((2, 2), (m.Frames.RefCount(copy), m.Frames.MapCount(copy)));
        Assert.False(m.Leaf(pid, f + 2 * Page).Has(PageFlags.Writable)); // write-protected for copy-on-write
        Assert.Equal(2, api.Status(child).ResidentPages);
        Assert.True(VmaAt(m, child, f).HasAnonVma); // anon_vma_fork
    }

    [Fact]
    public void AnAnonymousVmaThatOnlyMapsTheZeroPageHasNoAnonVmaAndIsNotCopied()
    {
        var (m, api, pid) = Machine();
        ulong a = (ulong)api.Mmap(pid, 0, 3 * Page, Protection.ReadWrite, MapFlags.Private | MapFlags.Anonymous);
        for (ulong i = 0; i < 3; i++) Access(api, pid, a + i * Page, AccessKind.Read);
        Assert.Equal(FrameTable.ZeroPage, m.Leaf(pid, a).Frame);
        Assert.False(VmaAt(m, pid, a).HasAnonVma);

        int child = api.Fork(pid);

        for (ulong i = 0; i < 3; i++) Assert.True(m.Leaf(child, a + i * Page).IsEmpty);
        long zero = m.M(MetricNames.FaultsZeroPage);
        Access(api, child, a + Page, AccessKind.Read);
        Assert.Equal(zero + 1, m.M(MetricNames.FaultsZeroPage));
        Assert.Equal(FrameTable.ZeroPage, m.Leaf(child, a + Page).Frame);
    }

    [Fact]
    public void OneWrittenPageGivesTheVmaAnAnonVmaAndForkThenCopiesItsZeroPageEntriesToo()
    {
        var (m, api, pid) = Machine();
        ulong a = (ulong)api.Mmap(pid, 0, 3 * Page, Protection.ReadWrite, MapFlags.Private | MapFlags.Anonymous);
        Access(api, pid, a, AccessKind.Read);
        Access(api, pid, a + Page, AccessKind.Write, 1);
        Assert.True(VmaAt(m, pid, a).HasAnonVma);

        int child = api.Fork(pid);

        Assert.Equal(FrameTable.ZeroPage, m.Leaf(child, a).Frame);
        Assert.Equal(m.Leaf(pid, a + Page).Frame, m.Leaf(child, a + Page).Frame);
        Assert.True(m.Leaf(child, a + 2 * Page).IsEmpty);
        long faults = m.M(MetricNames.FaultsTotal);
        Access(api, child, a, AccessKind.Read);
        Access(api, child, a + Page, AccessKind.Read);
        Assert.Equal(faults, m.M(MetricNames.FaultsTotal));
    }

    [Fact]
    public void TheAnonVmaSurvivesSplitsAndDontneedAndPassesToEveryGeneration()
    {
        var (m, api, pid) = Machine();
        ulong a = (ulong)api.Mmap(pid, 0, 4 * Page, Protection.ReadWrite, MapFlags.Private | MapFlags.Anonymous);
        Access(api, pid, a, AccessKind.Write, 1);
        Assert.Equal(0, api.Mprotect(pid, a + Page, 2 * Page, Protection.Read)); // three VMAs now
        Assert.Equal(0, api.MadviseDontNeed(pid, a, Page)); // the page goes, the anon_vma stays
        var vmas = m.Kernel.FindProcess(pid)!.Mm.Vmas;
        Assert.Equal(3, vmas.Count);
        Assert.All(vmas, v => Assert.True(v.HasAnonVma));

        int child = api.Fork(pid);
        int grandchild = api.Fork(child);

        Assert.All(m.Kernel.FindProcess(grandchild)!.Mm.Vmas, v => Assert.True(v.HasAnonVma));
        // A VMA with an anon_vma is copied even without a page: its zero-page entries come along.
        Access(api, pid, a + 3 * Page, AccessKind.Read);
        int late = api.Fork(pid);
        Assert.Equal(FrameTable.ZeroPage, m.Leaf(late, a + 3 * Page).Frame);
    }

    [Fact]
    public void GrowingAStackPreparesItsAnonVmaEvenForARead()
    {
        var (m, api, pid) = Machine();
        ulong top = (ulong)api.Mmap(pid, 0, 2 * Page, Protection.ReadWrite, MapFlags.Private | MapFlags.Anonymous | MapFlags.GrowsDown);
        var p = m.Kernel.FindProcess(pid)!;
        Assert.False(VmaAt(m, pid, top).HasAnonVma);
        m.Kernel.AddressSpaces.ExpandStack(p, top, top - Page); // expand_downwards calls anon_vma_prepare first
        Assert.True(VmaAt(m, pid, top).HasAnonVma);
    }

    [Fact]
    public void AMapSharedMappingIsNeverGivenAnAnonVma()
    {
        var (m, api, pid) = Machine();
        api.CreateFile("data", 2 * Page, 1);
        ulong s = (ulong)api.Mmap(pid, 0, 2 * Page, Protection.ReadWrite, MapFlags.Shared, "data");
        Access(api, pid, s, AccessKind.Write, 2);
        Access(api, pid, s + Page, AccessKind.Read);
        Assert.False(VmaAt(m, pid, s).HasAnonVma);
        int child = api.Fork(pid);
        Assert.True(m.Leaf(child, s).IsEmpty);
        Assert.Equal(2UL, api.Access(child, 0, s, AccessKind.Read, 1, 0).Value);
    }

    [Fact]
    public void ForkStillFlushesTheParentsTlbWhenItCopiesNothing()
    {
        var (m, api, pid) = Machine();
        ulong s = (ulong)api.Mmap(pid, 0, Page, Protection.ReadWrite, MapFlags.Shared | MapFlags.Anonymous);
        Access(api, pid, s, AccessKind.Write, 3);
        long flushes = m.M(MetricNames.TlbFlushes);
        api.Fork(pid);
        Assert.Equal(flushes + 1, m.M(MetricNames.TlbFlushes)); // dup_mmap ends with flush_tlb_mm(oldmm)
    }
}
