using VmLab.Abstractions;
using VmLab.Abstractions.Faults;
using VmLab.Plugins.Faults;
using static VmLab.Testing.Fault;

namespace VmLab.Plugins.Tests.Faults;

/// <summary>The file handler: page-cache pages for file mappings, SIGBUS past the end, a private copy on a private write.</summary>
public sealed class FileHandlerTests
{
    private const ulong Start = 0x7f00_0000_0000;
    private const ulong Cached = 77;

    /// <summary>A mapping of 4 pages of a file of 2.5 pages, from its first page.</summary>
    private static VmaInfo Mapping(bool shared = false, Protection prot = Protection.ReadWrite) =>
        new(Start, Start + 4 * Page, prot, VmaFlags.File | (shared ? VmaFlags.Shared : VmaFlags.None), "data", 0, 2 * Page + Page / 2);

    private static (FaultResult Result, RecordingMemoryManager Mm) Fault(ulong address, AccessKind kind, VmaInfo vma, bool fromDisk = true)
    {
        var mm = new RecordingMemoryManager();
        for (ulong i = 0; i < 3; i++) mm.FilePages[("data", i)] = (Cached + i, fromDisk);
        mm.Memory.WriteByte(Cached << 12, 0x5A);
        var result = new FileHandler(mm.Metrics).Handle(At(address, kind, vma), mm);
        return (result, mm);
    }

    [Fact]
    public void AReadOfAPageReadFromTheFileIsMajorAndMapsTheCachedPageReadOnlyWithAReference()
    {
        var (result, mm) = Fault(Start + 8, AccessKind.Read, Mapping());
        Assert.Equal(FaultResult.Major.As(FaultResolutions.FilePage), result);
        Assert.Equal(["get 77", $"map 0x{Start + 8:x} 77 {PageFlags.Present | PageFlags.User | PageFlags.NoExecute}"], mm.Calls);
        Assert.Equal(1, mm.Counters[MetricNames.FaultsFile]);
    }

    [Fact]
    public void AReadOfAPageAlreadyCachedIsMinor() =>
        Assert.Equal(FaultResult.Minor.As(FaultResolutions.FilePage), Fault(Start, AccessKind.Read, Mapping(), fromDisk: false).Result);

    [Fact]
    public void ThePartialLastPageIsMappedAndThePageAfterItIsSigbusAdrErr()
    {
        Assert.Equal(FaultResult.Major.As(FaultResolutions.FilePage), Fault(Start + 2 * Page + Page - 1, AccessKind.Read, Mapping()).Result); // bytes past EOF in the last page read as 0
        var (result, mm) = Fault(Start + 3 * Page, AccessKind.Read, Mapping());
        Assert.Equal(FaultResult.Raise(SignalInfo.BusAdrErr(Start + 3 * Page)), result);
        Assert.Empty(mm.Calls);
        Assert.Equal(0, mm.Counters[MetricNames.FaultsFile]);
    }

    [Fact]
    public void APrivateWriteMapsAPrivateCopyOfTheCachedPage()
    {
        var (result, mm) = Fault(Start, AccessKind.Write, Mapping());
        Assert.Equal(FaultResult.Major.As(FaultResolutions.FileCopy), result);
        ulong copy = Assert.Single(mm.Allocated);
        Assert.Equal([$"allocate {copy}", $"map 0x{Start:x} {copy} {PageFlags.Present | PageFlags.User | PageFlags.NoExecute | PageFlags.Writable | PageFlags.Dirty}"], mm.Calls);
        Assert.Equal(0x5A, mm.Memory.ReadByte(copy << 12));
    }

    [Fact]
    public void ASharedWriteMapsTheCachedPageItselfWritableAndDirty()
    {
        var (_, mm) = Fault(Start, AccessKind.Write, Mapping(shared: true));
        Assert.Empty(mm.Allocated);
        Assert.Equal(["get 77", $"map 0x{Start:x} 77 {PageFlags.Present | PageFlags.User | PageFlags.NoExecute | PageFlags.Writable | PageFlags.Dirty}"], mm.Calls);
    }

    [Fact]
    public void AnonymousMemoryAndEntriesThatHoldAFrameAreDeclined()
    {
        var mm = new RecordingMemoryManager();
        var handler = new FileHandler(mm.Metrics);
        Assert.Equal(FaultResult.Declined, handler.Handle(At(Start, AccessKind.Read, Anonymous(Start, 4)), mm));
        Assert.Equal(FaultResult.Declined, handler.Handle(At(Start, AccessKind.Write, Mapping(), new PageMapping(Cached, PageFlags.Present | PageFlags.User)), mm));
        Assert.Empty(mm.Calls);
    }
}
