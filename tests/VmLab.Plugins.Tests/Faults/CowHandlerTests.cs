using VmLab.Abstractions;
using VmLab.Abstractions.Faults;
using VmLab.Plugins.Faults;
using static VmLab.Testing.Fault;

namespace VmLab.Plugins.Tests.Faults;

/// <summary>The copy-on-write handler's decision (Linux do_wp_page): reuse, copy, a fresh frame for the zero page, or in place when shared.</summary>
public sealed class CowHandlerTests
{
    private const ulong Va = 0x7000_0000_2008; // inside the page: the handler passes the faulting address on
    private const ulong OldFrame = 42;
    private static readonly VmaInfo Private = Anonymous(0x7000_0000_0000, 16);
    private static readonly PageMapping ReadOnlyLeaf = new(OldFrame, PageFlags.Present | PageFlags.User | PageFlags.Accessed | PageFlags.NoExecute);

    private static (FaultResult Result, RecordingMemoryManager Mm) Write(VmaInfo vma, PageMapping pte, Action<RecordingMemoryManager>? arrange = null)
    {
        var mm = new RecordingMemoryManager();
        arrange?.Invoke(mm);
        var result = new CowHandler(mm.Metrics).Handle(At(Va, AccessKind.Write, vma, pte), mm);
        return (result, mm);
    }

    [Fact]
    public void APrivatePageWithOneReferenceIsReusedInPlaceWithoutAllocatingOrFlushing()
    {
        var (result, mm) = Write(Private, ReadOnlyLeaf, mm => mm.RefCounts[OldFrame] = 1);

        Assert.Equal(FaultResult.Minor.As(FaultResolutions.CowReuse), result);
        Assert.Equal([$"update 0x{Va:x} {PageFlags.Present | PageFlags.Writable | PageFlags.User | PageFlags.NoExecute | PageFlags.Accessed | PageFlags.Dirty}"], mm.Calls);
        Assert.Equal(1, mm.Counters[MetricNames.FaultsCowReuse]);
        Assert.Equal(0, mm.Counters[MetricNames.FaultsCowCopy]);
    }

    [Fact]
    public void APrivatePageWithTwoReferencesIsCopiedIntoAFreshFrameAndTheOldTranslationFlushed()
    {
        var (result, mm) = Write(Private, ReadOnlyLeaf, mm =>
        {
            mm.RefCounts[OldFrame] = 2;
            mm.Memory.WriteByte((OldFrame << 12) + 100, 0xAB);
        });

        Assert.Equal(FaultResult.Minor.As(FaultResolutions.CowCopy), result);
        ulong copy = Assert.Single(mm.Allocated);
        Assert.Equal([$"allocate {copy}", $"map 0x{Va:x} {copy} {PageFlags.Present | PageFlags.Writable | PageFlags.User | PageFlags.NoExecute | PageFlags.Dirty}", $"flush 0x{Va:x}"], mm.Calls);
        Assert.Equal(0xAB, mm.Memory.ReadByte((copy << 12) + 100)); // the contents came along
        Assert.Equal(1, mm.Counters[MetricNames.FaultsCowCopy]);
        Assert.Equal(0, mm.Counters[MetricNames.FaultsCowReuse]);
    }

    [Fact]
    public void TheZeroPageIsReplacedByAFreshZeroedFrameNotCopiedAndNeverReused()
    {
        // Even with one reference the zero page is never made writable.
        var (result, mm) = Write(Private, ReadOnlyLeaf with { Frame = RecordingMemoryManager.ZeroPage }, mm => mm.RefCounts[RecordingMemoryManager.ZeroPage] = 1);

        Assert.Equal(FaultResult.Minor.As(FaultResolutions.DemandZero), result);
        ulong fresh = Assert.Single(mm.Allocated);
        Assert.False(mm.Memory.HasContents(fresh));
        Assert.Contains($"flush 0x{Va:x}", mm.Calls);
        Assert.Equal((1L, 0L, 0L), (mm.Counters[MetricNames.FaultsDemandZero], mm.Counters[MetricNames.FaultsCowCopy], mm.Counters[MetricNames.FaultsCowReuse]));
    }

    [Fact]
    public void ASharedMappingIsMadeWritableInPlaceHoweverManyReferencesThePageHas()
    {
        var (result, mm) = Write(Anonymous(0x7000_0000_0000, 16, shared: true), ReadOnlyLeaf, mm => mm.RefCounts[OldFrame] = 3);

        Assert.Equal(FaultResult.Minor.As(FaultResolutions.WriteShared), result);
        Assert.Empty(mm.Allocated);
        Assert.Equal([$"update 0x{Va:x} {PageFlags.Present | PageFlags.Writable | PageFlags.User | PageFlags.NoExecute | PageFlags.Accessed | PageFlags.Dirty}"], mm.Calls);
        Assert.Equal(0, mm.Counters[MetricNames.FaultsCowReuse] + mm.Counters[MetricNames.FaultsCowCopy]);
    }

    [Fact]
    public void NoFrameForTheCopyIsOutOfMemoryAndMapsNothing()
    {
        var (result, mm) = Write(Private, ReadOnlyLeaf, mm =>
        {
            mm.RefCounts[OldFrame] = 2;
            mm.FreeFrames = 0;
        });

        Assert.Equal(FaultResult.OutOfMemory, result);
        Assert.Empty(mm.Calls);
    }

    [Fact]
    public void ReadsNotPresentPagesWritablePagesAndAddressesOutsideTheVmaAreDeclined()
    {
        var mm = new RecordingMemoryManager();
        var cow = new CowHandler(mm.Metrics);
        Assert.Equal(FaultResult.Declined, cow.Handle(At(Va, AccessKind.Read, Private, ReadOnlyLeaf), mm));
        Assert.Equal(FaultResult.Declined, cow.Handle(At(Va, AccessKind.Write, Private), mm));
        Assert.Equal(FaultResult.Declined, cow.Handle(At(Va, AccessKind.Write, Private, ReadOnlyLeaf.With(PageFlags.Writable)), mm));
        Assert.Equal(FaultResult.Declined, cow.Handle(At(Private.End + 8, AccessKind.Write, Private, ReadOnlyLeaf), mm));
        Assert.Empty(mm.Calls);
    }
}
