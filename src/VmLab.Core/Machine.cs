using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
using System.Text.Json.Serialization;
using VmLab.Abstractions;
using VmLab.Abstractions.Faults;
using VmLab.Abstractions.PageTables;
using VmLab.Abstractions.Replacement;
using VmLab.Abstractions.Signals;
using VmLab.Abstractions.Tlb;
using VmLab.Abstractions.Workloads;
using VmLab.Core.Kernel;
using VmLab.Core.Memory;
using VmLab.Core.Mmu;

namespace VmLab.Core;

/// <summary>
/// The machine's settings that are not a plugin's, in the shape of the config's <c>machine</c> section: the loader binds
/// them strictly from JSON and <c>--set</c>, freezes them (<see cref="Frozen"/>) and writes them back out as the resolved
/// config. The host's <c>MachineSpec</c> adds the plugin components to this record; nothing else restates it.
/// </summary>
public record MachineOptions
{
    [Description("CPUs, each with its own MMU and TLB.")]
    [Range(1, 256)]
    public int Cpus { get; init; } = 1;

    [Description("Tag TLB entries with PCID/ASID instead of flushing them on a context switch.")]
    public bool Pcid { get; init; } = true;

    [Description("PCIDs (ASIDs) per CPU the kernel recycles among address spaces, least recently used first; reusing one flushes it (Linux x86: 6).")]
    [Range(1, 4095)]
    public int Pcids { get; init; } = 6;

    [Description("Run-time checks, off by default for speed.")]
    public CheckOptions Checks { get; init; } = new();

    [Description("Supervisor-mode access prevention (SMAP / PAN).")]
    public bool Smap { get; init; } = true;

    [Description("Supervisor-mode execution prevention (SMEP / PXN).")]
    public bool Smep { get; init; } = true;

    [Description("Stop the machine on the first kernel oops (panic_on_oops).")]
    public bool PanicOnOops { get; init; }

    public MemoryOptions Memory { get; init; } = new();

    [Description("The page cache's fault-around and read-around (Linux's fault_around_bytes and read_ahead_kb).")]
    public PageCacheOptions PageCache { get; init; } = new();

    /// <summary>The CPU state every CPU starts in: SMAP and SMEP as configured, no user access window open, PKRU 0.</summary>
    [JsonIgnore]
    public CpuState CpuState => new(Smap, Smep, UaccessOpen: false, Pkru: 0);

    /// <summary>Whether TLB hits are verified: asked for, or implied by the invariant checks.</summary>
    [JsonIgnore]
    public bool CheckTlb => Checks.Tlb || Checks.Invariants;

    /// <summary>
    /// These settings alone (a derived record's additions dropped), with the high watermark raised to the low one when it
    /// is below it: the form the machine runs with and the resolved config records.
    /// </summary>
    public MachineOptions Frozen() => new MachineOptions(this)
    {
        Memory = Memory with { HighWatermark = Math.Max(Memory.HighWatermark, Memory.LowWatermark) },
    };
}

/// <summary>The config's <c>machine:checks</c> section.</summary>
public sealed record CheckOptions
{
    [Description("Verify every TLB hit against the current page table; a stale hit (a missing flush) fails the run.")]
    public bool Tlb { get; init; }

    [Description("Verify the kernel's memory invariants (frame reference and map counts, free frames, private writable mappings, page-table pages, mappings inside VMAs) after every kernel operation and page fault; a violation fails the run. Turns the TLB check on too. Slow: for testing.")]
    public bool Invariants { get; init; }

    [Description("With invariants on, also check every this many accesses; 0 checks only after kernel operations and faults.")]
    [Range(0, long.MaxValue)]
    public long Every { get; init; }
}

