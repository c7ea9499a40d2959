using VmLab.Abstractions;
using VmLab.Abstractions.Workloads;

namespace VmLab.Core.Tests.Kernel;

/// <summary>mremap moves page-table entries: frames, counts and the reverse map follow the pages to the new address.</summary>
public sealed class MremapTests
{
    private const ulong Page = 4096;

    [Fact]
    public void AMovedPageKeepsItsFrameAndReclaimFindsItAtItsNewAddress()
    {
        var m = TestMachine.Create(frames: 512, invariants: true, replacement: new FifoTestPolicy(), swapSlots: 16, userFrames: 3);
        var api = m.KernelApi;
        int pid = api.Spawn();
        ulong a = (ulong)api.Mmap(pid, 0, 2 * Page, Protection.ReadWrite, MapFlags.Private | MapFlags.Anonymous);
        api.Access(pid, 0, a, AccessKind.Write, 1, 0x41);
        api.Access(pid, 0, a + Page, AccessKind.Write, 1, 0x42);
        ulong frame = api.Pagemap(pid, a).Frame;
        ulong wall = (ulong)api.Mmap(pid, a + 2 * Page, Page, Protection.Read, MapFlags.Private | MapFlags.Anonymous | MapFlags.FixedNoReplace);
        Assert.Equal(a + 2 * Page, wall); // growth in place is blocked: MAYMOVE moves

        long b = api.Mremap(pid, 0, a, 2 * Page, 4 * Page, RemapFlags.MayMove, 0);
        Assert.True(b > 0 && (ulong)b != a);
        Assert.Equal(frame, api.Pagemap(pid, (ulong)b).Frame); // moved, not copied
        Assert.Equal(default, api.Pagemap(pid, a));
        Assert.Equal(2, api.Status(pid).ResidentPages);

        // One more frame than the limit: FIFO evicts the oldest page, which must be found and unmapped at b, not at a.
        api.Access(pid, 0, (ulong)b + 2 * Page, AccessKind.Write, 1, 1);
        api.Access(pid, 0, (ulong)b + 3 * Page, AccessKind.Write, 1, 1);
        Assert.True(api.Pagemap(pid, (ulong)b).Swapped);
        Assert.Equal(0x41UL, api.Access(pid, 0, (ulong)b, AccessKind.Read, 1, 0).Value);
        Assert.NotEqual(AccessStatus.Ok, api.Access(pid, 0, a, AccessKind.Read, 1, 0).Status); // nothing is mapped at the old address
    }
}
