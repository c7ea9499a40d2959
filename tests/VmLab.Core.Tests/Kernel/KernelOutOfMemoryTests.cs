using VmLab.Abstractions;
using VmLab.Abstractions.Devices;
using VmLab.Abstractions.Signals;
using VmLab.Abstractions.Workloads;
using VmLab.Core.Memory;

namespace VmLab.Core.Tests.Kernel;

/// <summary>
/// The kernel paths other than fork that need a frame, at memory exhaustion: each fails as Linux does (an errno, NULL, or
/// the OOM killer for a fault), never with an exception, and leaves nothing allocated behind.
/// </summary>
public sealed class KernelOutOfMemoryTests
{
    private const ulong Page = 4096;

    /// <summary>Takes frames as the kernel's own until <paramref name="left"/> are free; returns them.</summary>
    private static List<ulong> Starve(Machine m, long left)
    {
        var taken = new List<ulong>();
        while (m.Frames.FreeFrames > left)
        {
            Assert.True(m.Frames.TryAllocate(FrameUse.Kernel, out ulong pfn));
            taken.Add(pfn);
        }
        return taken;
    }

    [Fact]
    public void SpawnWithoutAFrameForItsTopLevelReturnsEnomemAndUsesNoPid()
    {
        var m = TestMachine.Create(frames: 64, invariants: true);
        var taken = Starve(m, 0);
        Assert.Equal(-Errno.ENOMEM, m.KernelApi.Spawn());
        Assert.Equal(-Errno.ENOMEM, m.KernelApi.CreateProcess(7));
        Assert.Empty(m.Kernel.Processes.All);
        m.Frames.Free(taken[^1], FrameUse.Kernel);
        Assert.Equal(100, m.KernelApi.Spawn()); // the first pid the kernel hands out
    }

    [Fact]
    public void ExecWithoutAFrameForTheNewAddressSpaceKeepsTheOldImageAndHandlers()
    {
        var m = TestMachine.Create(frames: 64, invariants: true);
        var api = m.KernelApi;
        int pid = api.Spawn();
        ulong a = (ulong)api.Mmap(pid, 0, Page, Protection.ReadWrite, MapFlags.Private | MapFlags.Anonymous);
        api.Access(pid, 0, a, AccessKind.Write, 8, 0x42); // 1 page + 3 tables
        api.SetSignalDisposition(pid, Signal.SIGSEGV, SignalDisposition.Handler);
        var taken = Starve(m, 0);

        Assert.Equal(-Errno.ENOMEM, api.Execve(pid));
        Assert.Equal(0x42UL, api.Access(pid, 0, a, AccessKind.Read, 8, 0).Value);
        Assert.Equal(SignalDisposition.Handler, m.Kernel.FindProcess(pid)!.GetDisposition(Signal.SIGSEGV));

        m.Frames.Free(taken[^1], FrameUse.Kernel);
        Assert.Equal(0, api.Execve(pid));
        Assert.Equal(SignalDisposition.Default, m.Kernel.FindProcess(pid)!.GetDisposition(Signal.SIGSEGV));
        Assert.Equal(5, m.Frames.FreeFrames); // the new top level took the freed frame; the old page, 3 tables and top level came back
        Assert.Equal(AccessStatus.Terminated, api.Access(pid, 0, a, AccessKind.Read, 8, 0).Status); // the old mapping is gone: SIGSEGV
    }

    [Fact]
    public void PopulateThatRunsOutOomKillsTheLargestProcessAndFaultsThePageAgain()
    {
        var m = TestMachine.Create(frames: 64, invariants: true);
        var api = m.KernelApi;
        int hog = api.Spawn(); // 62 free
        ulong h = (ulong)api.Mmap(hog, 0, 50 * Page, Protection.ReadWrite, MapFlags.Private | MapFlags.Anonymous);
        for (ulong i = 0; i < 50; i++) api.Access(hog, 0, h + i * Page, AccessKind.Write, 8, i); // 50 pages + 3 tables: 9 free
        int pid = api.Spawn(); // 8 free

        // Page 0 and its 3 tables, pages 1-4: memory is full at page 5, whose fault OOM-kills the hog (50 pages against
        // 5) and is then taken again, as the allocator retries after a kill.
        long r = api.Mmap(pid, 0, 10 * Page, Protection.ReadWrite, MapFlags.Private | MapFlags.Anonymous | MapFlags.Populate);

        Assert.True(r > 0);
        var status = api.Status(pid);
        Assert.True(status.Alive);
        Assert.Equal((10L, 10L, 0L), (status.MinorFaults, status.ResidentPages, status.PageFaults));
        Assert.Equal(Signal.SIGKILL, api.Status(hog).TerminatingSignal);
        Assert.Equal(1, m.M(MetricNames.SignalsSigkill));
        Assert.Equal(63 - 1 - 3 - 10, m.Frames.FreeFrames);
        for (ulong i = 0; i < 10; i++) Assert.True(m.Kernel.PageTable.Read(m.Kernel.FindProcess(pid)!.PageTableRoot, (ulong)r + i * Page).IsPresent);
    }

