using VmLab.Abstractions;
using VmLab.Abstractions.Tlb;
using VmLab.Core;
using VmLab.Core.Kernel;
using VmLab.Core.Mmu;
using VmLab.Plugins.Tlb;

namespace VmLab.Plugins.Tests.Tlb;

/// <summary>Context switches, PCIDs, flushes and shootdowns on machines of several CPUs.</summary>
public sealed class TlbMaintenanceTests
{
    private const ulong Base = 0x10_0000;

    private static Machine Make(int cpus, bool pcid = true, int pcids = 6, bool check = true) =>
        TestMachine.Create(cpus, _ => new FullyAssociativeTlb(new FullyAssociativeTlbState(new FullyAssociativeTlbOptions { Entries = 256 })), pcid, pcids, check);

    private static ulong Page(int i) => Base + ((ulong)i << 12);

    private static bool Cached(Machine m, int cpu, Process p, ulong va)
    {
        int tag = m.Kernel.TlbMaintenance.TagOn(cpu, p);
        return tag >= 0 && m.Cpus[cpu].Tlb.TryLookup(va, (ushort)tag, AccessKind.Read, out _);
    }

    private static void Touch(Machine m, int cpu, Process p, params ulong[] pages)
    {
        foreach (var va in pages) Assert.True(m.Cpus[cpu].Translate(p, va, AccessKind.Write, AccessMode.User).Ok);
    }

    [Fact]
    public void ShootdownSendsOneIpiToEachOtherCpuThatRanTheAddressSpace()
    {
        var m = Make(4);
        var p = m.Kernel.GetOrCreateImplicitProcess(1, 0);
        var q = m.Kernel.GetOrCreateImplicitProcess(2, 0);
        Touch(m, 0, p, Page(0));
        Touch(m, 1, p, Page(0));
        Touch(m, 2, q, Page(0));
        m.Kernel.AddressSpaces.FlushTlbRange(p, Page(0), Page(1), cpu: 0);
        Assert.Equal(1, m.Metrics["tlb.shootdowns"]); // cpu 1 only: cpu 0 flushes itself, cpus 2 and 3 never ran pid 1
        Assert.Equal(1, m.Metrics["tlb.flushes"]);
        Assert.False(Cached(m, 0, p, Page(0)));
        Assert.False(Cached(m, 1, p, Page(0)));
        Assert.True(Cached(m, 2, q, Page(0)));
    }

    [Fact]
    public void RangeUpToThirtyThreePagesIsFlushedPageByPage()
    {
        var m = Make(1);
        var p = m.Kernel.GetOrCreateImplicitProcess(1, 0);
        Touch(m, 0, p, [.. Enumerable.Range(0, 40).Select(Page)]);
        m.Kernel.AddressSpaces.FlushTlbRange(p, Page(0), Page(33), cpu: 0);
        Assert.All(Enumerable.Range(0, 33), i => Assert.False(Cached(m, 0, p, Page(i))));
        Assert.All(Enumerable.Range(33, 7), i => Assert.True(Cached(m, 0, p, Page(i))));
        Assert.Equal(1, m.Metrics["tlb.flushes"]);
        Assert.Equal(33, m.Metrics["tlb.flushed_pages"]); // one invlpg per page
        m.Kernel.AddressSpaces.FlushTlbPage(p, Page(35), cpu: 0);
        Assert.Equal(34, m.Metrics["tlb.flushed_pages"]);
    }

    [Fact]
    public void FlushedPagesIsRegisteredAtZeroBeforeAnyFlush()
    {
        // A built-in kernel counter: a scenario may expect 0 of it, so it is listed before a run flushes anything.
        var m = Make(1);
        Assert.Contains("tlb.flushed_pages", m.Metrics.Snapshot().Keys);
        Assert.Equal(0, m.Metrics["tlb.flushed_pages"]);
    }

