using VmLab.Abstractions;

namespace VmLab.Core.Tests.Mmu;

public sealed class MmuEngineTests
{
    private const ulong Base = 0x7f00_0000_0000;

    [Fact]
    public void AccessStraddlingAPageBoundaryTranslatesOncePerPage()
    {
        var m = TestMachine.Create();
        m.Run(MemoryAccess.Read(Base + 4094, size: 4));
        Assert.Equal(2, m.M(MetricNames.Accesses));
        Assert.Equal(2, m.M(MetricNames.TlbMisses));
    }

    [Fact]
    public void AccessEndingExactlyAtPageEndTouchesOnePage()
    {
        var m = TestMachine.Create();
        m.Run(MemoryAccess.Read(Base + 4088, size: 8));
        Assert.Equal(1, m.M(MetricNames.Accesses));
    }

    [Fact]
    public void SecondAccessToSamePageHitsTheTlb()
    {
        var m = TestMachine.Create();
        m.Run(MemoryAccess.Write(Base), MemoryAccess.Read(Base + 8), MemoryAccess.Write(Base + 16));
        Assert.Equal(3, m.M(MetricNames.Accesses));
        Assert.Equal(1, m.M(MetricNames.TlbMisses));
        Assert.Equal(2, m.M(MetricNames.TlbHits));
    }

    [Fact]
    public void FirstTouchWalksTwiceAroundTheFaultButCountsOneMiss()
    {
        var m = TestMachine.Create();
        m.Run(MemoryAccess.Write(Base));
        Assert.Equal(1, m.M(MetricNames.TlbMisses));
        Assert.Equal(2, m.M(MetricNames.WalkCount));
        Assert.Equal(1, m.M(MetricNames.FaultsMinor));
    }

    [Fact]
    public void WalkOfAMappedPageReadsExactlyOneEntryPerLevel()
    {
        var m = TestMachine.Create(tlbEntries: 1);
        m.Run(MemoryAccess.Write(Base), MemoryAccess.Write(Base + 0x1000_0000));
        long before = m.M(MetricNames.WalkMemrefs);
        long walksBefore = m.M(MetricNames.WalkCount);
        m.Run(MemoryAccess.Read(Base)); // evicted from the 1-entry TLB: one clean walk
        Assert.Equal(1, m.M(MetricNames.WalkCount) - walksBefore);
        Assert.Equal(4, m.M(MetricNames.WalkMemrefs) - before);
    }

    [Fact]
    public void NonCanonicalAddressIsGeneralProtectionNotAPageFault()
    {
        var m = TestMachine.Create();
        m.Run(MemoryAccess.Write(0x0000_8000_0000_0000));
        Assert.Equal(0, m.M(MetricNames.FaultsTotal));
        Assert.Equal(1, m.M(MetricNames.SignalsSigsegv));
        var p = m.Kernel.FindProcess(0)!;
        Assert.Equal(new SignalInfo(Signal.SIGSEGV, Signal.SI_KERNEL, 0), p.LastSignal);
        Assert.False(p.Alive);
    }

    [Fact]
    public void AccessesOfAKilledProcessAreDroppedNotTranslated()
    {
        var m = TestMachine.Create();
        m.Run(MemoryAccess.Write(0xdead_0000_0000_0000), MemoryAccess.Read(Base), MemoryAccess.Read(Base));
        Assert.Equal(1, m.M(MetricNames.Accesses));
        Assert.Equal(2, m.M("accesses.dropped"));
    }

    [Fact]
    public void UserWriteToKernelHalfIsSegvMapErrWithTheAddress()
    {
        var m = TestMachine.Create();
        m.Run(MemoryAccess.Write(0xffff_ffff_8100_0000));
        var p = m.Kernel.FindProcess(0)!;
        Assert.Equal(SignalInfo.SegvMapErr(0xffff_ffff_8100_0000), p.LastSignal);
        Assert.Equal(1, m.M(MetricNames.FaultsTotal));
        Assert.Equal(0, m.M(MetricNames.FaultsMinor));
    }

    [Fact]
    public void FirstWriteThroughACleanTlbEntrySetsDirtyInThePteWithoutAMiss()
    {
        var m = TestMachine.Create();
        m.Run(MemoryAccess.Write(Base));
        var p = m.Kernel.FindProcess(0)!;
        var leaf = m.Kernel.PageTable.Read(p.PageTableRoot, Base);
        m.Kernel.AddressSpaces.UpdatePageFlags(p, Base, leaf.Flags & ~PageFlags.Dirty); // a clean page, as after write-back
        m.Kernel.AddressSpaces.FlushTlbPage(p, Base, cpu: 0);
        long misses = m.M(MetricNames.TlbMisses);

        m.Run(MemoryAccess.Read(Base), MemoryAccess.Write(Base));

        Assert.Equal(misses + 1, m.M(MetricNames.TlbMisses)); // the read misses; the write hits
        Assert.Equal(1, m.M("walk.dirty_updates"));
        Assert.True(m.Kernel.PageTable.Read(p.PageTableRoot, Base).Has(PageFlags.Dirty));
    }

    [Fact]
    public void WithoutPcidAContextSwitchFlushesTheTlb()
    {
        var tagged = TestMachine.Create(pcid: true);
        var untagged = TestMachine.Create(pcid: false);
        MemoryAccess[] stream =
        [
            MemoryAccess.Write(Base, pid: 1), MemoryAccess.Write(Base, pid: 2),
            MemoryAccess.Read(Base, pid: 1), MemoryAccess.Read(Base, pid: 2),
        ];
        tagged.Run(stream);
        untagged.Run(stream);
        Assert.Equal(2, tagged.M(MetricNames.TlbMisses));
        Assert.Equal(4, untagged.M(MetricNames.TlbMisses));
        Assert.Equal(3, tagged.M("context_switches"));
    }
}
