using VmLab.Abstractions;
using VmLab.Abstractions.Faults;
using VmLab.Abstractions.Tlb;
using VmLab.Core;
using VmLab.Core.Memory;
using VmLab.Plugins.Faults;
using VmLab.Plugins.PageTables;
using VmLab.Plugins.Signals;
using VmLab.Plugins.Tlb;
using VmLab.Plugins.Tlb.Policies;
using Xunit;

namespace VmLab.Plugins.Tests.Tlb;

/// <summary>
/// The built-in plugins on the hot path, composed into a machine (x86-64 4-level radix, each TLB organisation, cow and
/// demand-zero, posix): once every page of a stream is mapped and warm, translating it allocates nothing on the host per access: the bytes
/// this thread allocates across four warm passes (80,000 accesses) stay within the runtime's own one-off allocations
/// (tiered JIT promotion can allocate a few KiB on the thread that triggers it), where one object per access would be
/// 1.9 MB; whatever the TLB organisation, and including TLB misses and walks.
/// </summary>
[Collection(AllocationMeasurement.Name)]
public sealed class MachineSteadyStateAllocationTests
{
    private const long OneOffBytes = 16 * 1024;

    private static Machine Create(Func<IMetrics, ITlb> tlb)
    {
        var metrics = new MetricRegistry();
        var memory = new PhysicalMemory(4096);
        var frames = new FrameTable(memory, metrics);
        var pageTable = new RadixPageTable<X86_64Format>(new X86_64Format(4), memory, frames, metrics);
        IFaultHandler[] handlers = [new CowHandler(metrics), new DemandZeroHandler(new DemandZeroOptions(), metrics)];
        return Machine.Create(new MachineOptions(), memory, frames, metrics, pageTable, _ => tlb(metrics), handlers, new PosixSignals());
    }

    [Fact]
    public void WarmBatchOnFullyAssociativeTlbAllocatesNothing()
    {
        var machine = Create(_ => new FullyAssociativeTlb(new FullyAssociativeTlbState(new FullyAssociativeTlbOptions { Entries = 64 })));
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
        var machine = Create(_ => new FullyAssociativeTlb(new FullyAssociativeTlbState(new FullyAssociativeTlbOptions { Entries = 16 })));
        var stream = AllocationMeasurement.AccessStream(20_000, 256);
        machine.Execute(stream);
        long faultsBefore = machine.Metrics[MetricNames.FaultsTotal];
        Assert.InRange(AllocationMeasurement.AllocatedDuring(machine, stream), 0, OneOffBytes);
        Assert.Equal(faultsBefore, machine.Metrics[MetricNames.FaultsTotal]);
        Assert.True(machine.Metrics[MetricNames.TlbMisses] > 5 * 20_000 / 2, "most accesses should miss a 16-entry TLB over 256 pages");
    }

    [Fact]
    public void WarmBatchOnSetAssociativeTlbAllocatesNothing()
    {
        var machine = Create(_ => TlbModule.SetAssociative<LruPolicy>(new SetAssociativeTlbOptions { Entries = 64, Ways = 4 }, 1));
        Assert.InRange(AllocationMeasurement.AllocatedDuring(machine, AllocationMeasurement.AccessStream(20_000, 48)), 0, OneOffBytes);
    }

    [Fact]
    public void WarmBatchOnTlbHierarchyAllocatesNothing()
    {
        var machine = Create(metrics => new HierarchicalTlb<LruPolicy>(new TlbHierarchy<LruPolicy>(
            new HierarchicalTlbOptions { L2 = new TlbLevelOptions { Arrays = [new TlbArrayOptions { Entries = 512, Ways = 8 }] } }, 1, metrics)));
        Assert.InRange(AllocationMeasurement.AllocatedDuring(machine, AllocationMeasurement.AccessStream(20_000, 300)), 0, OneOffBytes);
    }

    [Fact]
    public void WarmBatchOfPageRunsThroughTlbHierarchyAllocatesNothing()
    {
        // Each access repeated on its page eight times, fetches interleaved with data: most accesses are page-run
        // repeats counted without a lookup, handed to the L1s' counters at the end of every batch.
        var machine = Create(metrics => new HierarchicalTlb<LruPolicy>(new TlbHierarchy<LruPolicy>(
            new HierarchicalTlbOptions { L2 = new TlbLevelOptions { Arrays = [new TlbArrayOptions { Entries = 512, Ways = 8 }] } }, 1, metrics)));
        var runs = AllocationMeasurement.AccessStream(2_500, 48).SelectMany(a => Enumerable.Range(0, 8).Select(j =>
            a with { Address = (a.Address & ~0xFFFUL) + 8UL * (ulong)j, Kind = j % 2 == 0 ? AccessKind.Fetch : a.Kind })).ToArray();
        Assert.InRange(AllocationMeasurement.AllocatedDuring(machine, runs), 0, OneOffBytes);
        Assert.Equal(machine.Metrics[MetricNames.TlbHits], machine.Metrics["tlb.l1i.hits"] + machine.Metrics["tlb.l1d.hits"] + machine.Metrics["tlb.l2.hits"]);
    }
}