    [Fact]
    public void RangeAboveThirtyThreePagesFlushesTheWholeAddressSpace()
    {
        var m = Make(1);
        var p = m.Kernel.GetOrCreateImplicitProcess(1, 0);
        Touch(m, 0, p, [.. Enumerable.Range(0, 40).Select(Page)]);
        m.Kernel.AddressSpaces.FlushTlbRange(p, Page(0), Page(34), cpu: 0);
        Assert.All(Enumerable.Range(0, 40), i => Assert.False(Cached(m, 0, p, Page(i))));
        Assert.Equal(1, m.Metrics["tlb.flushes"]);
        Assert.Equal(0, m.Metrics["tlb.flushed_pages"]); // flushed whole: no page invalidated by itself
    }

    [Fact]
    public void WithPcidsASwitchKeepsEntriesAndRecyclingAPcidFlushesIt()
    {
        var m = Make(1, pcid: true, pcids: 2);
        var a = m.Kernel.GetOrCreateImplicitProcess(1, 0);
        var b = m.Kernel.GetOrCreateImplicitProcess(2, 0);
        var c = m.Kernel.GetOrCreateImplicitProcess(3, 0);
        var tm = m.Kernel.TlbMaintenance;
        Touch(m, 0, a, Page(0));
        Touch(m, 0, b, Page(0));
        Assert.Equal(1, tm.TagOn(0, a));
        Assert.Equal(2, tm.TagOn(0, b));
        long misses = m.Metrics["tlb.misses"];
        Touch(m, 0, a, Page(0)); // back to a: its PCID kept its entries
        Assert.Equal(misses, m.Metrics["tlb.misses"]);
        Touch(m, 0, c, Page(0)); // two PCIDs, three address spaces: c takes b's (least recently used)
        Assert.Equal(2, tm.TagOn(0, c));
        Assert.Equal(-1, tm.TagOn(0, b));
        Assert.Equal(1, m.Metrics["tlb.flushes"]);
        Assert.True(Cached(m, 0, c, Page(0)));
        Assert.True(Cached(m, 0, a, Page(0)));
        Assert.Equal(2, ((FullyAssociativeTlb)m.Cpus[0].Tlb).State.Count); // a's page and c's: b's entry went with its PCID
        misses = m.Metrics["tlb.misses"];
        Touch(m, 0, b, Page(0)); // b lost its PCID: its page walks again
        Assert.Equal(misses + 1, m.Metrics["tlb.misses"]);
    }

    [Fact]
    public void WithoutPcidASwitchFlushesAllButGlobalPages()
    {
        var m = Make(1, pcid: false);
        var p = m.Kernel.GetOrCreateImplicitProcess(1, 0);
        var q = m.Kernel.GetOrCreateImplicitProcess(2, 0);
        Assert.True(m.Kernel.Reclaim.AllocateUserFrame(0, out ulong frame));
        Assert.True(m.Kernel.AddressSpaces.MapPage(p, Page(1), frame, PageFlags.Present | PageFlags.User | PageFlags.Writable | PageFlags.Global | PageFlags.Dirty, cpu: 0));
        Touch(m, 0, p, Page(0), Page(1));
        Touch(m, 0, q, Page(5));
        Assert.Equal(1, m.Metrics["tlb.flushes"]);
        long misses = m.Metrics["tlb.misses"];
        Touch(m, 0, p, Page(1)); // global: survived the switch
        Assert.Equal(misses, m.Metrics["tlb.misses"]);
        Touch(m, 0, p, Page(0)); // not global: flushed
        Assert.Equal(misses + 1, m.Metrics["tlb.misses"]);
    }

    [Fact]
    public void AFlushAfterAnotherAddressSpaceRanSendsNoIpiToACpuThatFlushedOnSwitch()
    {
        var m = Make(2, pcid: false);
        var p = m.Kernel.GetOrCreateImplicitProcess(1, 0);
        var q = m.Kernel.GetOrCreateImplicitProcess(2, 0);
        Touch(m, 1, p, Page(0));
        Touch(m, 1, q, Page(0)); // cpu 1 flushed p's entries on the switch: it leaves p's mask
        Touch(m, 0, p, Page(0));
        m.Kernel.AddressSpaces.FlushTlbPage(p, Page(0), cpu: 0);
        Assert.Equal(0, m.Metrics["tlb.shootdowns"]);
        Assert.False(m.Kernel.TlbMaintenance.MayHold(1, p));
    }

