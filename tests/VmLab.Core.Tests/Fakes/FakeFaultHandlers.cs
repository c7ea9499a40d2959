using VmLab.Abstractions;
using VmLab.Abstractions.Faults;

namespace VmLab.Core.Tests.Fakes;

/// <summary>
/// Minimal copy-on-write: a write to a present, write-protected page of a writable VMA. Shared: made writable in place.
/// Private with one reference (not the zero page): reused. Otherwise copied (the zero page: a fresh zeroed frame) and
/// the old translation flushed. Counts <c>faults.cow.*</c> and <c>faults.demand_zero</c> as a real handler would.
/// </summary>
public sealed class FakeCowHandler(IMetrics metrics) : IFaultHandler
{
    private readonly Counter _copy = metrics.Counter(MetricNames.FaultsCowCopy);
    private readonly Counter _reuse = metrics.Counter(MetricNames.FaultsCowReuse);
    private readonly Counter _demandZero = metrics.Counter(MetricNames.FaultsDemandZero);

    public FaultResult Handle(in PageFault fault, IMemoryManager mm)
    {
        if (!fault.IsWrite || !fault.ErrorCode.Protection || !fault.Pte.IsPresent || fault.Pte.Has(PageFlags.Writable) || !fault.InVma)
            return FaultResult.Declined;
        var writable = mm.FlagsFor(fault.Vma, writable: true) | PageFlags.Dirty | (fault.Pte.Flags & PageFlags.Accessed);
        ulong old = fault.Pte.Frame;
        if (fault.Vma.IsShared || (old != mm.ZeroPageFrame && mm.RefCount(old) == 1))
        {
            mm.UpdatePageFlags(fault.Process, fault.Address, writable);
            if (!fault.Vma.IsShared) _reuse.Increment();
            return FaultResult.Minor;
        }
        if (!mm.TryAllocateUserFrame(out ulong copy)) return FaultResult.OutOfMemory;
        if (old != mm.ZeroPageFrame) mm.Memory.Copy(old, copy);
        if (!mm.MapPage(fault.Process, fault.Address, copy, writable & ~PageFlags.Accessed)) return FaultResult.OutOfMemory;
        mm.FlushTlbPage(fault.Process, fault.Address);
        (old == mm.ZeroPageFrame ? _demandZero : _copy).Increment();
        return FaultResult.Minor;
    }
}

/// <summary>
/// Minimal demand-zero: the first touch of anonymous memory. A private read maps the shared zero page read-only when
/// <paramref name="zeroPage"/>; anything else maps a fresh zeroed frame (writable and dirty if the VMA allows writes).
/// </summary>
public sealed class FakeDemandZeroHandler(IMetrics metrics, bool zeroPage = true) : IFaultHandler
{
    private readonly Counter _demandZero = metrics.Counter(MetricNames.FaultsDemandZero);
    private readonly Counter _zeroPage = metrics.Counter(MetricNames.FaultsZeroPage);

    public FaultResult Handle(in PageFault fault, IMemoryManager mm)
    {
        if (!fault.Pte.IsEmpty || !fault.InVma || !fault.Vma.IsAnonymous) return FaultResult.Declined;
        if (zeroPage && !fault.IsWrite && !fault.Vma.IsShared)
        {
            if (!mm.MapPage(fault.Process, fault.Address, mm.ZeroPageFrame, mm.FlagsFor(fault.Vma, writable: false))) return FaultResult.OutOfMemory;
            _zeroPage.Increment();
            return FaultResult.Minor;
        }
        if (!mm.TryAllocateUserFrame(out ulong pfn)) return FaultResult.OutOfMemory;
        var flags = mm.FlagsFor(fault.Vma, writable: true);
        if ((flags & PageFlags.Writable) != 0) flags |= PageFlags.Dirty;
        if (!mm.MapPage(fault.Process, fault.Address, pfn, flags)) return FaultResult.OutOfMemory;
        _demandZero.Increment();
        return FaultResult.Minor;
    }
}

/// <summary>
/// Minimal file fault: the first touch of a file mapping. Past the last page of the file: SIGBUS/BUS_ADRERR. Otherwise
/// the page-cache page (major when read from disk); a private write maps a private copy, anything else the cached page
/// itself (writable and dirty on a shared write).
/// </summary>
public sealed class FakeFileHandler(IMetrics metrics) : IFaultHandler
{
    private readonly Counter _file = metrics.Counter(MetricNames.FaultsFile);

    public FaultResult Handle(in PageFault fault, IMemoryManager mm)
    {
        var vma = fault.Vma;
        if (!fault.InVma || vma.IsAnonymous || vma.FileName is null || fault.Pte.HoldsFrame || fault.Pte.IsSwapped) return FaultResult.Declined;
        ulong index = (fault.PageAddress - vma.Start + vma.FileOffset) / VirtualAddress.PageSize;
        if (index >= (vma.FileSize + VirtualAddress.PageSize - 1) / VirtualAddress.PageSize) return FaultResult.Raise(SignalInfo.BusAdrErr(fault.Address));
        if (!mm.TryGetFilePage(vma.FileName, index, out ulong cached, out bool readFromDisk)) return FaultResult.OutOfMemory;

        ulong pfn = cached;
        if (fault.IsWrite && !vma.IsShared)
        {
            if (!mm.TryAllocateUserFrame(out pfn)) return FaultResult.OutOfMemory;
            mm.Memory.Copy(cached, pfn);
        }
        else
        {
            mm.GetPage(cached);
        }
        var flags = mm.FlagsFor(vma, writable: fault.IsWrite);
        if (fault.IsWrite) flags |= PageFlags.Dirty;
        if (!mm.MapPage(fault.Process, fault.Address, pfn, flags)) return FaultResult.OutOfMemory;
        _file.Increment();
        return readFromDisk ? FaultResult.Major : FaultResult.Minor;
    }
}
