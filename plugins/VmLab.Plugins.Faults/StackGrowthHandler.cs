using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
using VmLab.Abstractions;
using VmLab.Abstractions.Faults;

namespace VmLab.Plugins.Faults;

public sealed record StackGrowthOptions
{
    [Description("Pages that must stay free between a growing stack and the VMA below it (Linux stack_guard_gap).")]
    [Range(0, 1 << 20)]
    public int GuardGapPages { get; init; } = 256;

    [Description("RLIMIT_STACK in bytes: the largest a grows-down VMA may become.")]
    [Range(typeof(long), "4096", "1099511627776")]
    public long RlimitStack { get; init; } = 8L << 20;

    [Description("Map the shared zero page on a read of the new stack page, as demand-zero does.")]
    public bool ZeroPage { get; init; } = true;
}

/// <summary>
/// A fault below a grows-down VMA (Linux expand_stack): the VMA is extended down to the faulting page and the page
/// is mapped — one minor fault — unless the gap to the VMA below would drop under the guard gap or the stack would
/// exceed RLIMIT_STACK, which is <c>SIGSEGV</c>/<c>SEGV_MAPERR</c>.
/// </summary>
public sealed class StackGrowthHandler(StackGrowthOptions options, IMetrics metrics) : IFaultHandler
{
    private readonly Counter _growth = metrics.Counter(MetricNames.FaultsStackGrowth);

    public FaultResult Handle(in PageFault fault, IMemoryManager mm)
    {
        if (fault.Address >= fault.Vma.Start || (fault.Vma.Flags & VmaFlags.GrowsDown) == 0)
            return FaultResult.Declined;

        ulong newStart = fault.PageAddress;
        var (prevEnd, prevGrowsDown) = mm.PreviousVma(fault.Process, fault.Vma.Start);
        ulong gap = (ulong)options.GuardGapPages * VirtualAddress.PageSize;
        if (prevEnd != 0 && !prevGrowsDown && newStart - prevEnd < gap)
            return FaultResult.Raise(SignalInfo.SegvMapErr(fault.Address));
        if (fault.Vma.End - newStart > (ulong)options.RlimitStack)
            return FaultResult.Raise(SignalInfo.SegvMapErr(fault.Address));

        mm.ExpandStack(fault.Process, fault.Vma.Start, newStart);
        var grown = fault.Vma with { Start = newStart };
        if (options.ZeroPage && !fault.IsWrite)
        {
            if (!mm.MapPage(fault.Process, fault.Address, mm.ZeroPageFrame, mm.FlagsFor(grown, writable: false))) return FaultResult.OutOfMemory;
        }
        else
        {
            if (!mm.TryAllocateUserFrame(out ulong pfn)) return FaultResult.OutOfMemory;
            var flags = mm.FlagsFor(grown, writable: true);
            if ((flags & PageFlags.Writable) != 0) flags |= PageFlags.Dirty;
            if (!mm.MapPage(fault.Process, fault.Address, pfn, flags)) return FaultResult.OutOfMemory;
        }
        _growth.Increment();
        return FaultResult.Minor.As(FaultResolutions.StackGrowth);
    }
}
