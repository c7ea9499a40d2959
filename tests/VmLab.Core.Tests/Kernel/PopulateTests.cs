using VmLab.Abstractions;
using VmLab.Abstractions.Workloads;

namespace VmLab.Core.Tests.Kernel;

/// <summary>
/// MAP_POPULATE (Linux populate_vma_page_range): write faults only for private writable mappings
/// ((vm_flags &amp; (VM_WRITE | VM_SHARED)) == VM_WRITE), read faults for everything else, shared writable mappings included.
/// The faults count as the caller's minor/major faults, never as page-fault exceptions.
/// </summary>
public sealed class PopulateTests
{
    private const ulong Page = 4096;

    private static (Machine M, IKernelApi Api, int Pid) Machine() => TestMachine.WithProcess();

    [Fact]
    public void SharedAnonymousMemoryIsPopulatedWithReadFaultsLeavingPagesWritableAndClean()
    {
        var (m, api, pid) = Machine();
        ulong s = (ulong)api.Mmap(pid, 0, 4 * Page, Protection.ReadWrite, MapFlags.Shared | MapFlags.Anonymous | MapFlags.Populate);
        var st = api.Status(pid);
        Assert.Equal((4L, 0L, 0L), (st.MinorFaults, st.MajorFaults, st.PageFaults));
        Assert.Equal(0, m.M(MetricNames.FaultsTotal));
        for (ulong i = 0; i < 4; i++)
        {
            var leaf = m.Leaf(pid, s + i * Page);
            Assert.True(leaf.Has(PageFlags.Present | PageFlags.Writable), $"page {i}: shmem's page protection is writable");
            Assert.False(leaf.Has(PageFlags.Dirty), $"page {i}: a read fault does not dirty it");
        }
        for (ulong i = 0; i < 4; i++) Assert.Equal(AccessStatus.Ok, api.Access(pid, 0, s + i * Page, AccessKind.Write, 8, i).Status);
        Assert.Equal(0, m.M(MetricNames.FaultsTotal));
        Assert.True(m.Leaf(pid, s).Has(PageFlags.Dirty)); // the CPU set it on the write
    }

    [Fact]
    public void ASharedWritableFileMappingIsPopulatedReadOnlyAndItsFirstWritesTakeWriteNotifyFaults()
    {
        var (m, api, pid) = Machine();
        api.CreateFile("data", 3 * Page, 0x41);
        ulong f = (ulong)api.Mmap(pid, 0, 3 * Page, Protection.ReadWrite, MapFlags.Shared | MapFlags.Populate, "data");
        var st = api.Status(pid);
        Assert.Equal((0L, 3L, 0L), (st.MinorFaults, st.MajorFaults, st.PageFaults)); // each page read from the file
        var cache = m.Kernel.Files.Frames.ToHashSet();
        for (ulong i = 0; i < 3; i++)
        {
            var leaf = m.Leaf(pid, f + i * Page);
            Assert.True(leaf.IsPresent);
            Assert.False(leaf.Has(PageFlags.Writable));
            Assert.False(leaf.Has(PageFlags.Dirty));
            Assert.Contains(leaf.Frame, cache); // the page-cache page itself, never a copy
        }
        Assert.Equal(3, m.M(MetricNames.PagesAllocated));

        for (ulong i = 0; i < 3; i++) Assert.Equal(AccessStatus.Ok, api.Access(pid, 0, f + i * Page, AccessKind.Write, 1, 0x50 + i).Status);
        Assert.Equal(3, m.M(MetricNames.FaultsTotal)); // wp_page_shared, one per page
        Assert.Equal(3, api.Status(pid).MinorFaults);
        Assert.Equal(0, m.M(MetricNames.FaultsCowCopy));
        Assert.Equal(3, m.M(MetricNames.PagesAllocated));
        Assert.True(m.Leaf(pid, f + Page).Has(PageFlags.Writable | PageFlags.Dirty));
    }

    [Fact]
    public void APrivateWritableMappingIsPopulatedWithWriteFaults()
    {
        var (m, api, pid) = Machine();
        api.CreateFile("lib", 2 * Page, 0x41);
        ulong a = (ulong)api.Mmap(pid, 0, 2 * Page, Protection.ReadWrite, MapFlags.Private | MapFlags.Anonymous | MapFlags.Populate);
        ulong f = (ulong)api.Mmap(pid, 0, 2 * Page, Protection.ReadWrite, MapFlags.Private | MapFlags.Populate, "lib");
        var cache = m.Kernel.Files.Frames.ToHashSet();
        foreach (ulong p in new[] { a, a + Page, f, f + Page })
        {
            var leaf = m.Leaf(pid, p);
            Assert.True(leaf.Has(PageFlags.Writable | PageFlags.Dirty));
            Assert.NotEqual(0UL, leaf.Frame);
            Assert.DoesNotContain(leaf.Frame, cache); // private frames: COW broken now
        }
        Assert.Equal(0x41UL, api.Access(pid, 0, f + Page, AccessKind.Read, 1, 0).Value);
        Assert.Equal(0, m.M(MetricNames.FaultsTotal));
    }

    [Fact]
    public void ASharedReadOnlyMappingAndAPrivateReadOnlyOneAreReadFaulted()
    {
        var (m, api, pid) = Machine();
        ulong a = (ulong)api.Mmap(pid, 0, 2 * Page, Protection.Read, MapFlags.Private | MapFlags.Anonymous | MapFlags.Populate);
        ulong s = (ulong)api.Mmap(pid, 0, 2 * Page, Protection.Read, MapFlags.Shared | MapFlags.Anonymous | MapFlags.Populate);
        Assert.Equal(4, api.Status(pid).MinorFaults);
        Assert.Equal(0UL, m.Leaf(pid, a).Frame); // the zero page
        Assert.False(m.Leaf(pid, s).Has(PageFlags.Writable)); // a shmem page under PROT_READ
        Assert.True(m.Leaf(pid, s).IsPresent);
    }

    [Fact]
    public void ATrackedShmemPageReadFaultedAgainStaysWriteProtectedUntilItsFirstWriteIsLogged()
    {
        var (m, api, pid) = Machine();
        ulong s = (ulong)api.Mmap(pid, 0, Page, Protection.ReadWrite, MapFlags.Shared | MapFlags.Anonymous);
        Assert.Equal(AccessStatus.Ok, api.Access(pid, 0, s, AccessKind.Write, 8, 1).Status);
        Assert.Equal(0, api.TrackDirty(pid, s, Page));
        Assert.Equal(0, api.MadviseDontNeed(pid, s, Page));
        Assert.Equal(1UL, api.Access(pid, 0, s, AccessKind.Read, 8, 0).Value);
        Assert.False(m.Leaf(pid, s).Has(PageFlags.Writable)); // shmem's writable page protection, held back by tracking
        long faults = m.M(MetricNames.FaultsTotal);
        Assert.Equal(AccessStatus.Ok, api.Access(pid, 0, s, AccessKind.Write, 8, 2).Status);
        Assert.Equal(faults + 1, m.M(MetricNames.FaultsTotal));
        Assert.Equal([s], api.CollectDirty(pid));
    }
}