/// <summary>
/// The config's <c>machine:pageCache</c> section: how much a file fault brings in and maps besides its own page, with
/// Linux's defaults. 4096 and 0 turn both off: one page per fault, each read by its own major fault.
/// </summary>
public sealed record PageCacheOptions
{
    [Description("fault_around_bytes: a read fault on a file or shmem page also maps the pages already in the page cache within this aligned window of the VMA (filemap_map_pages). Rounded down to a power of two pages, as Linux's debugfs knob; 4096 (or 0) is off. Linux's default: 65536.")]
    [Range(0, 2097152)]
    public int FaultAroundBytes { get; init; } = 65536;

    [Description("read_ahead_kb: a file fault that must read its page reads the window of this many KiB centred on it (mmap read-around, do_sync_mmap_readahead), pages already cached and past the end skipped; 0 is off. Linux's default: 128.")]
    [Range(0, 65536)]
    public int ReadAheadKb { get; init; } = 128;

    /// <summary>Pages a fault-around maps at most (fault_around_pages): 1 when off.</summary>
    [JsonIgnore]
    public int FaultAroundPages => FaultAroundBytes < 2 * 4096 ? 1 : 1 << System.Numerics.BitOperations.Log2((uint)FaultAroundBytes / 4096);

    /// <summary>Pages of the read-around window (ra_pages).</summary>
    [JsonIgnore]
    public int ReadAheadPages => ReadAheadKb / 4;
}

/// <summary>The config's <c>machine:memory</c> section.</summary>
public sealed record MemoryOptions
{
    [Description("Physical frames of 4 KiB (frame 0 is the shared zero page).")]
    [Range(16L, 1L << 28)]
    public long Frames { get; init; } = 262144;

    [Description("Slots of the swap device.")]
    [Range(0L, 1L << 32)]
    public long SwapSlots { get; init; } = 1048576;

    [Description("Limit on resident user pages, page cache and swap cache included, like a cgroup's memory.max (0 = no limit beyond physical memory). Page-table pages do not count.")]
    [Range(0L, 1L << 28)]
    public long UserFrames { get; init; }

    [Description("Background (kswapd-style) reclaim starts when fewer frames than this are free after an allocation (0 = off: only direct reclaim, one page when an allocation finds none).")]
    [Range(0L, 1L << 28)]
    public long LowWatermark { get; init; }

    [Description("Background reclaim frees frames until this many are free (at least lowWatermark).")]
    [Range(0L, 1L << 28)]
    public long HighWatermark { get; init; }
}

/// <summary>
/// A composed machine: physical memory, the kernel, one MMU per CPU. It is the <see cref="ISimulation"/> workloads drive.
/// </summary>
public sealed class Machine : ISimulation
{
    private Machine(MachineOptions options, PhysicalMemory memory, FrameTable frames, MetricRegistry metrics, KernelModel kernel, ICpu[] cpus)
    {
        Options = options;
        Memory = memory;
        Frames = frames;
        Metrics = metrics;
        Kernel = kernel;
        Cpus = cpus;
        Api = new KernelApi(kernel, cpus, metrics);
        if (options.Checks.Invariants)
        {
            Invariants = new Checks.InvariantChecker(kernel, options.Checks.Every);
            kernel.Invariants = Invariants;
        }
    }

    /// <summary>The invariant checker when <see cref="CheckOptions.Invariants"/> is on, else null.</summary>
    public Checks.InvariantChecker? Invariants { get; }

    public MachineOptions Options { get; }
    public PhysicalMemory Memory { get; }
    public FrameTable Frames { get; }
    public MetricRegistry Metrics { get; }
    public KernelModel Kernel { get; }
    public IReadOnlyList<ICpu> Cpus { get; }
    /// <summary>The system calls, as workloads drive them (each checked by the invariant checker when it runs).</summary>
    public KernelApi Api { get; }
    public int PreferredBatchSize => 4096;
    /// <summary>The system calls as workloads see them: <see cref="Api"/>.</summary>
    public IKernelApi KernelApi => Api;
    IKernelApi ISimulation.Kernel => Api;

