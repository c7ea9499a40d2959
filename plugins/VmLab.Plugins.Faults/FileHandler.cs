using VmLab.Abstractions;
using VmLab.Abstractions.Faults;
using VmLab.Abstractions.Plugins;

namespace VmLab.Plugins.Faults;

/// <summary>
/// First touch of a file mapping (Linux do_read_fault / do_cow_fault / do_shared_fault). A page index at or past
/// ⌈size/4096⌉ is <c>SIGBUS</c>/<c>BUS_ADRERR</c>; bytes past the end inside the last page read as zero. The page
/// comes from the page cache — a major fault when it had to be read from the file, minor when cached. A read maps the
/// cached page with the VMA's page protection — read-only, except in a shared writable shmem mapping, which needs no
/// write notification and so maps it writable (the first write to a shared file page is then a write-protect fault,
/// <c>wp_page_shared</c>; to a shmem page it costs nothing); a private write maps a private copy; a shared write maps
/// the cached page writable and dirty.
/// </summary>
public sealed class FileHandler(IMetrics metrics) : IFaultHandler
{
    private readonly Counter _file = metrics.Counter(MetricNames.FaultsFile);
    private readonly IMetrics _metrics = metrics;
    /// <summary>File faults that read the page from its file (major), looked up on the first one.</summary>
    private Counter? _fileMajor;

    public FileHandler(NoOptions _, IMetrics metrics) : this(metrics)
    {
    }

    public FaultResult Handle(in PageFault fault, IMemoryManager mm)
    {
        var vma = fault.Vma;
        if (vma.IsAnonymous || vma.FileName is null || fault.Pte.HoldsFrame || fault.Pte.IsSwapped || !vma.Contains(fault.Address))
            return FaultResult.Declined;

        ulong index = (fault.PageAddress - vma.Start + vma.FileOffset) / VirtualAddress.PageSize;
        ulong pages = (vma.FileSize + VirtualAddress.PageSize - 1) / VirtualAddress.PageSize;
        if (index >= pages) return FaultResult.Raise(SignalInfo.BusAdrErr(fault.Address));

        if (!mm.TryGetFilePage(vma.FileName, index, out ulong cached, out bool readFromDisk)) return FaultResult.OutOfMemory;

        if (fault.IsWrite && !vma.IsShared)
        {
            if (!mm.TryAllocateUserFrame(out ulong copy)) return FaultResult.OutOfMemory;
            mm.Memory.Copy(cached, copy);
            if (!mm.MapPage(fault.Process, fault.Address, copy, mm.FlagsFor(vma, writable: true) | PageFlags.Dirty)) return FaultResult.OutOfMemory;
        }
        else
        {
            mm.GetPage(cached);
            var flags = mm.FlagsFor(vma, writable: fault.IsWrite);
            if (fault.IsWrite) flags |= PageFlags.Dirty;
            if (!mm.MapPage(fault.Process, fault.Address, cached, flags)) return FaultResult.OutOfMemory;
        }
        _file.Increment();
        if (readFromDisk) (_fileMajor ??= _metrics.Counter(MetricNames.FaultsFileMajor)).Increment();
        return (readFromDisk ? FaultResult.Major : FaultResult.Minor).As(fault.IsWrite && !vma.IsShared ? FaultResolutions.FileCopy : FaultResolutions.FilePage);
    }
}
