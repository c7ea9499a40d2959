using VmLab.Abstractions;
using VmLab.Abstractions.Faults;
using VmLab.Core;
using VmLab.Core.Memory;
using VmLab.Plugins.Faults;
using VmLab.Plugins.PageTables;
using VmLab.Plugins.Signals;
using VmLab.Plugins.Tlb;

namespace VmLab.Core.Tests;

/// <summary>A machine composed by hand from the built-in plugins: x86-64 4-level, fully-associative TLB, cow + demand-zero, posix.</summary>
public static class TestMachine
{
    public static Machine Create(long frames = 4096, int tlbEntries = 64, bool zeroPage = true, FullyAssociativePolicy policy = FullyAssociativePolicy.Lru, bool pcid = true, int cpus = 1, bool invariants = false, long checkEvery = 0, bool fileHandler = false)
    {
        var metrics = new MetricRegistry();
        var memory = new PhysicalMemory(frames);
        var frameTable = new FrameTable(memory, metrics);
        var pageTable = new RadixPageTable<X86_64Format>(new X86_64Format(4), memory, frameTable, metrics);
        IFaultHandler[] handlers = fileHandler
            ? [new CowHandler(metrics), new FileHandler(metrics), new DemandZeroHandler(new DemandZeroOptions { ZeroPage = zeroPage }, metrics)]
            : [new CowHandler(metrics), new DemandZeroHandler(new DemandZeroOptions { ZeroPage = zeroPage }, metrics)];
        return Machine.Create(
            new MachineOptions { Cpus = cpus, Pcid = pcid, CheckInvariants = invariants, CheckEvery = checkEvery, CheckTlb = invariants },
            memory, frameTable, metrics, pageTable,
            _ => new FullyAssociativeTlb(new FullyAssociativeTlbState(new FullyAssociativeTlbOptions { Entries = tlbEntries, Policy = policy })),
            handlers, new PosixSignals());
    }

    public static void Run(this Machine machine, params MemoryAccess[] accesses) => machine.Execute(accesses);

    public static long M(this Machine machine, string name) => machine.Metrics[name];
}
