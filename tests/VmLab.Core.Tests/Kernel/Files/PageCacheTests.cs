using VmLab.Abstractions;
using VmLab.Abstractions.Signals;
using VmLab.Abstractions.Workloads;
using VmLab.Core.Kernel;

namespace VmLab.Core.Tests.Kernel.Files;

/// <summary>
/// The page cache behind read(2), write(2) and file mappings (mm/filemap.c): one copy of each page, coherent both ways,
/// major faults decided by page-cache presence, dirty pages written back by fsync, msync(MS_SYNC) and reclaim,
/// ftruncate unmapping what lies past the new end, unlink leaving open and mapped files alive, memfd as shmem.
/// </summary>
public sealed class PageCacheTests
{
    private const ulong Page = 4096;

    private static (Machine M, IKernelApi Api, int Pid) Machine() => TestMachine.WithProcess();

    private static ulong Buffer(IKernelApi api, int pid, ulong pages, byte fill)
    {
        ulong b = (ulong)api.Mmap(pid, 0, pages * Page, Protection.ReadWrite, MapFlags.Private | MapFlags.Anonymous);
        for (ulong a = b; a < b + pages * Page; a += 8) api.Access(pid, 0, a, AccessKind.Write, 8, fill * 0x0101010101010101UL);
        return b;
    }

    private static ulong ReadByte(IKernelApi api, int pid, ulong address) => api.Access(pid, 0, address, AccessKind.Read, 1, 0).Value;

    [Fact]
    public void DataWrittenWithWriteIsSeenThroughALaterMappingWithAMinorFaultAndGrowsTheFile()
    {
        var (m, api, pid) = Machine();
        api.CreateFile("w", 0, 0);
        ulong buf = Buffer(api, pid, 2, 0x41);
        int fd = (int)api.Open(pid, "w");
        Assert.Equal(5000, api.Write(pid, 0, fd, buf, 5000));
        Assert.Equal(5000, api.Lseek(pid, fd, 0, Whence.End));

        ulong map = (ulong)api.Mmap(pid, 0, Page, Protection.ReadWrite, MapFlags.Shared, "w", Page);
        var before = api.Status(pid);
        Assert.Equal(0x41UL, ReadByte(api, pid, map + 903));
        Assert.Equal(0UL, ReadByte(api, pid, map + 904)); // past the end of the file, inside its last page
        var after = api.Status(pid);
        Assert.Equal((1L, 0L), (after.MinorFaults - before.MinorFaults, after.MajorFaults - before.MajorFaults));
    }

    [Fact]
    public void BytesStoredThroughASharedMappingAreWhatReadReturns()
    {
        var (_, api, pid) = Machine();
        api.CreateFile("f", Page, 0x11);
        ulong map = (ulong)api.Mmap(pid, 0, Page, Protection.ReadWrite, MapFlags.Shared, "f");
        api.Access(pid, 0, map + 10, AccessKind.Write, 1, 0x5a);
        ulong buf = Buffer(api, pid, 1, 0);
        int fd = (int)api.Open(pid, "f");
        Assert.Equal(1, api.Pread(pid, 0, fd, buf, 1, 10));
        Assert.Equal(0x5aUL, ReadByte(api, pid, buf));
        Assert.Equal(0, api.Lseek(pid, fd, 0, Whence.Current)); // pread leaves the offset
        Assert.Equal(2, api.Read(pid, 0, fd, buf, 2));
        Assert.Equal(0x11UL, ReadByte(api, pid, buf));
        Assert.Equal(2, api.Lseek(pid, fd, 0, Whence.Current));
    }

    [Fact]
    public void ReadBringsThePageIntoTheCacheSoAMappingsFirstTouchIsMinorWhileAnUnreadPageIsMajor()
    {
        var (_, api, pid) = Machine();
        api.CreateFile("r", 3 * Page, 0x62);
        ulong buf = Buffer(api, pid, 1, 0);
        int fd = (int)api.Open(pid, "r");
        Assert.Equal(1, api.Pread(pid, 0, fd, buf, 1, Page + 5));
        Assert.Equal((0L, 0L), (api.Status(pid).MajorFaults, 0L)); // read(2) counts no fault for the page it reads in

        ulong r1 = (ulong)api.Mmap(pid, 0, Page, Protection.Read, MapFlags.Private, "r", Page);
        ulong r0 = (ulong)api.Mmap(pid, 0, Page, Protection.Read, MapFlags.Private, "r", 0);
        var s0 = api.Status(pid);
        Assert.Equal(0x62UL, ReadByte(api, pid, r1));
        var s1 = api.Status(pid);
        Assert.Equal((1L, 0L), (s1.MinorFaults - s0.MinorFaults, s1.MajorFaults - s0.MajorFaults));
        Assert.Equal(0x62UL, ReadByte(api, pid, r0));
        var s2 = api.Status(pid);
        Assert.Equal((0L, 1L), (s2.MinorFaults - s1.MinorFaults, s2.MajorFaults - s1.MajorFaults));
    }

