using VmLab.Abstractions;

namespace VmLab.Core.Tests.Kernel;

/// <summary>The anonymous-memory rows of the Linux oracle (semantics.md §3, §8) on an implicit address space.</summary>
public sealed class AnonymousMemoryTests
{
    private const int N = 1000;
    private const ulong Base = 0x5555_0000_0000;

    private static MemoryAccess[] Pages(Func<ulong, MemoryAccess> make) =>
        Enumerable.Range(0, N).Select(i => make(Base + (ulong)i * 4096)).ToArray();

    [Fact]
    public void WriteTouchingNFreshPagesCostsNMinorFaultsAndNFrames()
    {
        var m = TestMachine.Create();
        m.Run(Pages(a => MemoryAccess.Write(a)));
        Assert.Equal(N, m.M(MetricNames.FaultsMinor));
        Assert.Equal(N, m.M(MetricNames.FaultsTotal));
        Assert.Equal(N, m.M(MetricNames.FaultsDemandZero));
        Assert.Equal(N, m.M(MetricNames.PagesAllocated));
        Assert.Equal(N, m.Kernel.FindProcess(0)!.MinorFaults);
    }

    [Fact]
    public void ReadTouchingNFreshPagesCostsNMinorFaultsAndNoFrames()
    {
        var m = TestMachine.Create();
        m.Run(Pages(a => MemoryAccess.Read(a)));
        Assert.Equal(N, m.M(MetricNames.FaultsMinor));
        Assert.Equal(N, m.M(MetricNames.FaultsZeroPage));
        Assert.Equal(0, m.M(MetricNames.PagesAllocated));
    }

    [Fact]
    public void RewritingResidentWritablePagesCostsNoFault()
    {
        var m = TestMachine.Create();
        m.Run(Pages(a => MemoryAccess.Write(a)));
        long faults = m.M(MetricNames.FaultsTotal);
        m.Run(Pages(a => MemoryAccess.Write(a + 8)));
        Assert.Equal(faults, m.M(MetricNames.FaultsTotal));
    }

    [Fact]
    public void WriteAfterReadReplacesTheZeroPageWithAFreshZeroedFrameInASecondFault()
    {
        var m = TestMachine.Create();
        m.Run(MemoryAccess.Read(Base), MemoryAccess.Write(Base));
        Assert.Equal(2, m.M(MetricNames.FaultsMinor));
        Assert.Equal(1, m.M(MetricNames.FaultsZeroPage));
        Assert.Equal(1, m.M(MetricNames.FaultsDemandZero));
        Assert.Equal(0, m.M(MetricNames.FaultsCowCopy));
        Assert.Equal(1, m.M(MetricNames.PagesAllocated));
    }

    [Fact]
    public void WithoutTheZeroPageAFirstReadAllocatesAFrame()
    {
        var m = TestMachine.Create(zeroPage: false);
        m.Run(MemoryAccess.Read(Base), MemoryAccess.Write(Base));
        Assert.Equal(1, m.M(MetricNames.FaultsMinor));
        Assert.Equal(1, m.M(MetricNames.PagesAllocated));
    }

    [Fact]
    public void WrittenPageLeafIsPresentWritableUserAccessedDirty()
    {
        // The raw x86-64 PTE the same write leaves in memory (0x67) is checked in VmLab.Plugins.Tests (PageTables/X86_64KernelEntryTests).
        var m = TestMachine.Create();
        m.Run(MemoryAccess.Write(Base));
        var p = m.Kernel.FindProcess(0)!;
        var leaf = m.Kernel.PageTable.Read(p.PageTableRoot, Base);
        Assert.Equal(PageFlags.Present | PageFlags.Writable | PageFlags.User | PageFlags.Accessed | PageFlags.Dirty, leaf.Flags);
        Assert.Equal(1, m.Frames.MapCount(leaf.Frame));
    }

    [Theory]
    [InlineData(2)]
    [InlineData(4)]
    public void FirstTouchAllocatesOneTablePerLevelBelowTheRoot(int levels)
    {
        // The fake's tables hold 512 entries: one leaf table spans 512 pages (2 MiB). 0x1000_0000 is a user address
        // with 2 levels (29-bit user half) and 4 (47-bit).
        const ulong at = 0x1000_0000;
        var m = TestMachine.Create(levels: levels);
        m.Run(MemoryAccess.Write(at)); // the process (and its root table) is created by its first access
        Assert.Equal(1 + (levels - 1), m.M(MetricNames.PageTablePages));
        m.Run(MemoryAccess.Write(at + 4096)); // same tables
        Assert.Equal(1 + (levels - 1), m.M(MetricNames.PageTablePages));
        m.Run(MemoryAccess.Write(at + 512 * 4096)); // the next leaf table's span: one new table
        Assert.Equal(1 + levels, m.M(MetricNames.PageTablePages));
    }

    [Fact]
    public void KillingAProcessFreesEveryFrameAndPageTablePage()
    {
        var m = TestMachine.Create();
        m.Run(Pages(a => MemoryAccess.Write(a)));
        m.Run(MemoryAccess.Read(Base + 0x1_0000_0000));
        long free = m.Frames.FreeFrames;
        Assert.True(free < m.Frames.FrameCount - N);

        m.Run(MemoryAccess.Write(0x8000_0000_0000_0000)); // non-canonical: SIGSEGV kills pid 0

        Assert.False(m.Kernel.FindProcess(0)!.Alive);
        Assert.Equal(m.Frames.FrameCount - 1, m.Frames.FreeFrames); // all but the zero page
        Assert.Equal(0, m.Frames.ResidentUserFrames);
        Assert.Equal(0, m.Frames.PageTableFrames);
    }

    [Fact]
    public void RunningOutOfFramesKillsTheLargestProcess()
    {
        var m = TestMachine.Create(frames: 64);
        m.Run(Pages(a => MemoryAccess.Write(a)));
        var p = m.Kernel.FindProcess(0)!;
        Assert.False(p.Alive);
        Assert.Equal(Signal.SIGKILL, p.TerminatingSignal);
        Assert.Equal(1, m.M(MetricNames.SignalsSigkill));
        Assert.Contains(m.Kernel.Events, e => e.Kind == "oom-kill");
    }
}
