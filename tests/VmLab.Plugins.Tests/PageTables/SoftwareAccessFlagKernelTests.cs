using VmLab.Abstractions;
using VmLab.Abstractions.Faults;
using VmLab.Abstractions.PageTables;
using VmLab.Core;
using VmLab.Core.Kernel;
using VmLab.Core.Memory;
using VmLab.Plugins.Faults;
using VmLab.Plugins.PageTables;
using VmLab.Plugins.Signals;
using VmLab.Plugins.Tlb;

namespace VmLab.Plugins.Tests.PageTables;

/// <summary>
/// The kernel's side of hardware that leaves Accessed/Dirty to software: an old entry, or a write to a clean writable
/// entry, costs exactly one more minor fault, which marks the entry young (dirty) and lets the access complete.
/// </summary>
public sealed class SoftwareAccessFlagKernelTests
{
    private const ulong Va = 0x1000_0000;

    private static (Machine Machine, Process Process) Boot(IPageTable table, PhysicalMemory memory, FrameTable frames, MetricRegistry metrics)
    {
        var machine = Machine.Create(new MachineOptions(), memory, frames, metrics, table,
            _ => new FullyAssociativeTlb(new FullyAssociativeTlbState(new FullyAssociativeTlbOptions())),
            [new CowHandler(metrics), new DemandZeroHandler(new DemandZeroOptions(), metrics)], new PosixSignals());
        var process = machine.Kernel.Processes.Create(1, 0)!;
        process.Mm.Add(new Vma(Va, Va + 0x10_0000, Protection.ReadWrite, VmaFlags.None));
        return (machine, process);
    }

    public static TheoryData<string, bool, long> Cases => new()
    {
        // format, hardware-managed A/D, minor faults for: first write, read after aging, write after cleaning
        { "arm64", true, 1 },
        { "arm64", false, 3 },
        { "riscv", true, 1 },
        { "riscv", false, 3 },
        { "x86-64", true, 1 },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void OldOrCleanEntryCostsOneMinorFaultEachWithoutHardwareUpdates(string format, bool hardware, long expectedMinor)
    {
        var memory = new PhysicalMemory(4096);
        var metrics = new MetricRegistry();
        var frames = new FrameTable(memory, metrics);
        IPageTable table = format switch
        {
            "arm64" => new RadixPageTable<Arm64Format>(new Arm64Format(new Arm64Options { HardwareAccessFlag = hardware, HardwareDirty = hardware }), memory, frames, metrics),
            "riscv" => new RadixPageTable<RiscVFormat>(new RiscVFormat(new RiscVOptions { HardwareAccessDirty = hardware }), memory, frames, metrics),
            _ => new RadixPageTable<X86_64Format>(new X86_64Format(4), memory, frames, metrics),
        };
        var (machine, p) = Boot(table, memory, frames, metrics);
        var cpu = machine.Cpus[0];
        var kernel = machine.Kernel;

        Assert.True(cpu.Translate(p, Va, AccessKind.Write, AccessMode.User).Ok); // demand-zero: young and dirty
        Assert.Equal(1, metrics[MetricNames.FaultsMinor]);

        var leaf = table.Read(p.PageTableRoot, Va);
        kernel.AddressSpaces.UpdatePageFlags(p, Va, leaf.Flags & ~PageFlags.Accessed); // reclaim ages the page
        kernel.AddressSpaces.FlushTlbPage(p, Va, cpu: 0);
        Assert.True(cpu.Translate(p, Va, AccessKind.Read, AccessMode.User).Ok);
        Assert.True(table.Read(p.PageTableRoot, Va).Has(PageFlags.Accessed));

        leaf = table.Read(p.PageTableRoot, Va);
        kernel.AddressSpaces.UpdatePageFlags(p, Va, leaf.Flags & ~PageFlags.Dirty); // writeback cleans it
        kernel.AddressSpaces.FlushTlbPage(p, Va, cpu: 0);
        Assert.True(cpu.Translate(p, Va, AccessKind.Write, AccessMode.User).Ok);
        Assert.True(table.Read(p.PageTableRoot, Va).Has(PageFlags.Dirty | PageFlags.Writable));

        Assert.Equal(expectedMinor, metrics[MetricNames.FaultsMinor]);
        Assert.Equal(expectedMinor, metrics[MetricNames.FaultsTotal]);
        Assert.Equal(0, metrics[MetricNames.SignalsSigsegv]);
    }

    [Fact]
    public void OldEntryInAReadOnlyVmaStillGetsSegvOnWrite()
    {
        var memory = new PhysicalMemory(4096);
        var metrics = new MetricRegistry();
        var frames = new FrameTable(memory, metrics);
        var table = new RadixPageTable<Arm64Format>(new Arm64Format(new Arm64Options { HardwareAccessFlag = false, HardwareDirty = false }), memory, frames, metrics);
        var (machine, p) = Boot(table, memory, frames, metrics);
        p.Mm.Vmas[0].Protection = Protection.Read;
        Assert.True(machine.Cpus[0].Translate(p, Va, AccessKind.Read, AccessMode.User).Ok); // zero page, read-only
        var leaf = table.Read(p.PageTableRoot, Va);
        machine.Kernel.AddressSpaces.UpdatePageFlags(p, Va, leaf.Flags & ~PageFlags.Accessed);
        machine.Kernel.AddressSpaces.FlushTlbPage(p, Va, cpu: 0);
        Assert.False(machine.Cpus[0].Translate(p, Va, AccessKind.Write, AccessMode.User).Ok);
        Assert.Equal(1, metrics[MetricNames.SignalsSigsegv]);
        Assert.Equal(1, metrics[MetricNames.FaultsMinor]); // only the first read
    }
}
