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

    /// <summary>Reads, writes and fetches over <paramref name="pages"/> pages, some straddling a page boundary.</summary>
    private static MemoryAccess[] Stream(int count, int pages)
    {
        var rng = new Random(7);
        var stream = new MemoryAccess[count];
        for (int i = 0; i < count; i++)
        {
            ulong va = 0x4000_0000UL + (ulong)rng.Next(pages) * 4096 + (ulong)rng.Next(4096);
            var kind = (AccessKind)(i % 3);
            stream[i] = new MemoryAccess(va, 0, 8, kind, AccessMode.User);
        }
        return stream;
    }

    private static long AllocatedDuring(Machine machine, MemoryAccess[] stream)
    {
        machine.Execute(stream); // first touches: faults, frames, page-table pages, metric counters
        machine.Execute(stream); // warm: JIT tiers and TLB state settle
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 4; i++) machine.Execute(stream);
        return GC.GetAllocatedBytesForCurrentThread() - before;
    }

    [Fact]
    public void WarmBatchOfTlbHitsAllocatesNothing()
    {
        var machine = Create(tlbEntries: 64);
        var stream = Stream(20_000, 48);
        Assert.InRange(AllocatedDuring(machine, stream), 0, OneOffBytes);
        // Six passes; an access straddling two pages counts twice.
        Assert.Equal(6 * (stream.Length + Straddles(stream)), machine.Metrics[MetricNames.Accesses]);
        Assert.Equal(machine.Metrics[MetricNames.Accesses], machine.Metrics[MetricNames.TlbHits] + machine.Metrics[MetricNames.TlbMisses]);
    }

    [Fact]
    public void WarmBatchWithTlbMissesAndWalksAllocatesNothing()
    {
        // 256 pages through a 16-entry TLB: most accesses miss and walk, none faults once the pages are mapped.
        var machine = Create(tlbEntries: 16);
        var stream = Stream(20_000, 256);
        machine.Execute(stream);
        long faultsBefore = machine.Metrics[MetricNames.FaultsTotal];
        Assert.InRange(AllocatedDuring(machine, stream), 0, OneOffBytes);
        Assert.Equal(faultsBefore, machine.Metrics[MetricNames.FaultsTotal]);
        Assert.True(machine.Metrics[MetricNames.TlbMisses] > 5 * 20_000 / 2, "most accesses should miss a 16-entry TLB over 256 pages");
    }

    /// <summary>Accesses of <paramref name="stream"/> that touch two pages (each counts twice in <c>accesses</c>).</summary>
    private static long Straddles(MemoryAccess[] stream)
    {
        long n = 0;
        foreach (var a in stream)
            if ((a.Address >> 12) != ((a.Address + a.Size - 1) >> 12)) n++;
        return n;
    }
}