    [Fact]
    public void ReleasingAnAddressSpaceFlushesItEverywhereAndFreesItsPcids()
    {
        var m = Make(2);
        var p = m.Kernel.GetOrCreateImplicitProcess(1, 0);
        Touch(m, 0, p, Page(0));
        Touch(m, 1, p, Page(0));
        m.Kernel.TlbMaintenance.Release(p, initiator: 0); // what process exit does after unmapping
        Assert.Equal(1, m.Metrics["tlb.shootdowns"]);
        Assert.Equal(-1, m.Kernel.TlbMaintenance.TagOn(0, p));
        Assert.False(m.Cpus[1].Tlb.TryLookup(Page(0), 1, AccessKind.Read, out _));
    }

    // ---- the coherence checker ------------------------------------------------------------------------------

    [Fact]
    public void CheckerCatchesAMissingFlushAndNamesTheChange()
    {
        var m = Make(1, check: true);
        var p = m.Kernel.GetOrCreateImplicitProcess(7, 0);
        Touch(m, 0, p, Page(3));
        // Write-protect the page without flushing: the TLB still says writable.
        m.Kernel.AddressSpaces.UpdatePageFlags(p, Page(3), PageFlags.User | PageFlags.Dirty | PageFlags.Accessed);
        var e = Assert.Throws<TlbCoherenceException>(() => m.Cpus[0].Translate(p, Page(3), AccessKind.Write, AccessMode.User));
        Assert.Contains($"0x{Page(3):x}", e.Message);
        Assert.Contains("pid 7", e.Message);
        Assert.Contains("Writable", e.Message);          // the cached entry
        Assert.Contains("pte-change pid 7", e.Message);  // the event that needed a flush
        Assert.Contains("no flush", e.Message);
    }

    [Fact]
    public void CheckerAcceptsTheSameChangeWhenItIsFlushed()
    {
        var m = Make(1, check: true);
        var p = m.Kernel.GetOrCreateImplicitProcess(7, 0);
        Touch(m, 0, p, Page(3));
        m.Kernel.AddressSpaces.UpdatePageFlags(p, Page(3), PageFlags.User | PageFlags.Dirty | PageFlags.Accessed);
        m.Kernel.AddressSpaces.FlushTlbPage(p, Page(3), cpu: 0);
        // The write now faults; the page has one reference, so copy-on-write reuses it and the write succeeds.
        Assert.True(m.Cpus[0].Translate(p, Page(3), AccessKind.Write, AccessMode.User).Ok);
        Assert.Equal(1, m.Metrics["faults.cow_reuse"]);
    }

    [Fact]
    public void CheckerCatchesAStaleEntryLeftOnAnotherCpu()
    {
        var m = Make(2, check: true);
        var p = m.Kernel.GetOrCreateImplicitProcess(1, 0);
        Touch(m, 0, p, Page(0));
        Touch(m, 1, p, Page(0));
        // Write-protect on cpu 0 and flush only cpu 0's TLB, as a kernel forgetting the shootdown would.
        var tag = (ushort)m.Kernel.TlbMaintenance.TagOn(0, p);
        Touch(m, 0, p, Page(1));
        Touch(m, 1, p, Page(1));
        m.Kernel.AddressSpaces.UpdatePageFlags(p, Page(1), PageFlags.User | PageFlags.Accessed);
        m.Cpus[0].Invalidate(Page(1), tag);
        var e = Assert.Throws<TlbCoherenceException>(() => m.Cpus[1].Translate(p, Page(1), AccessKind.Write, AccessMode.User));
        Assert.Contains("cpu 1", e.Message);
    }
}
