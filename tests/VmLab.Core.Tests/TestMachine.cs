using VmLab.Abstractions;
using VmLab.Abstractions.Devices;
using VmLab.Abstractions.Faults;
using VmLab.Abstractions.Replacement;
using VmLab.Abstractions.Tlb;
using VmLab.Abstractions.Workloads;
using VmLab.Core;
using VmLab.Core.Memory;
using VmLab.Core.Tests.Fakes;

namespace VmLab.Core.Tests;

/// <summary>
/// A machine composed by hand from the in-test fakes (<see cref="Fakes"/>): a 4-level <see cref="FakePageTable"/>, an LRU
/// <see cref="FakeTlb"/> per CPU, copy-on-write and demand-zero (and the file handler when asked), <see cref="FakeSignals"/>.
/// Core tests depend on VmLab.Abstractions and VmLab.Core only.
/// </summary>
public static class TestMachine
{
    public static Machine Create(long frames = 4096, int tlbEntries = 64, bool zeroPage = true, bool pcid = true, int cpus = 1, bool invariants = false, long checkEvery = 0, bool fileHandler = false,
        IReplacementPolicy? replacement = null, long swapSlots = 0, IReadOnlyList<IDevice>? devices = null,
        long userFrames = 0, long lowWatermark = 0, long highWatermark = 0, int levels = 4, PageCacheOptions? pageCache = null,
        Func<int, ITlb>? tlb = null)
    {
        var metrics = new MetricRegistry();
        var memory = new PhysicalMemory(frames);
        var frameTable = new FrameTable(memory, metrics);
        var pageTable = new FakePageTable(memory, frameTable, metrics, levels);
        IFaultHandler[] handlers = fileHandler
            ? [new FakeCowHandler(metrics), new FakeFileHandler(metrics), new FakeDemandZeroHandler(metrics, zeroPage)]
            : [new FakeCowHandler(metrics), new FakeDemandZeroHandler(metrics, zeroPage)];
        return Machine.Create(
            new MachineOptions
            {
                Cpus = cpus,
                Pcid = pcid,
                Checks = new() { Invariants = invariants, Every = checkEvery, Tlb = invariants },
                Memory = new() { SwapSlots = swapSlots, UserFrames = userFrames, LowWatermark = lowWatermark, HighWatermark = highWatermark },
                // One page per file fault, each read by its own major fault, unless a test asks for fault-around or
                // read-around: the kernel tests count faults page by page (PageCacheTests covers the defaults).
                PageCache = pageCache ?? Off,
            },
            memory, frameTable, metrics, pageTable,
            tlb ?? (_ => new FakeTlb(tlbEntries)),
            handlers, new FakeSignals(), devices, replacement);
    }

    /// <summary>Fault-around and read-around off (fault_around_bytes 4096, read_ahead_kb 0).</summary>
    public static readonly PageCacheOptions Off = new() { FaultAroundBytes = 4096, ReadAheadKb = 0 };

    public static void Run(this Machine machine, params MemoryAccess[] accesses) => machine.Execute(accesses);

    public static long M(this Machine machine, string name) => machine.Metrics[name];

    /// <summary>A machine with the file handler and the invariant checker on, and one spawned process.</summary>
    public static (Machine M, IKernelApi Api, int Pid) WithProcess(long frames = 512)
    {
        var m = Create(frames: frames, invariants: true, fileHandler: true);
        var api = m.KernelApi;
        return (m, api, api.Spawn());
    }

    /// <summary>The leaf entry for <paramref name="address"/> in <paramref name="pid"/>'s page table.</summary>
    public static PageMapping Leaf(this Machine machine, int pid, ulong address) =>
        machine.Kernel.PageTable.Read(machine.Kernel.FindProcess(pid)!.PageTableRoot, address);
}

/// <summary>First in, first out over the reclaim candidates: the textbook policy, kept apart from the frame links.</summary>
public sealed class FifoTestPolicy : IReplacementPolicy
{
    private readonly LinkedList<ulong> _order = new();
    private readonly Dictionary<ulong, LinkedListNode<ulong>> _nodes = [];

    public ReplacementInput Input => ReplacementInput.AccessedBits;

    public void OnResident(ulong pfn)
    {
        if (_nodes.Remove(pfn, out var node)) _order.Remove(node);
        _nodes[pfn] = _order.AddLast(pfn);
    }

    public void OnReleased(ulong pfn)
    {
        if (_nodes.Remove(pfn, out var node)) _order.Remove(node);
    }

    public void OnAccess(ulong pfn)
    {
    }

    public bool TrySelectVictim(IReclaimView view, out ulong pfn)
    {
        pfn = _order.First?.Value ?? 0;
        return _order.First is not null;
    }
}
