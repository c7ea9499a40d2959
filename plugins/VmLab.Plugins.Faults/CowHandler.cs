using VmLab.Abstractions;
using VmLab.Abstractions.Faults;
using VmLab.Abstractions.Plugins;

namespace VmLab.Plugins.Faults;

/// <summary>
/// A write to a present, write-protected page of a writable VMA (Linux <c>do_wp_page</c>):
/// the zero page is replaced by a fresh zeroed frame (no copy); a page the process holds the only reference to is
/// reused (made writable, no allocation); any other page is copied into a new frame, whose old TLB entry is flushed.
/// Shared mappings are made writable in place, never copied. All are minor faults, and none reaches the process.
/// </summary>
public sealed class CowHandler(IMetrics metrics) : IFaultHandler
{
    private readonly Counter _copy = metrics.Counter(MetricNames.FaultsCowCopy);
    private readonly Counter _reuse = metrics.Counter(MetricNames.FaultsCowReuse);
    private readonly Counter _demandZero = metrics.Counter(MetricNames.FaultsDemandZero);

    public CowHandler(NoOptions _, IMetrics metrics) : this(metrics)
    {
    }

    public FaultResult Handle(in PageFault fault, IMemoryManager mm)
    {
        if (!fault.IsWrite || !fault.Pte.IsPresent || !fault.ErrorCode.Protection || !fault.Vma.Contains(fault.Address))
            return FaultResult.Declined;
        if (fault.Pte.Has(PageFlags.Writable)) return FaultResult.Declined;

        ulong old = fault.Pte.Frame;
        var writable = mm.FlagsFor(fault.Vma, writable: true) | PageFlags.Dirty;

        if (fault.Vma.IsShared)
        {
            // A write-protected page of a shared mapping (wp_page_shared): made writable in place, never copied.
            mm.UpdatePageFlags(fault.Process, fault.Address, writable | (fault.Pte.Flags & PageFlags.Accessed));
            return FaultResult.Minor.As(FaultResolutions.WriteShared);
        }
        if (old != mm.ZeroPageFrame && mm.RefCount(old) == 1)
        {
            mm.UpdatePageFlags(fault.Process, fault.Address, writable | (fault.Pte.Flags & PageFlags.Accessed));
            _reuse.Increment();
            return FaultResult.Minor.As(FaultResolutions.CowReuse);
        }

        if (!mm.TryAllocateUserFrame(out ulong copy)) return FaultResult.OutOfMemory;
        bool fromZeroPage = old == mm.ZeroPageFrame;
        if (!fromZeroPage) mm.Memory.Copy(old, copy);
        if (!mm.MapPage(fault.Process, fault.Address, copy, writable)) return FaultResult.OutOfMemory;
        mm.FlushTlbPage(fault.Process, fault.Address);
        if (fromZeroPage) _demandZero.Increment();
        else _copy.Increment();
        return FaultResult.Minor.As(fromZeroPage ? FaultResolutions.DemandZero : FaultResolutions.CowCopy);
    }
}
