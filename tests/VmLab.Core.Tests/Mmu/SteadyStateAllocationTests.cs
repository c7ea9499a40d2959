using VmLab.Abstractions;
using VmLab.Abstractions.Faults;
using VmLab.Core.Memory;
using VmLab.Core.Tests.Fakes;
using Xunit;

namespace VmLab.Core.Tests.Mmu;

/// <summary>
/// The MMU core's own hot path: once every page of a stream is mapped and warm, translating it allocates nothing on the
/// host per access, TLB hits and misses with walks alike. The parts are the in-test fakes, which allocate nothing
/// themselves, so any allocation measured is the core's: the bytes this thread allocates across four warm passes
/// (80,000 accesses) stay within the runtime's one-off allocations (tiered JIT promotion can allocate a few KiB),
/// where one object per access would be 1.9 MB. The built-in plugins' hot paths are measured the same way in
/// VmLab.Plugins.Tests (Tlb/MachineSteadyStateAllocationTests).
/// </summary>
[Collection(AllocationMeasurement.Name)]
public sealed class SteadyStateAllocationTests
{
    private const long OneOffBytes = 16 * 1024;

    private static Machine Create(int tlbEntries)
    {
        var metrics = new MetricRegistry();
        var memory = new PhysicalMemory(4096);
        var frames = new FrameTable(memory, metrics);
        var pageTable = new FakePageTable(memory, frames, metrics);
        IFaultHandler[] handlers = [new FakeCowHandler(metrics), new FakeDemandZeroHandler(metrics)];
        return Machine.Create(new MachineOptions(), memory, frames, metrics, pageTable, _ => new FakeTlb(tlbEntries), handlers, new FakeSignals());
    }

    [Fact]
    public void WarmBatchOfTlbHitsAllocatesNothing()
    {
        var machine = Create(tlbEntries: 64);
        var stream = AllocationMeasurement.AccessStream(20_000, 48);
        Assert.InRange(AllocationMeasurement.AllocatedDuring(machine, stream), 0, OneOffBytes);
        // Six passes; an access straddling two pages counts twice.
        Assert.Equal(6 * (stream.Length + AllocationMeasurement.Straddles(stream)), machine.Metrics[MetricNames.Accesses]);
        Assert.Equal(machine.Metrics[MetricNames.Accesses], machine.Metrics[MetricNames.TlbHits] + machine.Metrics[MetricNames.TlbMisses]);
    }

    [Fact]
    public void WarmBatchWithTlbMissesAndWalksAllocatesNothing()
    {
        // 256 pages through a 16-entry TLB: most accesses miss and walk, none faults once the pages are mapped.
        var machine = Create(tlbEntries: 16);
        var stream = AllocationMeasurement.AccessStream(20_000, 256);
        machine.Execute(stream);
        long faultsBefore = machine.Metrics[MetricNames.FaultsTotal];
        Assert.InRange(AllocationMeasurement.AllocatedDuring(machine, stream), 0, OneOffBytes);
        Assert.Equal(faultsBefore, machine.Metrics[MetricNames.FaultsTotal]);
        Assert.True(machine.Metrics[MetricNames.TlbMisses] > 5 * 20_000 / 2, "most accesses should miss a 16-entry TLB over 256 pages");
    }
}
