using VmLab.Abstractions;
using VmLab.Abstractions.Workloads;

namespace VmLab.Core.Tests.Kernel;

/// <summary>mlock and mlockall: locked pages are populated, never reclaimed, and not inherited by a child of fork.</summary>
public sealed class MlockTests
{
    private const ulong Page = 4096;

    [Fact]
    public void ReclaimNeverTakesALockedPageEvenWhenThePolicyChoosesItFirst()
    {
        var m = TestMachine.Create(frames: 512, invariants: true, replacement: new FifoTestPolicy(), swapSlots: 16, userFrames: 4);
        var api = m.KernelApi;
        int pid = api.Spawn();
        ulong l = (ulong)api.Mmap(pid, 0, 2 * Page, Protection.ReadWrite, MapFlags.Private | MapFlags.Anonymous);
        Assert.Equal(0, api.Mlock(pid, 0, l, 2 * Page, 0)); // populated now: the oldest pages FIFO knows
        ulong a = (ulong)api.Mmap(pid, 0, 6 * Page, Protection.ReadWrite, MapFlags.Private | MapFlags.Anonymous);
        for (ulong i = 0; i < 6; i++) Assert.Equal(AccessStatus.Ok, api.Access(pid, 0, a + i * Page, AccessKind.Write, 1, 9).Status);

        Assert.True(api.Pagemap(pid, l).Present && api.Pagemap(pid, l + Page).Present);
        Assert.Equal(4, m.M(MetricNames.SwapOuts)); // a's first four pages went, one each time a frame was needed
        Assert.Equal(2, Enumerable.Range(0, 6).Count(i => api.Pagemap(pid, a + (ulong)i * Page).Present));

        Assert.Equal(0, api.Munlock(pid, 0, l, 2 * Page));
        Assert.Equal(0, api.Madvise(pid, 0, l, 2 * Page, Advice.PageOut)); // unlocked: PAGEOUT may take them now
        Assert.True(api.Pagemap(pid, l).Swapped);
    }

    [Fact]
    public void AChildOfForkInheritsNeitherLocksNorMlockallFuture()
    {
        var (_, api, pid) = TestMachine.WithProcess();
        ulong a = (ulong)api.Mmap(pid, 0, 2 * Page, Protection.ReadWrite, MapFlags.Private | MapFlags.Anonymous);
        Assert.Equal(0, api.Mlockall(pid, 0, LockFlags.Current | LockFlags.Future));
        Assert.Equal(-Errno.EINVAL, api.Madvise(pid, 0, a, Page, Advice.DontNeed)); // locked
        int child = api.Fork(pid, 0);
        Assert.Equal(0, api.Madvise(child, 0, a, Page, Advice.DontNeed));
        ulong c = (ulong)api.Mmap(child, 0, 2 * Page, Protection.ReadWrite, MapFlags.Private | MapFlags.Anonymous);
        Assert.False(api.Pagemap(child, c).Present); // no MCL_FUTURE in the child: not populated
        ulong p = (ulong)api.Mmap(pid, 0, 2 * Page, Protection.ReadWrite, MapFlags.Private | MapFlags.Anonymous);
        Assert.True(api.Pagemap(pid, p + Page).Present); // the parent's new mapping is locked and populated
    }
}
