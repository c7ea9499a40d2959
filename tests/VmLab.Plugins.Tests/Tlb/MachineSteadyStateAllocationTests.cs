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
    public void WarmBatchOnFullyAssociativeTlbAllocatesNothing()
    {
        var machine = Create(_ => new FullyAssociativeTlb(new FullyAssociativeTlbState(new FullyAssociativeTlbOptions { Entries = 64 })));
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
        var machine = Create(_ => new FullyAssociativeTlb(new FullyAssociativeTlbState(new FullyAssociativeTlbOptions { Entries = 16 })));
        var stream = Stream(20_000, 256);
        machine.Execute(stream);
        long faultsBefore = machine.Metrics[MetricNames.FaultsTotal];
        Assert.InRange(AllocatedDuring(machine, stream), 0, OneOffBytes);
        Assert.Equal(faultsBefore, machine.Metrics[MetricNames.FaultsTotal]);
        Assert.True(machine.Metrics[MetricNames.TlbMisses] > 5 * 20_000 / 2, "most accesses should miss a 16-entry TLB over 256 pages");
    }

    [Fact]
    public void WarmBatchOnSetAssociativeTlbAllocatesNothing()
    {
        var machine = Create(_ => TlbModule.SetAssociative<LruPolicy>(new SetAssociativeTlbOptions { Entries = 64, Ways = 4 }, 1));
        Assert.InRange(AllocatedDuring(machine, Stream(20_000, 48)), 0, OneOffBytes);
    }

    [Fact]
    public void WarmBatchOnTlbHierarchyAllocatesNothing()
    {
        var machine = Create(metrics => new HierarchicalTlb<LruPolicy>(new TlbHierarchy<LruPolicy>(
            new HierarchicalTlbOptions { L2 = new TlbLevelOptions { Arrays = [new TlbArrayOptions { Entries = 512, Ways = 8 }] } }, 1, metrics)));
        Assert.InRange(AllocatedDuring(machine, Stream(20_000, 300)), 0, OneOffBytes);
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
