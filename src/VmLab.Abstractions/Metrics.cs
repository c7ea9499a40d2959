namespace VmLab.Abstractions;

/// <summary>
/// A named 64-bit counter. Components look counters up once, at construction, and then bump the field directly:
/// no dictionary, interface call or allocation per event.
/// </summary>
public sealed class Counter(string name)
{
    public long Value;

    public string Name { get; } = name;

    public void Increment() => Value++;

    public void Add(long amount) => Value += amount;

    /// <summary>Raises the value to <paramref name="candidate"/> if larger (for peaks).</summary>
    public void Max(long candidate)
    {
        if (candidate > Value) Value = candidate;
    }

    public override string ToString() => $"{Name}={Value}";
}

/// <summary>The run's metric registry. Names follow docs/metrics.md.</summary>
public interface IMetrics
{
    /// <summary>Gets the counter of this name, creating it at zero.</summary>
    Counter Counter(string name);

    /// <summary>
    /// Whether a component of this run has looked the counter up: false for a name nothing on this machine counts
    /// (a misspelling, or <c>faults.vmalloc_sync</c> on a machine without vmalloc faults). Registries that cannot
    /// tell say true.
    /// </summary>
    bool IsRegistered(string name) => true;
}

/// <summary>The metric names of the outside contract.</summary>
public static class MetricNames
{
    public const string Accesses = "accesses";
    public const string TlbHits = "tlb.hits";
    public const string TlbMisses = "tlb.misses";
    public const string WalkCount = "walk.count";
    public const string WalkMemrefs = "walk.memrefs";
    public const string FaultsTotal = "faults.total";
    public const string FaultsMinor = "faults.minor";
    public const string FaultsMajor = "faults.major";
    public const string FaultsDemandZero = "faults.demand_zero";
    public const string FaultsZeroPage = "faults.zero_page";
    public const string FaultsCowCopy = "faults.cow_copy";
    public const string FaultsCowReuse = "faults.cow_reuse";
    public const string FaultsSwapIn = "faults.swap_in";
    public const string FaultsStackGrowth = "faults.stack_growth";
    public const string FaultsVmallocSync = "faults.vmalloc_sync";
    public const string FaultsUaccessFixup = "faults.uaccess_fixup";
    public const string PagesAllocated = "pages.allocated";
    public const string PagesResidentPeak = "pages.resident_peak";
    public const string PageTablePages = "pagetable.pages";
    public const string SwapOuts = "swap.outs";
    public const string SwapIns = "swap.ins";
    public const string TlbFlushes = "tlb.flushes";
    public const string TlbFlushedPages = "tlb.flushed_pages";
    public const string TlbShootdowns = "tlb.shootdowns";
    public const string SignalsSigsegv = "signals.sigsegv";
    public const string SignalsSigbus = "signals.sigbus";
    public const string SignalsSigkill = "signals.sigkill";
    public const string KernelOops = "kernel.oops";

    // Beyond the outside contract's table: every other counter VmLab itself registers (docs/metrics.md).
    public const string AccessesDropped = "accesses.dropped";
    public const string ContextSwitches = "context_switches";
    public const string WalkDirtyUpdates = "walk.dirty_updates";
    public const string FaultsFile = "faults.file";
    public const string FaultsTrapped = "faults.trapped";
    public const string DirtyLogPages = "dirtylog.pages";
    public const string KernelPanics = "kernel.panics";
    public const string MemoryFragmentation = "memory.fragmentation";
    public const string MemoryFreeFrames = "memory.free_frames";
    public const string PageCacheDropped = "pagecache.dropped";
    public const string PageCacheWritebacks = "pagecache.writebacks";
    public const string ReclaimDirect = "reclaim.direct";
    public const string ReclaimKswapd = "reclaim.kswapd";
    public const string ReclaimKswapdWakeups = "reclaim.kswapd_wakeups";
    public const string SwapCacheHits = "swap.cache_hits";
    public const string SwapSlotsAllocated = "swap.slots_allocated";
    public const string SwapSlotsPeak = "swap.slots_peak";
    public const string PwcHits = "pwc.hits";
    public const string PwcMisses = "pwc.misses";
    public const string HptResizes = "hpt.resizes";
    public const string HptSecondary = "hpt.secondary";
    public const string FaultsFileMajor = "faults.file_major";
    public const string SignalsDelivered = "signals.delivered";
    public const string SignalsSigreturns = "signals.sigreturns";
    public const string SyscallsTotal = "syscalls.total";
    public const string SyscallsPageTablePagesCopied = "syscalls.pagetable_pages_copied";
    public const string SyscallsPagesUnmapped = "syscalls.pages_unmapped";
    public const string SyscallsPagesProtected = "syscalls.pages_protected";
    public const string SyscallsVmaChanges = "syscalls.vma_changes";
    public const string ReclaimScanned = "reclaim.scanned";

    /// <summary>
    /// Whether the metric is a level of the machine's current state (free frames, free blocks per order, fragmentation:
    /// the <c>memory.*</c> metrics) rather than a count of events. A scenario's <c>reset</c> rebases counts, not levels.
    /// </summary>
    public static bool IsLevel(string name) => name.StartsWith("memory.", StringComparison.Ordinal);

    /// <summary>A trapped device's reads (<c>device.NAME.reads</c>).</summary>
    public static string DeviceReads(string device) => $"device.{device}.reads";

    /// <summary>A trapped device's writes (<c>device.NAME.writes</c>).</summary>
    public static string DeviceWrites(string device) => $"device.{device}.writes";
}
