using VmLab.Abstractions;
using VmLab.Abstractions.Workloads;

namespace VmLab.Core.Tests.Kernel;

/// <summary>
/// A fault whose frame is ready but whose page-table pages cannot be allocated ends in the OOM killer; the reference the
/// handler handed to MapPage must not leak (found by the invariant checker under random programs).
/// </summary>
public sealed class MapPageFailureTests
{
    private const ulong Page = 4096;

    /// <summary>A process with a mapping, and physical memory filled until <paramref name="left"/> frames are free.</summary>
    private static (Machine M, IKernelApi Api, int Pid, ulong Addr) Starved(MapFlags flags, int left)
    {
        var m = TestMachine.Create(frames: 64, fileHandler: true);
        var api = m.KernelApi;
        int pid = api.Spawn();
        ulong addr = (ulong)api.Mmap(pid, 0, Page, Protection.ReadWrite, flags | MapFlags.Anonymous);
        while (m.Frames.FreeFrames > left) Assert.True(m.Frames.TryAllocate(FrameUse.Kernel, out _));
        return (m, api, pid, addr);
    }

    [Fact]
    public void DemandZeroFrameIsFreedWhenItsTablesCannotBeAllocated()
    {
        // One free frame: the handler takes it for the page, then the walk down needs three table pages.
        var (m, api, pid, addr) = Starved(MapFlags.Private, left: 1);
        var r = api.Access(pid, 0, addr, AccessKind.Write, 8, 1);
        Assert.Equal(AccessStatus.Terminated, r.Status); // the OOM killer's only candidate is the faulting task
        Assert.Equal(1, m.Kernel.Events.Count(e => e.Kind == "oom-kill"));
        Assert.Equal(0, m.Frames.ResidentUserFrames);
        Assert.Equal(2, m.Frames.FreeFrames); // the page's frame and the killed task's top-level table
        Assert.Equal(0, m.Frames.PageTableFrames);
    }

    [Fact]
    public void SharedPageKeepsOnlyThePageCacheReferenceWhenItsTablesCannotBeAllocated()
    {
        var (m, api, pid, addr) = Starved(MapFlags.Shared, left: 1);
        var r = api.Access(pid, 0, addr, AccessKind.Read, 8, 0);
        Assert.Equal(AccessStatus.Terminated, r.Status);
        ulong cached = Assert.Single(m.Kernel.Files.Frames);
        Assert.Equal(1, m.Frames.RefCount(cached));
        Assert.Equal(0, m.Frames.MapCount(cached));
    }
}
