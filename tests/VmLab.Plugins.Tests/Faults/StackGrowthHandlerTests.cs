using VmLab.Abstractions;
using VmLab.Abstractions.Faults;
using VmLab.Plugins.Faults;
using static VmLab.Testing.Fault;

namespace VmLab.Plugins.Tests.Faults;

/// <summary>Stack growth (Linux expand_stack): below a grows-down VMA, within the guard gap and RLIMIT_STACK.</summary>
public sealed class StackGrowthHandlerTests
{
    private const ulong StackStart = 0x7ff0_0010_0000;
    private static readonly VmaInfo Stack = new(StackStart, StackStart + 4 * Page, Protection.ReadWrite, VmaFlags.GrowsDown);
    private static readonly StackGrowthOptions Options = new() { GuardGapPages = 4, RlimitStack = 16 * (long)Page };

    private static (FaultResult Result, RecordingMemoryManager Mm) Fault(ulong address, AccessKind kind, (ulong End, bool GrowsDown) previous = default, VmaInfo? vma = null, StackGrowthOptions? options = null)
    {
        var mm = new RecordingMemoryManager { Previous = previous };
        var result = new StackGrowthHandler(options ?? Options, mm.Metrics).Handle(At(address, kind, vma ?? Stack), mm);
        return (result, mm);
    }

    [Fact]
    public void AWriteTwoPagesBelowTheStackExtendsItToThatPageAndMapsAFreshFrame()
    {
        ulong address = StackStart - 2 * Page + 0x10;
        var (result, mm) = Fault(address, AccessKind.Write);

        Assert.Equal(FaultResult.Minor.As(FaultResolutions.StackGrowth), result);
        ulong pfn = Assert.Single(mm.Allocated);
        Assert.Equal([
            $"expand 0x{StackStart:x} to 0x{StackStart - 2 * Page:x}",
            $"allocate {pfn}",
            $"map 0x{address:x} {pfn} {PageFlags.Present | PageFlags.User | PageFlags.NoExecute | PageFlags.Writable | PageFlags.Dirty}",
        ], mm.Calls);
        Assert.Equal(1, mm.Counters[MetricNames.FaultsStackGrowth]);
    }

    [Fact]
    public void AReadBelowTheStackMapsTheZeroPage()
    {
        var (result, mm) = Fault(StackStart - Page, AccessKind.Read);
        Assert.Equal(FaultResult.Minor.As(FaultResolutions.StackGrowth), result);
        Assert.Empty(mm.Allocated);
        Assert.Equal($"map 0x{StackStart - Page:x} {RecordingMemoryManager.ZeroPage} {PageFlags.Present | PageFlags.User | PageFlags.NoExecute}", mm.Calls[^1]);
    }

    [Fact]
    public void GrowingToWithinTheGuardGapOfTheVmaBelowIsSegvMapErrAndChangesNothing()
    {
        // The VMA below ends 6 pages under the stack: growing by 3 leaves a gap of 3 pages, under the 4 required.
        ulong below = StackStart - 6 * Page;
        ulong address = StackStart - 3 * Page;
        var (result, mm) = Fault(address, AccessKind.Write, previous: (below, false));
        Assert.Equal(FaultResult.Raise(SignalInfo.SegvMapErr(address)), result);
        Assert.Empty(mm.Calls);

        // Growing by 2 leaves exactly the gap: allowed.
        Assert.Equal(FaultResult.Minor.As(FaultResolutions.StackGrowth), Fault(StackStart - 2 * Page, AccessKind.Write, previous: (below, false)).Result);
    }

    [Fact]
    public void AnotherGrowsDownVmaBelowNeedsNoGuardGap()
    {
        var (result, _) = Fault(StackStart - 3 * Page, AccessKind.Write, previous: (StackStart - 4 * Page, true));
        Assert.Equal(FaultResult.Minor.As(FaultResolutions.StackGrowth), result);
    }

    [Fact]
    public void GrowingBeyondRlimitStackIsSegvMapErr()
    {
        // 4 pages now, a limit of 16: 12 pages below is the largest allowed growth.
        Assert.Equal(FaultResult.Minor.As(FaultResolutions.StackGrowth), Fault(StackStart - 12 * Page, AccessKind.Write).Result);
        ulong tooFar = StackStart - 13 * Page;
        var (result, mm) = Fault(tooFar, AccessKind.Write);
        Assert.Equal(FaultResult.Raise(SignalInfo.SegvMapErr(tooFar)), result);
        Assert.Empty(mm.Calls);
    }

    [Fact]
    public void FaultsInsideTheVmaOrBelowAVmaThatDoesNotGrowDownAreDeclined()
    {
        Assert.Equal(FaultResult.Declined, Fault(StackStart + Page, AccessKind.Write).Result);
        Assert.Equal(FaultResult.Declined, Fault(StackStart - Page, AccessKind.Write, vma: Stack with { Flags = VmaFlags.None }).Result);
    }
}
