using VmLab.Abstractions;
using VmLab.Abstractions.Faults;
using VmLab.Plugins.Faults;
using static VmLab.Testing.Fault;

namespace VmLab.Plugins.Tests.Faults;

/// <summary>The demand-zero handler (Linux do_anonymous_page): the shared zero page on a private read, a fresh zeroed frame otherwise.</summary>
public sealed class DemandZeroHandlerTests
{
    private const ulong Va = 0x5555_0000_3000;
    private static readonly VmaInfo Private = Anonymous(0x5555_0000_0000, 8);
    private const PageFlags UserData = PageFlags.Present | PageFlags.User | PageFlags.NoExecute;

    private static (FaultResult Result, RecordingMemoryManager Mm) Touch(AccessKind kind, VmaInfo vma, bool zeroPage = true)
    {
        var mm = new RecordingMemoryManager();
        var result = new DemandZeroHandler(new DemandZeroOptions { ZeroPage = zeroPage }, mm.Metrics).Handle(At(Va, kind, vma), mm);
        return (result, mm);
    }

    [Fact]
    public void APrivateReadMapsTheSharedZeroPageReadOnlyAndAllocatesNothing()
    {
        var (result, mm) = Touch(AccessKind.Read, Private);
        Assert.Equal(FaultResult.Minor.As(FaultResolutions.ZeroPage), result);
        Assert.Equal([$"map 0x{Va:x} {RecordingMemoryManager.ZeroPage} {UserData}"], mm.Calls);
        Assert.Equal((1L, 0L), (mm.Counters[MetricNames.FaultsZeroPage], mm.Counters[MetricNames.FaultsDemandZero]));
    }

    [Fact]
    public void WithTheZeroPageOffAReadMapsAFreshFrameWritableAndDirty()
    {
        var (result, mm) = Touch(AccessKind.Read, Private, zeroPage: false);
        Assert.Equal(FaultResult.Minor.As(FaultResolutions.DemandZero), result);
        ulong pfn = Assert.Single(mm.Allocated);
        Assert.Equal([$"allocate {pfn}", $"map 0x{Va:x} {pfn} {UserData | PageFlags.Writable | PageFlags.Dirty}"], mm.Calls);
        Assert.Equal((0L, 1L), (mm.Counters[MetricNames.FaultsZeroPage], mm.Counters[MetricNames.FaultsDemandZero]));
    }

    [Fact]
    public void AWriteMapsAFreshFrameWritableAndDirty()
    {
        var (result, mm) = Touch(AccessKind.Write, Private);
        ulong pfn = Assert.Single(mm.Allocated);
        Assert.Equal(FaultResult.Minor.As(FaultResolutions.DemandZero), result);
        Assert.Equal($"map 0x{Va:x} {pfn} {UserData | PageFlags.Writable | PageFlags.Dirty}", mm.Calls[^1]);
    }

    [Fact]
    public void AReadOfASharedAnonymousMappingGetsItsOwnFrameNotTheZeroPage()
    {
        var (result, mm) = Touch(AccessKind.Read, Anonymous(0x5555_0000_0000, 8, shared: true));
        Assert.Equal(FaultResult.Minor.As(FaultResolutions.DemandZero), result);
        Assert.Single(mm.Allocated);
        Assert.Equal(0, mm.Counters[MetricNames.FaultsZeroPage]);
    }

    [Fact]
    public void AReadOnlyVmaGetsAFrameThatIsNeitherWritableNorDirty()
    {
        var (_, mm) = Touch(AccessKind.Read, Anonymous(0x5555_0000_0000, 8, Protection.Read), zeroPage: false);
        ulong pfn = Assert.Single(mm.Allocated);
        Assert.Equal($"map 0x{Va:x} {pfn} {UserData}", mm.Calls[^1]);
    }

    [Fact]
    public void NoFrameIsOutOfMemory()
    {
        var mm = new RecordingMemoryManager { FreeFrames = 0 };
        Assert.Equal(FaultResult.OutOfMemory, new DemandZeroHandler(new DemandZeroOptions(), mm.Metrics).Handle(At(Va, AccessKind.Write, Private), mm));
        Assert.Empty(mm.Calls);
    }

    [Fact]
    public void FileMappingsPresentOrSwappedEntriesAndAddressesOutsideTheVmaAreDeclined()
    {
        var mm = new RecordingMemoryManager();
        var handler = new DemandZeroHandler(new DemandZeroOptions(), mm.Metrics);
        var file = Private with { Flags = VmaFlags.File, FileName = "f", FileSize = 8 * Page };
        Assert.Equal(FaultResult.Declined, handler.Handle(At(Va, AccessKind.Read, file), mm));
        Assert.Equal(FaultResult.Declined, handler.Handle(At(Va, AccessKind.Write, Private, new PageMapping(7, UserData)), mm));
        Assert.Equal(FaultResult.Declined, handler.Handle(At(Va, AccessKind.Read, Private, new PageMapping(3, PageFlags.Swapped)), mm));
        Assert.Equal(FaultResult.Declined, handler.Handle(At(Private.Start - Page, AccessKind.Read, Private), mm));
        Assert.Empty(mm.Calls);
    }
}