    private readonly List<Expectation> _expectations = [];

    /// <summary>Expectations the workload checked, in order.</summary>
    public IReadOnlyList<Expectation> Expectations => _expectations;

    public void Report(in Expectation expectation) => _expectations.Add(expectation);

    /// <summary>
    /// Turns the event stream on: from now on every access that leaves the fast path, every fault, frame, PTE change,
    /// TLB flush, signal, system call and eviction is recorded, filtered by <paramref name="filter"/> and handed to
    /// <paramref name="sink"/> as it happens. With it off (the default) none of this is built.
    /// </summary>
    public Events.EventStream RecordEvents(Events.IEventSink sink, Events.EventFilter? filter = null, bool seeEveryAccess = false)
    {
        var stream = new Events.EventStream(sink, filter) { SeesEveryAccess = seeEveryAccess };
        Kernel.Stream = stream;
        return stream;
    }

    public void Event(string where, string message) => Kernel.Events.Record(KernelEvents.WorkloadKind, 0, $"{where}: {message}");

    public void Execute(ReadOnlySpan<MemoryAccess> batch)
    {
        if (Invariants is not { Every: > 0 } checker)
        {
            Cpus[0].Execute(batch);
            return;
        }
        // Periodic checks: the batch is cut where the period ends.
        while (!batch.IsEmpty)
        {
            int n = (int)Math.Min(batch.Length, checker.AccessesUntilCheck);
            Cpus[0].Execute(batch[..n]);
            checker.Executed(n);
            batch = batch[n..];
        }
    }

    /// <summary>
    /// Composes a machine. <paramref name="pageTable"/> and each TLB from <paramref name="tlbFactory"/> are boxed plugin
    /// components; the MMU is closed over their runtime types so a struct plugin runs specialised. Handlers are listed
    /// by their type's name (or a built-in's registered name).
    /// </summary>
    public static Machine Create(
        MachineOptions options,
        PhysicalMemory memory,
        FrameTable frames,
        MetricRegistry metrics,
        IPageTable pageTable,
        Func<int, ITlb> tlbFactory,
        IReadOnlyList<IFaultHandler> faultHandlers,
        ISignalDelivery signals,
        IReadOnlyList<Abstractions.Devices.IDevice>? devices = null,
        IReplacementPolicy? replacement = null) =>
        Create(options, memory, frames, metrics, pageTable, tlbFactory,
            faultHandlers.Select(h => new NamedFaultHandler(FaultPath.DefaultName(h), h)).ToList(), signals, devices, replacement);

    /// <summary>Composes a machine whose fault handlers carry the names they were configured by.</summary>
    public static Machine Create(
        MachineOptions options,
        PhysicalMemory memory,
        FrameTable frames,
        MetricRegistry metrics,
        IPageTable pageTable,
        Func<int, ITlb> tlbFactory,
        IReadOnlyList<NamedFaultHandler> faultHandlers,
        ISignalDelivery signals,
        IReadOnlyList<Abstractions.Devices.IDevice>? devices,
        IReplacementPolicy? replacement,
        Abstractions.Cache.ICacheHierarchy? cache = null,
        IMmuEngineFactory? engines = null)
    {
        engines ??= ReflectionMmuEngineFactory.Instance;
        var kernel = new KernelModel(memory, frames, metrics, pageTable, faultHandlers, signals, options, replacement);
        var cpus = new ICpu[options.Cpus];
        for (int i = 0; i < cpus.Length; i++)
            cpus[i] = engines.Create(new MmuParts(i, tlbFactory(i), pageTable, replacement is { Input: ReplacementInput.EveryAccess } ? replacement : null,
                cache is { SeesData: true } ? cache : null, kernel, options, metrics));
        kernel.AttachCpus(cpus);
        if (devices is not null) kernel.AttachDevices(devices);
        return new Machine(options, memory, frames, metrics, kernel, cpus);
    }
}