    [Fact]
    public void MsyncSyncAndFsyncWriteBackAndWriteProtectSoTheNextStoreFaultsWhileMsyncAsyncDoesNot()
    {
        var (m, api, pid) = Machine();
        api.CreateFile("f", Page, 0);
        int fd = (int)api.Open(pid, "f");
        ulong map = (ulong)api.Mmap(pid, 0, Page, Protection.ReadWrite, MapFlags.Shared, "f");
        api.Access(pid, 0, map, AccessKind.Write, 1, 1);
        long writebacks = m.M(MetricNames.PageCacheWritebacks);

        Assert.Equal(0, api.Msync(pid, 0, map, Page, MsyncFlags.Sync));
        Assert.Equal(writebacks + 1, m.M(MetricNames.PageCacheWritebacks));
        Assert.False(m.Leaf(pid, map).Has(PageFlags.Writable));
        Assert.False(m.Leaf(pid, map).Has(PageFlags.Dirty));
        long faults = m.M(MetricNames.FaultsTotal);
        api.Access(pid, 0, map + 1, AccessKind.Write, 1, 2);
        Assert.Equal(faults + 1, m.M(MetricNames.FaultsTotal));

        Assert.Equal(0, api.Fsync(pid, 0, fd, dataOnly: false));
        api.Access(pid, 0, map + 2, AccessKind.Write, 1, 3);
        Assert.Equal(faults + 2, m.M(MetricNames.FaultsTotal));

        Assert.Equal(0, api.Msync(pid, 0, map, Page, MsyncFlags.Async));
        api.Access(pid, 0, map + 3, AccessKind.Write, 1, 4);
        Assert.Equal(faults + 2, m.M(MetricNames.FaultsTotal)); // MS_ASYNC cleans nothing
        Assert.Equal(writebacks + 2, m.M(MetricNames.PageCacheWritebacks));
    }

    [Fact]
    public void PagesWrittenBackByFsyncKeepTheirBytesWhenReclaimDropsThemAndAreReadAgainByAMajorFault()
    {
        var (m, api, pid) = Machine();
        api.CreateFile("f", Page, 0x30);
        ulong buf = Buffer(api, pid, 1, 0x77);
        int fd = (int)api.Open(pid, "f");
        Assert.Equal(4, api.Write(pid, 0, fd, buf, 4));
        Assert.Equal(0, api.Fsync(pid, 0, fd, dataOnly: true));
        ulong map = (ulong)api.Mmap(pid, 0, Page, Protection.Read, MapFlags.Private, "f");
        Assert.Equal(0x77UL, ReadByte(api, pid, map)); // minor: cached by the write
        Assert.Equal(0, api.Madvise(pid, 0, map, Page, Advice.PageOut)); // clean now: dropped
        Assert.False(m.Leaf(pid, map).IsPresent);
        long majors = api.Status(pid).MajorFaults;
        Assert.Equal(0x77UL, ReadByte(api, pid, map + 3));
        Assert.Equal(0x30UL, ReadByte(api, pid, map + 4));
        Assert.Equal(majors + 1, api.Status(pid).MajorFaults);
    }