    [Fact]
    public void PopulateBeyondMemoryKillsTheCallerAndMmapStillReturnsTheAddress()
    {
        var m = TestMachine.Create(frames: 64, invariants: true);
        var api = m.KernelApi;
        int pid = api.Spawn();
        // mm_populate's errors are ignored: mmap has succeeded; the fault that found no frame OOM-killed the only process.
        long r = api.Mmap(pid, 0, 100 * Page, Protection.ReadWrite, MapFlags.Private | MapFlags.Anonymous | MapFlags.Populate);
        Assert.True(r > 0);
        Assert.Equal(Signal.SIGKILL, api.Status(pid).TerminatingSignal);
        Assert.Equal(1, m.Kernel.Events.Count(e => e.Kind == "oom-kill"));
        Assert.Equal(63, m.Frames.FreeFrames);
    }

    [Fact]
    public void PopulateRaisesNoSignalForPagesItCannotFault()
    {
        var m = TestMachine.Create(frames: 256, invariants: true, fileHandler: true);
        var api = m.KernelApi;
        int pid = api.Spawn();
        api.CreateFile("f", 100, 7);
        // PROT_NONE: get_user_pages refuses it (-EFAULT to mm_populate, ignored). Past the end of a file: the fault is
        // VM_FAULT_SIGBUS, an error for get_user_pages, not a signal.
        Assert.True(api.Mmap(pid, 0, 2 * Page, Protection.None, MapFlags.Private | MapFlags.Anonymous | MapFlags.Populate) > 0);
        Assert.True(api.Mmap(pid, 0, 2 * Page, Protection.Read, MapFlags.Shared | MapFlags.Populate, "f") > 0);
        var s = api.Status(pid);
        Assert.True(s.Alive);
        Assert.Null(s.LastSignal);
        Assert.Equal((0L, 1L), (s.MinorFaults, s.MajorFaults)); // the file's one page was read in
        Assert.Equal(0, m.M(MetricNames.SignalsSigsegv) + m.M(MetricNames.SignalsSigbus));
    }

    [Fact]
    public void AUaccessCopyWhoseFaultFindsNoFrameIsFixedUpAfterTheOomKillerTookTheTask()
    {
        var m = TestMachine.Create(frames: 64, invariants: true);
        var api = m.KernelApi;
        int pid = api.Spawn();
        ulong buffer = (ulong)api.Mmap(pid, 0, 2 * Page, Protection.ReadWrite, MapFlags.Private | MapFlags.Anonymous);
        long fd = api.Open(pid, "zero");
        Starve(m, 0);

        // read(/dev/zero) faults on the untouched buffer; demand-zero finds no frame; the OOM killer's only candidate is
        // the reader; the copy_to_user fault then ends in its exception-table fixup (kernelmode_fixup_or_oops), no oops.
        Assert.Equal(-Errno.EFAULT, api.Read(pid, 0, (int)fd, buffer, 100));

        Assert.Equal(Signal.SIGKILL, api.Status(pid).TerminatingSignal);
        Assert.Equal(1, m.M(MetricNames.FaultsUaccessFixup));
        Assert.Equal(1, m.M(MetricNames.SignalsSigkill));
        Assert.Equal(0, m.M(MetricNames.KernelOops));
        Assert.Equal(1, m.Kernel.Events.Count(e => e.Kind == "oom-kill"));
    }

    private sealed class CountingDevice : IDevice
    {
        public int Reads, Writes;
        public string Name => "dev";
        public ulong Read(ulong offset, int size) => (ulong)++Reads;
        public void Write(ulong offset, int size, ulong value) => Writes++;
    }

    [Fact]
    public void PopulateNeverTouchesDevicePages()
    {
        var device = new CountingDevice();
        var m = TestMachine.Create(frames: 256, invariants: true, devices: [device]);
        var api = m.KernelApi;
        int pid = api.Spawn();
        // A device mapping is VM_IO: mm_populate skips it; every access to it still traps.
        Assert.True(api.Mmap(pid, 0, 2 * Page, Protection.ReadWrite, MapFlags.Shared | MapFlags.Device | MapFlags.Populate, "dev") > 0);
        Assert.Equal((0, 0), (device.Reads, device.Writes));
        Assert.Equal(0, m.M(MetricNames.FaultsTotal));
    }

    [Fact]
    public void ATraceProcessThatCannotBeCreatedNeverRunsAndItsAccessesAreDropped()
    {
        var m = TestMachine.Create(frames: 64);
        Starve(m, 0);
        m.Run(MemoryAccess.Write(0x1000, 8, pid: 7), MemoryAccess.Read(0x2000, 8, pid: 7));
        Assert.Equal(2, m.M("accesses.dropped"));
        Assert.False(m.Kernel.FindProcess(7)!.Alive);
        Assert.Equal(1, m.Kernel.Events.Count(e => e.Kind == "fork-failed" && e.Pid == 7));
    }

    [Fact]
    public void VmallocWhosePageTablesCannotBeAllocatedGivesItsPageBack()
    {
        var m = TestMachine.Create(frames: 256, invariants: true);
        m.Kernel.KernelHalf.Ensure(0);
        // The first vmalloc area lies under a pre-populated level-3 table and needs a level-2 and a leaf table besides its page.
        var taken = Starve(m, 1);
        Assert.Equal(0, m.KernelApi.Vmalloc(Page));
        Assert.Equal(1, m.Frames.FreeFrames);
        m.Frames.Free(taken[^1], FrameUse.Kernel);
        m.Frames.Free(taken[^2], FrameUse.Kernel);
        Assert.NotEqual(0, m.KernelApi.Vmalloc(Page));
        Assert.Equal(0, m.Frames.FreeFrames);
    }
}
