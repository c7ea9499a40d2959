using VmLab.Abstractions;
using VmLab.Abstractions.Workloads;

namespace VmLab.Core.Tests.Kernel;

/// <summary>
/// madvise's effects on reclaim: MADV_FREE makes a page lazily freeable (discarded while clean, swapped once written
/// again), MADV_PAGEOUT reclaims the range now. The scenarios madvise-*.vms check the same against Linux.
/// </summary>
public sealed class MadviseTests
{
    private const ulong Page = 4096;

    private static (Machine M, IKernelApi Api, int Pid) Reclaiming(long userFrames)
    {
        var m = TestMachine.Create(frames: 512, invariants: true, replacement: new FifoTestPolicy(), swapSlots: 16, userFrames: userFrames);
        return (m, m.KernelApi, m.KernelApi.Spawn());
    }

    [Fact]
    public void ReclaimDiscardsALazilyFreedCleanPageWithoutSwapAndSwapsOutOneWrittenAgain()
    {
        var (m, api, pid) = Reclaiming(userFrames: 4);
        ulong a = (ulong)api.Mmap(pid, 0, 4 * Page, Protection.ReadWrite, MapFlags.Private | MapFlags.Anonymous);
        for (ulong i = 0; i < 4; i++) api.Access(pid, 0, a + i * Page, AccessKind.Write, 1, 0x70 + i);
        Assert.Equal(0, api.Madvise(pid, 0, a, 4 * Page, Advice.Free));
        Assert.Equal(AccessStatus.Ok, api.Access(pid, 0, a, AccessKind.Write, 1, 0x55).Status); // page 0 is dirty again

        // Two new pages need two frames: FIFO takes page 0 (written again: to swap), then page 1 (clean: discarded).
        ulong b = (ulong)api.Mmap(pid, 0, 2 * Page, Protection.ReadWrite, MapFlags.Private | MapFlags.Anonymous);
        api.Access(pid, 0, b, AccessKind.Write, 1, 1);
        api.Access(pid, 0, b + Page, AccessKind.Write, 1, 1);
        Assert.Equal(1, m.M(MetricNames.SwapOuts));
        Assert.True(api.Pagemap(pid, a).Swapped);
        Assert.Equal(default, api.Pagemap(pid, a + Page)); // discarded: no frame, no swap entry

        long minor = api.Status(pid).MinorFaults, major = api.Status(pid).MajorFaults;
        Assert.Equal(0UL, api.Access(pid, 0, a + Page, AccessKind.Read, 1, 0).Value); // zeros, as after MADV_DONTNEED
        Assert.Equal(0x55UL, api.Access(pid, 0, a, AccessKind.Read, 1, 0).Value);    // read back from swap
        Assert.Equal((minor + 1, major + 1), (api.Status(pid).MinorFaults, api.Status(pid).MajorFaults));
    }

    [Fact]
    public void APageForkSharesIsNeitherLazilyFreedNorPagedOut()
    {
        var (m, api, pid) = Reclaiming(userFrames: 0);
        ulong a = (ulong)api.Mmap(pid, 0, 2 * Page, Protection.ReadWrite, MapFlags.Private | MapFlags.Anonymous);
        api.Access(pid, 0, a, AccessKind.Write, 1, 7);
        api.Access(pid, 0, a + Page, AccessKind.Write, 1, 8);
        int child = api.Fork(pid, 0);
        Assert.Equal(0, api.Madvise(pid, 0, a, 2 * Page, Advice.Free));
        Assert.Equal(0, api.Madvise(pid, 0, a, 2 * Page, Advice.PageOut));
        Assert.Equal(0, m.M(MetricNames.SwapOuts));
        Assert.True(api.Pagemap(pid, a).Present && api.Pagemap(child, a).Present);
        Assert.Equal(api.Pagemap(pid, a).Frame, api.Pagemap(child, a).Frame);
        Assert.Equal(7UL, api.Access(child, 0, a, AccessKind.Read, 1, 0).Value);
    }

    [Fact]
    public void PopulateStopsAtTheFirstPageItCannotFaultInKeepingThoseBefore()
    {
        var (_, api, pid) = Reclaiming(userFrames: 0);
        ulong a = (ulong)api.Mmap(pid, 0, 4 * Page, Protection.ReadWrite, MapFlags.Private | MapFlags.Anonymous);
        Assert.Equal(0, api.Mprotect(pid, 0, a + 2 * Page, Page, Protection.Read));
        Assert.Equal(-Errno.EINVAL, api.Madvise(pid, 0, a, 4 * Page, Advice.PopulateWrite));
        Assert.Equal([true, true, false, false], Enumerable.Range(0, 4).Select(i => api.Pagemap(pid, a + (ulong)i * Page).Present));
        Assert.Equal(0, api.Madvise(pid, 0, a + 2 * Page, 2 * Page, Advice.PopulateRead));
        Assert.Equal(-Errno.EINVAL, api.Madvise(pid, 0, a + 1, Page, Advice.PopulateRead)); // start not page-aligned
    }
}
