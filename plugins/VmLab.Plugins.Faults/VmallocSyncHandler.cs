using VmLab.Abstractions;
using VmLab.Abstractions.Faults;
using VmLab.Abstractions.Plugins;

namespace VmLab.Plugins.Faults;

/// <summary>
/// x86-32 two-level paging maps vmalloc areas in the reference kernel table (init_mm); a process's top-level table
/// learns of them lazily. A kernel access that misses there faults; this handler copies the top-level entry from the
/// reference and the access is retried: no signal, no oops. An address the reference does not map is left to the
/// kernel, which oopses. On layouts without lazy sync (x86-64, arm64, RISC-V, PAE) it never acts.
/// </summary>
public sealed class VmallocSyncHandler(IMetrics metrics) : IFaultHandler
{
    private readonly Counter _sync = metrics.Counter(MetricNames.FaultsVmallocSync);

    public VmallocSyncHandler(NoOptions _, IMetrics metrics) : this(metrics)
    {
    }

    /// <summary>Linux checks for a vmalloc fault first thing in <c>do_kern_addr_fault</c>, before any VMA is looked up.</summary>
    public FaultStage Stage => FaultStage.BeforeVmaCheck;

    public FaultResult Handle(in PageFault fault, IMemoryManager mm)
    {
        if (fault.Mode != AccessMode.Kernel || fault.ErrorCode.Protection) return FaultResult.Declined;
        if (mm.SyncVmalloc(fault.Process, fault.Address) != VmallocSync.Synced) return FaultResult.Declined;
        _sync.Increment();
        return FaultResult.Minor.As(FaultResolutions.VmallocSync);
    }
}
