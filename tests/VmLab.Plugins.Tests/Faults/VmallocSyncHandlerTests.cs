using VmLab.Abstractions;
using VmLab.Abstractions.Faults;
using VmLab.Plugins.Faults;

namespace VmLab.Plugins.Tests.Faults;

/// <summary>The lazy vmalloc sync of x86-32 (vmalloc_fault): asked before the VMA check, acts on kernel not-present faults the reference table maps.</summary>
public sealed class VmallocSyncHandlerTests
{
    private const ulong Address = 0xf800_1000;

    private static FaultResult Handle(VmallocSync answer, AccessMode mode, bool present, out RecordingMemoryManager mm)
    {
        mm = new RecordingMemoryManager { VmallocAnswer = answer };
        var fault = new PageFault(Address, AccessKind.Read, mode, PageFaultErrorCode.For(AccessKind.Read, mode, present), Fault.Process, default, default);
        return new VmallocSyncHandler(mm.Metrics).Handle(fault, mm);
    }

    [Fact]
    public void ItIsAskedBeforeTheVmaCheck() =>
        Assert.Equal(FaultStage.BeforeVmaCheck, ((IFaultHandler)new VmallocSyncHandler(new VmLab.Core.MetricRegistry())).Stage);

    [Fact]
    public void AKernelFaultTheReferenceTableMapsIsSyncedAsAMinorFault()
    {
        Assert.Equal(FaultResult.Minor.As(FaultResolutions.VmallocSync), Handle(VmallocSync.Synced, AccessMode.Kernel, present: false, out var mm));
        Assert.Equal(1, mm.Counters[MetricNames.FaultsVmallocSync]);
    }

    [Theory]
    [InlineData(VmallocSync.Unmapped, AccessMode.Kernel, false)] // the reference does not map it either: left to the oops path
    [InlineData(VmallocSync.NotVmalloc, AccessMode.Kernel, false)]
    [InlineData(VmallocSync.Synced, AccessMode.User, false)] // user faults are never vmalloc faults
    [InlineData(VmallocSync.Synced, AccessMode.Kernel, true)] // a protection fault is not a missing top-level entry
    public void OtherFaultsAreDeclinedAndCountNothing(VmallocSync answer, AccessMode mode, bool present)
    {
        Assert.Equal(FaultResult.Declined, Handle(answer, mode, present, out var mm));
        Assert.Equal(0, mm.Counters[MetricNames.FaultsVmallocSync]);
    }
}
