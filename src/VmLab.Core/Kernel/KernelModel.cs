using VmLab.Abstractions;
using VmLab.Abstractions.Devices;
using VmLab.Abstractions.Faults;
using VmLab.Abstractions.PageTables;
using VmLab.Abstractions.Replacement;
using VmLab.Abstractions.Signals;
using VmLab.Core.Checks;
using VmLab.Core.Events;
using VmLab.Core.Memory;
using VmLab.Core.Mmu;

namespace VmLab.Core.Kernel;

/// <summary>
/// The kernel model: a thin façade over subsystems that each own their state. It builds them, wires them to one
/// another, and is what the machine, the MMU and the invariant checker hold. Every entry into the kernel names its CPU
/// (<see cref="KernelEntry"/>); no state crosses the MMU/kernel boundary any other way.
/// <list type="table">
/// <item><term><see cref="Processes"/></term><description>the process table: spawn, fork, exec, exit, wait, kill, the OOM killer, signals</description></item>
/// <item><term><see cref="AddressSpaces"/></term><description>address spaces and VMAs, the mmap family, fork's copy rule, leaf mappings and TLB flushes</description></item>
/// <item><term><see cref="Files"/></term><description>files and the page cache</description></item>
/// <item><term><see cref="Swap"/></term><description>the swap device, the swap cache and swap-in</description></item>
/// <item><term><see cref="Reclaim"/></term><description>the reverse map, reclaim candidates, direct reclaim and kswapd (the policy's view)</description></item>
/// <item><term><see cref="KernelHalf"/></term><description>the reference table, direct map, kmalloc and vmalloc</description></item>
/// <item><term><see cref="Faults"/></term><description>the staged fault pipeline, forced signals, fixups and oopses</description></item>
/// <item><term><see cref="Devices"/></term><description>trapped device pages and write-protect dirty tracking</description></item>
/// </list>
/// </summary>
public sealed class KernelModel
{
    public KernelModel(PhysicalMemory memory, FrameTable frames, IMetrics metrics, IPageTable pageTable, IReadOnlyList<NamedFaultHandler> handlers, ISignalDelivery signals, MachineOptions options, IReplacementPolicy? replacement = null)
    {
        Memory = memory;
        Frames = frames;
        Metrics = metrics;
        PageTable = pageTable;
        Geometry = pageTable.Geometry;
        Options = options;
        Events = new KernelEvents();
        TlbMaintenance = new TlbMaintenance([], options, metrics);
        Processes = new ProcessTable(this, signals);
        AddressSpaces = new AddressSpaces(this);
        Files = new PageCache(this);
        Swap = new SwapSubsystem(this, options.Memory.SwapSlots);
        Reclaim = new Reclaim(this, options, replacement);
        KernelHalf = new KernelHalf(this);
        Devices = new DeviceTraps(this);
        Faults = new FaultPath(this, handlers);
        PanicOnOops = options.PanicOnOops;
    }

    public MachineOptions Options { get; }
    public IMetrics Metrics { get; }
    public PhysicalMemory Memory { get; }
    public FrameTable Frames { get; }
    public PageTableGeometry Geometry { get; }
    /// <summary>The page-table format, for software reads and updates (no memory references counted).</summary>
    public IPageTable PageTable { get; }
    public ulong ZeroPageFrame => FrameTable.ZeroPage;

    public ProcessTable Processes { get; }
    public AddressSpaces AddressSpaces { get; }
    public PageCache Files { get; }
    public SwapSubsystem Swap { get; }
    public Reclaim Reclaim { get; }
    public KernelHalf KernelHalf { get; }
    public FaultPath Faults { get; }
    public DeviceTraps Devices { get; }
    /// <summary>Notable events (signals, oopses, OOM kills, warnings), capped, with the count of those left out.</summary>
    public KernelEvents Events { get; }

    /// <summary>PCIDs, CPU masks, flushes and shootdowns, through each CPU's own MMU (set when the machine attaches its CPUs).</summary>
    public TlbMaintenance TlbMaintenance { get; private set; }

