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

/// <summary>Machine-wide settings that are not a plugin's.</summary>
public sealed record MachineOptions
{
    public int Cpus { get; init; } = 1;
    /// <summary>Tag TLB entries with the process's PCID/ASID (no flush on context switch); false flushes non-global entries on every switch.</summary>
    public bool Pcid { get; init; } = true;
    /// <summary>PCIDs per CPU the kernel recycles among address spaces, least recently used first (Linux x86: 6).</summary>
    public int Pcids { get; init; } = 6;
    /// <summary>Verify every TLB hit against the current page table and fail the run on a stale one.</summary>
    public bool CheckTlb { get; init; }
    /// <summary>Verify the kernel's memory invariants after every kernel operation and fault (see <see cref="Checks.InvariantChecker"/>).</summary>
    public bool CheckInvariants { get; init; }
    /// <summary>With <see cref="CheckInvariants"/>, also check every this many accesses (0: only after kernel operations and faults).</summary>
    public long CheckEvery { get; init; }
    public CpuState CpuState { get; init; } = CpuState.LinuxDefault;
    /// <summary>Limit on resident user pages, page cache and swap cache included (a cgroup's memory.max); 0 = physical memory only.</summary>
    public long UserFrames { get; init; }
    /// <summary>Slots of the swap device.</summary>
    public long SwapSlots { get; init; }
    /// <summary>Background reclaim starts when fewer than this many frames are free (against the limit) after an allocation; 0 = off.</summary>
    public long LowWatermark { get; init; }
    /// <summary>Background reclaim frees frames until this many are free.</summary>
    public long HighWatermark { get; init; }
    /// <summary>Stop the machine on the first oops (Linux panic_on_oops).</summary>
    public bool PanicOnOops { get; init; }
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
        if (options.CheckInvariants)
        {
            Invariants = new Checks.InvariantChecker(kernel, options.CheckEvery);
            kernel.Invariants = Invariants;
        }
    }

    /// <summary>The invariant checker when <see cref="MachineOptions.CheckInvariants"/> is on, else null.</summary>
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
        IReplacementPolicy? replacement)
    {
        var kernel = new KernelModel(memory, frames, metrics, pageTable, faultHandlers, signals, options, replacement);
        var cpus = new ICpu[options.Cpus];
        for (int i = 0; i < cpus.Length; i++)
            cpus[i] = CreateEngine(i, tlbFactory(i), pageTable, kernel, options, metrics, replacement);
        kernel.AttachCpus(cpus);
        if (devices is not null) kernel.AttachDevices(devices);
        return new Machine(options, memory, frames, metrics, kernel, cpus);
    }

    /// <summary>
    /// Closes the MMU over the TLB, the page table and the access observer: a policy that needs every access
    /// (<see cref="ReplacementInput.EveryAccess"/>) gets <see cref="PolicyAccessObserver"/>; any other run gets
    /// <see cref="NoAccessObserver"/>, whose empty call the JIT removes, so the TLB-hit path does no extra work.
    /// </summary>
    private static ICpu CreateEngine(int index, ITlb tlb, IPageTable pageTable, KernelModel kernel, MachineOptions options, MetricRegistry metrics, IReplacementPolicy? replacement)
    {
        object observer = replacement is { Input: ReplacementInput.EveryAccess }
            ? new PolicyAccessObserver(replacement)
            : new NoAccessObserver();
        var type = typeof(MmuEngine<,,>).MakeGenericType(tlb.GetType(), pageTable.GetType(), observer.GetType());
        return (ICpu)Activator.CreateInstance(type, index, tlb, pageTable, kernel, options, metrics, observer)!;
    }
}