    [Fact]
    public void FtruncateShrinkingMakesMappedPagesAndPrivateCopiesPastTheEndSigbusAndZeroesTheTail()
    {
        var (m, api, pid) = Machine();
        api.CreateFile("t", 3 * Page, 0x63);
        int fd = (int)api.Open(pid, "t");
        ulong t0 = (ulong)api.Mmap(pid, 0, Page, Protection.ReadWrite, MapFlags.Shared, "t", 0);
        ulong t1 = (ulong)api.Mmap(pid, 0, Page, Protection.ReadWrite, MapFlags.Shared, "t", Page);
        ulong t2 = (ulong)api.Mmap(pid, 0, Page, Protection.ReadWrite, MapFlags.Private, "t", 2 * Page);
        ReadByte(api, pid, t0 + 200);
        ReadByte(api, pid, t1);
        api.Access(pid, 0, t2, AccessKind.Write, 1, 0x64); // a private copy

        Assert.Equal(0, api.Ftruncate(pid, 0, fd, 100));
        Assert.Equal(0UL, ReadByte(api, pid, t0 + 200));
        Assert.Equal(0x63UL, ReadByte(api, pid, t0 + 99));
        Assert.Equal(-Errno.EINVAL, api.Ftruncate(pid, 0, fd, -1));
        api.SetSignalDisposition(pid, Signal.SIGBUS, SignalDisposition.Handler);
        var r1 = api.Access(pid, 0, t1, AccessKind.Read, 1, 0);
        Assert.Equal((AccessStatus.Signal, Signal.SIGBUS, Signal.BUS_ADRERR, t1), (r1.Status, r1.Signal.Signo, r1.Signal.Code, r1.Signal.Address));
        var r2 = api.Access(pid, 0, t2, AccessKind.Read, 1, 0);
        Assert.Equal((AccessStatus.Signal, Signal.SIGBUS), (r2.Status, r2.Signal.Signo));

        Assert.Equal(0, api.Ftruncate(pid, 0, fd, 2 * (long)Page));
        Assert.Equal(0UL, ReadByte(api, pid, t1)); // the old bytes are gone
        Assert.Equal(2, m.M(MetricNames.SignalsSigbus));
    }

    [Fact]
    public void UnlinkKeepsAMappedAndOpenFileWhileANewFileOfTheSameNameIsAnother()
    {
        var (_, api, pid) = Machine();
        api.CreateFile("u", Page, 0x65);
        int fd = (int)api.Open(pid, "u");
        ulong map = (ulong)api.Mmap(pid, 0, Page, Protection.ReadWrite, MapFlags.Shared, "u");
        Assert.Equal(0, api.Unlink("u"));
        Assert.Equal(-Errno.ENOENT, api.Unlink("u"));
        Assert.Equal(-Errno.ENOENT, api.Open(pid, "u"));
        api.Access(pid, 0, map + 1, AccessKind.Write, 1, 0x66);
        ulong buf = Buffer(api, pid, 1, 0);
        Assert.Equal(1, api.Pread(pid, 0, fd, buf, 1, 1));
        Assert.Equal(0x66UL, ReadByte(api, pid, buf));

        api.CreateFile("u", Page, 0x01);
        int fresh = (int)api.Open(pid, "u");
        Assert.Equal(1, api.Pread(pid, 0, fresh, buf, 1, 1));
        Assert.Equal(0x01UL, ReadByte(api, pid, buf));
        Assert.Equal(0x66UL, ReadByte(api, pid, map + 1));
    }

    [Fact]
    public void AMemfdIsShmemItsPagesComeWithMinorFaultsAndWriteAndMappingShareThem()
    {
        var (_, api, pid) = Machine();
        int fd = (int)api.MemfdCreate(pid, "mem");
        Assert.True(fd >= 3);
        Assert.Equal(0, api.Ftruncate(pid, 0, fd, 2 * (long)Page));
        ulong map = (ulong)api.MmapFd(pid, 0, 0, 2 * Page, Protection.ReadWrite, MapFlags.Shared, fd, 0);
        api.Access(pid, 0, map + Page, AccessKind.Write, 1, 0x42);
        var st = api.Status(pid);
        Assert.Equal((1L, 0L), (st.MinorFaults, st.MajorFaults));
        ulong buf = Buffer(api, pid, 1, 0);
        Assert.Equal(1, api.Pread(pid, 0, fd, buf, 1, Page));
        Assert.Equal(0x42UL, ReadByte(api, pid, buf));
        Assert.Equal(-Errno.EINVAL, api.Msync(pid, 0, map + 1, Page, MsyncFlags.Sync));
        Assert.Equal(0, api.Fsync(pid, 0, fd, dataOnly: false));
    }