    /// <summary>
    /// The event stream when the run records events (<see cref="Machine.RecordEvents"/>), else null: every site that
    /// records one tests this first, so with events off nothing is built.
    /// </summary>
    public EventStream? Stream
    {
        get => _stream;
        internal set
        {
            _stream = value;
            Events.Stream = value;
            TlbMaintenance.Stream = value;
            Frames.Stream = value;
        }
    }

    private EventStream? _stream;

    /// <summary>The invariant checker run after every system call and handled fault (<c>machine:checks:invariants</c>), or null.</summary>
    public InvariantChecker? Invariants { get; internal set; }

    /// <summary>Stop the machine on an oops (<c>panic_on_oops</c>).</summary>
    public bool PanicOnOops { get; set; }

    /// <summary>True once the machine has panicked: nothing more runs.</summary>
    public bool Panicked => Faults.Panicked;

    /// <summary>The machine's CPUs (set when the machine attaches them).</summary>
    internal IReadOnlyList<ICpu> Cpus { get; private set; } = [];

    internal void AttachCpus(ICpu[] cpus)
    {
        Cpus = cpus;
        TlbMaintenance = new TlbMaintenance(cpus, Options, Metrics);
    }

    public void AttachDevices(IEnumerable<IDevice> devices) => Devices.Attach(devices);

    /// <summary>The memory-management services as a fault handler on <paramref name="cpu"/> sees them.</summary>
    public IMemoryManager ForCpu(int cpu) => Faults.MemoryManager(cpu);

    public Process? FindProcess(int pid) => Processes.Find(pid);

    /// <summary>The process a raw trace names (see <see cref="ProcessTable.GetOrCreateImplicit"/>).</summary>
    public Process GetOrCreateImplicitProcess(int pid, int cpu) => Processes.GetOrCreateImplicit(pid, cpu);

    /// <summary>Handles one page-fault exception raised by the MMU.</summary>
    public FaultDisposition HandlePageFault(in KernelEntry entry, ulong address, AccessKind kind, PageFaultErrorCode error, in CpuState cpu) =>
        Faults.HandleException(entry, address, kind, error, cpu);

    /// <summary>A general-protection fault (non-canonical address): no page-fault counter moves.</summary>
    public FaultDisposition GeneralProtection(in KernelEntry entry, ulong address) => Faults.GeneralProtection(entry, address);
}

/// <summary>
/// One entry into the kernel: the CPU it runs on, the task it runs for, and the mode of the access or call that caused
/// it (a system call is a user-mode entry). TLB flushes the kernel does on this entry are initiated on <see cref="Cpu"/>.
/// </summary>
public readonly record struct KernelEntry(int Cpu, Process Task, AccessMode Mode);

/// <summary>A notable kernel event (signal, oops, OOM kill), kept for the run's record.</summary>
public sealed record KernelEvent(string Kind, int Pid, string Message);

/// <summary>The kernel's record of notable events: the first <see cref="Capacity"/> kept, the rest counted.</summary>
public sealed class KernelEvents : IReadOnlyList<KernelEvent>
{
    public const int Capacity = 1000;

    /// <summary>The kind of an event a workload recorded itself (<c>ISimulation.Event</c>); its message says where.</summary>
    public const string WorkloadKind = "scenario";
    private readonly List<KernelEvent> _events = [];

    /// <summary>Events recorded beyond <see cref="Capacity"/>: counted, not kept.</summary>
    public long Dropped { get; private set; }

    public IReadOnlyList<KernelEvent> All => _events;
    public int Count => _events.Count;
    public KernelEvent this[int index] => _events[index];

    public IEnumerator<KernelEvent> GetEnumerator() => _events.GetEnumerator();
    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();

    /// <summary>The run's event stream, which every notable event also reaches (null when events are off).</summary>
    internal EventStream? Stream { get; set; }

    /// <summary>Keeps the event for the run's record and sends it to the event stream as a message.</summary>
    public void Record(string kind, int pid, string message, int cpu = 0, ulong address = 0)
    {
        Keep(kind, pid, message);
        Stream?.Emit(kind, cpu, pid, address, new EventField("message", message));
    }

    /// <summary>Keeps the event for the run's record only (its recorder sends a detailed event to the stream itself).</summary>
    public void Keep(string kind, int pid, string message)
    {
        if (_events.Count < Capacity) _events.Add(new KernelEvent(kind, pid, message));
        else Dropped++;
    }
}
