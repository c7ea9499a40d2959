using VmLab.Abstractions;
using VmLab.Abstractions.Signals;
using VmLab.Abstractions.Workloads;
using VmLab.Core.Kernel;

namespace VmLab.Core.Tests.Kernel.Files;

/// <summary>Pipes as fs/pipe.c keeps them and /dev/zero, /dev/null as drivers/char/mem.c serves them.</summary>
public sealed class PipeAndDeviceTests
{
    private const ulong Page = 4096;

    [Fact]
    public void AWriteAfterTheLastReadEndIsClosedIsEpipeAndSigpipeKillsTheWriterByDefault()
    {
        var (m, api, pid) = TestMachine.WithProcess();
        ulong buf = (ulong)api.Mmap(pid, 0, Page, Protection.ReadWrite, MapFlags.Private | MapFlags.Anonymous);
        var (r, w) = api.Pipe(pid);
        int child = api.Fork(pid);
        Assert.Equal(0, api.Close(pid, r));
        Assert.Equal(5, api.Write(pid, 0, w, buf, 5)); // the child still holds a read end
        api.Exit(child, 0);
        api.SetSignalDisposition(pid, 13, SignalDisposition.Ignore);
        Assert.Equal(-Errno.EPIPE, api.Write(pid, 0, w, buf, 5));
        Assert.True(api.Status(pid).Alive);
        api.SetSignalDisposition(pid, 13, SignalDisposition.Default);
        Assert.Equal(-Errno.EPIPE, api.Write(pid, 0, w, 0x10, 5)); // before any copy: not -EFAULT
        Assert.False(api.Status(pid).Alive);
        Assert.Equal(13, api.Status(pid).TerminatingSignal);
    }

    [Fact]
    public void APipeHolds64KiBAndAWriteThatWouldBlockReturnsEagainAndSaysSo()
    {
        var (m, api, pid) = TestMachine.WithProcess();
        ulong buf = (ulong)api.Mmap(pid, 0, 17 * Page, Protection.ReadWrite, MapFlags.Private | MapFlags.Anonymous);
        var (_, w) = api.Pipe(pid);
        Assert.Equal(65536, api.Write(pid, 0, w, buf, 65536));
        Assert.Equal(-Errno.EAGAIN, api.Write(pid, 0, w, buf, 1));
        Assert.Contains(m.Kernel.Events, e => e.Kind == "pipe-full" && e.Message.Contains("would block", StringComparison.Ordinal));
    }

    [Fact]
    public void AReadOfAnEmptyPipeWouldBlockWhileAWriterIsOpenAndReadsEndOfFileAfterTheLastOneCloses()
    {
        var (m, api, pid) = TestMachine.WithProcess();
        ulong buf = (ulong)api.Mmap(pid, 0, Page, Protection.ReadWrite, MapFlags.Private | MapFlags.Anonymous);
        var (r, w) = api.Pipe(pid);
        Assert.Equal(-Errno.EAGAIN, api.Read(pid, 0, r, buf, 8));
        Assert.Contains(m.Kernel.Events, e => e.Kind == "pipe-empty" && e.Message.Contains("would block", StringComparison.Ordinal));
        Assert.Equal(3, api.Write(pid, 0, w, buf, 3));
        Assert.Equal(3, api.Read(pid, 0, r, buf, 8)); // what is queued, not the count asked for
        Assert.Equal(0, api.Read(pid, 0, r, buf, 0)); // a zero count never blocks
        Assert.Equal(0, api.Close(pid, w));
        Assert.Equal(0, api.Read(pid, 0, r, buf, 8)); // no writer left: end of file
    }

    [Fact]
    public void DevZeroMapsPrivateAsAnonymousMemoryAndSharedAsOneShmemObjectForkSees()
    {
        var (m, api, pid) = TestMachine.WithProcess();
        int z = (int)api.Open(pid, "zero");
        ulong priv = (ulong)api.MmapFd(pid, 0, 0, Page, Protection.ReadWrite, MapFlags.Private, z, 0);
        Assert.Equal(0UL, api.Access(pid, 0, priv, AccessKind.Read, 8, 0).Value);
        var vma = m.Kernel.FindProcess(pid)!.Mm.FindVma(priv)!;
        Assert.Equal(Abstractions.Faults.VmaFlags.None, vma.Flags & Abstractions.Faults.VmaFlags.File); // anonymous memory
        Assert.Null(vma.FileName);
        ulong shared = (ulong)api.MmapFd(pid, 0, 0, Page, Protection.ReadWrite, MapFlags.Shared, z, 0);
        int child = api.Fork(pid);
        api.Access(child, 0, shared, AccessKind.Write, 1, 0x5a);
        Assert.Equal(0x5aUL, api.Access(pid, 0, shared, AccessKind.Read, 1, 0).Value);
        int n = (int)api.Open(pid, "null");
        Assert.Equal(-Errno.ENODEV, api.MmapFd(pid, 0, 0, Page, Protection.Read, MapFlags.Private, n, 0));
        Assert.Equal(-Errno.EBADF, api.MmapFd(pid, 0, 0, Page, Protection.Read, MapFlags.Private, 99, 0));
    }

    [Fact]
    public void WriteToDevNullNeverTouchesTheBufferAndReturnsTheCount()
    {
        var (m, api, pid) = TestMachine.WithProcess();
        int n = (int)api.Open(pid, "null");
        Assert.Equal(5, api.Write(pid, 0, n, 0x10, 5));
        Assert.Equal(0, m.M(MetricNames.FaultsTotal));
        Assert.Equal(0, api.Read(pid, 0, n, 0x10, 5));
    }
}