    [Fact]
    public void MsyncRefusesWhatLinuxRefuses()
    {
        var (_, api, pid) = Machine();
        ulong a = (ulong)api.Mmap(pid, 0, 3 * Page, Protection.ReadWrite, MapFlags.Private | MapFlags.Anonymous);
        Assert.Equal(-Errno.EINVAL, api.Msync(pid, 0, a, Page, MsyncFlags.Sync | MsyncFlags.Async));
        Assert.Equal(-Errno.EINVAL, api.Msync(pid, 0, a, Page, 8));
        Assert.Equal(0, api.Msync(pid, 0, a, 0, MsyncFlags.Sync));
        Assert.Equal(0, api.Munmap(pid, a + Page, Page));
        Assert.Equal(-Errno.ENOMEM, api.Msync(pid, 0, a, 3 * Page, MsyncFlags.Sync));
        Assert.Equal(-Errno.ENOMEM, api.Msync(pid, 0, a, 3 * Page, MsyncFlags.Async));
        Assert.Equal(0, api.Mlock(pid, 0, a, Page, 0));
        Assert.Equal(-Errno.EBUSY, api.Msync(pid, 0, a, Page, MsyncFlags.Invalidate));
        Assert.Equal(0, api.Msync(pid, 0, a, Page, MsyncFlags.Sync));
    }

    [Fact]
    public void AtLinuxsDefaultsTheFirstFaultOnSixteenUncachedPagesReadsAndMapsThemAllAndACachedMappingTakesOneMinorFault()
    {
        var m = TestMachine.Create(frames: 512, invariants: true, fileHandler: true, pageCache: new PageCacheOptions());
        var api = m.KernelApi;
        int pid = api.Spawn();
        api.CreateFile("data", 16 * Page, 0x61);
        ulong a = (ulong)api.Mmap(pid, 0, 16 * Page, Protection.Read, MapFlags.Private, "data");
        for (ulong i = 0; i < 16; i++) Assert.Equal(0x61UL, ReadByte(api, pid, a + i * Page));
        var st = api.Status(pid);
        Assert.Equal((0L, 1L), (st.MinorFaults, st.MajorFaults));
        Assert.Equal(16, m.M(MetricNames.PagesAllocated)); // read-around read all 16 with the first fault

        ulong b = (ulong)api.Mmap(pid, 0, 16 * Page, Protection.Read, MapFlags.Private, "data");
        for (ulong i = 0; i < 16; i++) ReadByte(api, pid, b + i * Page);
        st = api.Status(pid);
        Assert.Equal((1L, 1L), (st.MinorFaults, st.MajorFaults));
    }

    [Fact]
    public void FaultAroundMapsOnlyTheAlignedWindowInsideTheVmaAndNeverOnAWrite()
    {
        var m = TestMachine.Create(frames: 512, invariants: true, fileHandler: true, pageCache: new PageCacheOptions { ReadAheadKb = 0 });
        var api = m.KernelApi;
        int pid = api.Spawn();
        api.CreateFile("data", 40 * Page, 0x61);
        int fd = (int)api.Open(pid, "data");
        ulong buf = Buffer(api, pid, 40, 0);
        Assert.Equal(40 * (long)Page, api.Pread(pid, 0, fd, buf, 40 * Page, 0)); // all 40 pages cached
        ulong a = (ulong)api.Mmap(pid, 0x4000_0000, 40 * Page, Protection.ReadWrite, MapFlags.Shared | MapFlags.Fixed, "data");
        ReadByte(api, pid, a + 20 * Page); // window: PTEs 16..31 of the aligned 64 KiB
        for (ulong i = 0; i < 40; i++)
            Assert.Equal(i is >= 16 and < 32, m.Leaf(pid, a + i * Page).IsPresent);
        Assert.False(m.Leaf(pid, a + 20 * Page).Has(PageFlags.Writable)); // a shared file page is write-notified
        long faults = m.M(MetricNames.FaultsTotal);
        api.Access(pid, 0, a + 2 * Page, AccessKind.Write, 1, 1); // a write fault maps its page alone
        Assert.Equal(faults + 1, m.M(MetricNames.FaultsTotal));
        Assert.False(m.Leaf(pid, a + 3 * Page).IsPresent);
    }

    [Fact]
    public void WithFaultAroundAt4096AndReadAheadAt0EveryFilePageIsReadByItsOwnMajorFault()
    {
        var (_, api, pid) = Machine();
        api.CreateFile("data", 16 * Page, 0x61);
        ulong a = (ulong)api.Mmap(pid, 0, 16 * Page, Protection.Read, MapFlags.Private, "data");
        for (ulong i = 0; i < 16; i++) ReadByte(api, pid, a + i * Page);
        Assert.Equal((0L, 16L), (api.Status(pid).MinorFaults, api.Status(pid).MajorFaults));
    }

