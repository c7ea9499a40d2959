using System.ComponentModel;
using VmLab.Abstractions;
using VmLab.Abstractions.Faults;

namespace VmLab.Plugins.Faults;

public sealed record DemandZeroOptions
{
    [Description("Map the shared zero page read-only on a first read instead of allocating a frame.")]
    public bool ZeroPage { get; init; } = true;
}

/// <summary>
/// First touch of anonymous memory (Linux <c>do_anonymous_page</c>): a read maps the shared zero page read-only
/// (when <see cref="DemandZeroOptions.ZeroPage"/>); otherwise one zeroed frame is mapped, writable and dirty when
/// the VMA is writable. One minor fault either way.
/// </summary>
public sealed class DemandZeroHandler : IFaultHandler
{
    private readonly bool _zeroPage;
    private readonly Counter _demandZero;
    private readonly Counter _zeroPageFaults;

    public DemandZeroHandler(DemandZeroOptions options, IMetrics metrics)
    {
        _zeroPage = options.ZeroPage;
        _demandZero = metrics.Counter(MetricNames.FaultsDemandZero);
        _zeroPageFaults = metrics.Counter(MetricNames.FaultsZeroPage);
    }

    public FaultResult Handle(in PageFault fault, IMemoryManager mm)
    {
        if (!fault.Pte.IsEmpty || !fault.Vma.IsAnonymous || !fault.Vma.Contains(fault.Address))
            return FaultResult.Declined;

        if (_zeroPage && !fault.IsWrite && !fault.Vma.IsShared)
        {
            if (!mm.MapPage(fault.Process, fault.Address, mm.ZeroPageFrame, mm.FlagsFor(fault.Vma, writable: false)))
                return FaultResult.OutOfMemory;
            _zeroPageFaults.Increment();
            return FaultResult.Minor.As(FaultResolutions.ZeroPage);
        }

        if (!mm.TryAllocateUserFrame(out ulong pfn)) return FaultResult.OutOfMemory;
        var flags = mm.FlagsFor(fault.Vma, writable: true);
        if ((flags & PageFlags.Writable) != 0) flags |= PageFlags.Dirty;
        if (!mm.MapPage(fault.Process, fault.Address, pfn, flags)) return FaultResult.OutOfMemory;
        _demandZero.Increment();
        return FaultResult.Minor.As(FaultResolutions.DemandZero);
    }
}