    private static (Machine M, IKernelApi Api, int Pid, int Fd, ulong Buf) ReadAheadMachine(int readAheadKb)
    {
        var m = TestMachine.Create(frames: 512, invariants: true, fileHandler: true, pageCache: new PageCacheOptions { ReadAheadKb = readAheadKb });
        var api = m.KernelApi;
        int pid = api.Spawn();
        api.CreateFile("data", 64 * Page, 0x61);
        ulong buf = Buffer(api, pid, 1, 0);
        return (m, api, pid, (int)api.Open(pid, "data"), buf);
    }

    private static string Cached(Machine m, ulong first, ulong count) =>
        string.Concat(Enumerable.Range((int)first, (int)count).Select(i => m.Kernel.Files.IsCachedAt("data", (ulong)i) ? '1' : '0'));

    [Fact]
    public void AOnePageReadAtOffsetZeroOfAnUncachedFileReadsTheInitialWindowOfFourPages()
    {
        var (m, api, pid, fd, buf) = ReadAheadMachine(128);
        var before = api.Status(pid);
        Assert.Equal((long)Page, api.Pread(pid, 0, fd, buf, Page, 0));
        Assert.Equal("11110000", Cached(m, 0, 8));
        var after = api.Status(pid);
        Assert.Equal((0L, 0L), (after.MinorFaults - before.MinorFaults, after.MajorFaults - before.MajorFaults)); // read(2) counts no fault
    }

    [Fact]
    public void ARandomReadReadsOnlyItsPageAndAReadFollowingItStartsAWindowAtItsOwnPage()
    {
        var (m, api, pid, fd, buf) = ReadAheadMachine(128);
        Assert.Equal((long)Page, api.Pread(pid, 0, fd, buf, Page, 20 * Page));
        Assert.Equal("00001000", Cached(m, 16, 8));
        Assert.Equal((long)Page, api.Pread(pid, 0, fd, buf, Page, 21 * Page));
        Assert.Equal("0000111110000000", Cached(m, 16, 16));
        Assert.Equal((long)Page, api.Pread(pid, 0, fd, buf, Page, 40 * Page)); // a jump: random again
        Assert.Equal("010", Cached(m, 39, 3));
    }

    [Fact]
    public void WithReadAheadAtZeroAReadBringsInOnlyThePagesItReads()
    {
        var (m, api, pid, fd, buf) = ReadAheadMachine(0);
        Assert.Equal((long)Page, api.Pread(pid, 0, fd, buf, Page, 0));
        Assert.Equal("10000000", Cached(m, 0, 8));
    }

    [Theory]
    [InlineData(1, 32, 4)]
    [InlineData(2, 32, 4)]
    [InlineData(3, 32, 8)]
    [InlineData(8, 32, 16)]
    [InlineData(9, 32, 32)]
    [InlineData(16, 2048, 64)]
    public void TheInitialWindowIsGetInitRaSize(ulong request, ulong max, ulong window)
    {
        Assert.Equal(window, PageCache.InitialWindow(request, max));
    }

    [Theory]
    [InlineData(Advice.Random, false, "0000000000000000000010000000000000000000")]
    [InlineData(Advice.Sequential, false, "0000000000000000000011111111111111111111")]
    [InlineData(Advice.Normal, false, "0000111111111111111111111111111111110000")]
    [InlineData(Advice.Random, true, "0000000000000000000010000000000000000000")]
    [InlineData(Advice.Sequential, true, "0000000000000000000011111111111111111111")]
    public void MadviseRandomReadsOnlyTheFaultingPageAndSequentialReadsTheWindowForwardOnReadAndWriteFaults(Advice advice, bool write, string cached)
    {
        var m = TestMachine.Create(frames: 512, invariants: true, fileHandler: true, pageCache: new PageCacheOptions());
        var api = m.KernelApi;
        int pid = api.Spawn();
        api.CreateFile("data", 40 * Page, 0x61);
        ulong a = (ulong)api.Mmap(pid, 0, 40 * Page, write ? Protection.ReadWrite : Protection.Read, MapFlags.Private, "data");
        Assert.Equal(0, api.Madvise(pid, 0, a, 40 * Page, Advice.Random));
        if (advice != Advice.Random) Assert.Equal(0, api.Madvise(pid, 0, a, 40 * Page, advice));
        api.Access(pid, 0, a + 20 * Page, write ? AccessKind.Write : AccessKind.Read, 1, 1);
        Assert.Equal((0L, 1L), (api.Status(pid).MinorFaults, api.Status(pid).MajorFaults));
        Assert.Equal(cached, Cached(m, 0, 40));
    }
}
