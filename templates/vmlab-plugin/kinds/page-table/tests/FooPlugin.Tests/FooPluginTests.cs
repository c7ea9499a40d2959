using VmLab.Abstractions;
using VmLab.Abstractions.PageTables;
using VmLab.Abstractions.Plugins;

namespace FooPlugin.Tests;

public sealed class FooPluginTests
{
    private const ulong Va = 0x7f12_3456_7000;
    private static readonly PageFlags UserRw = PageFlags.Present | PageFlags.User | PageFlags.Writable;
    private static readonly CpuState Cpu = CpuState.LinuxDefault;

    private readonly TestFrames _frames = new(frames: 256);
    private readonly TestMetrics _metrics = new();
    private readonly FooPlugin _table;

    public FooPluginTests() => _table = new FooPlugin(_frames.Memory, _frames, _metrics);

    [Fact]
    public void AMappingTakesOneTableFramePerLevelAndAWalkReadsOneEntryPerLevel()
    {
        ulong root = _table.CreateRoot();
        Assert.True(_table.Write(root, Va, new PageMapping(42, UserRw)));
        Assert.Equal(FooPlugin.Levels, _frames.InUseFor(FrameUse.PageTable)); // the root and three tables below it

        var walk = _table.Walk(root, Va + 0x123, AccessKind.Read, AccessMode.User, Cpu);
        Assert.Equal(WalkStatus.Ok, walk.Status);
        Assert.Equal(42UL, walk.Leaf.Frame);
        Assert.Equal(FooPlugin.Levels, _metrics[MetricNames.WalkMemrefs]);

        // The walk reads the entries from the simulated frames: change the leaf behind its back and the walk sees it.
        _table.Write(root, Va, new PageMapping(43, UserRw));
        Assert.Equal(43UL, _table.Walk(root, Va, AccessKind.Read, AccessMode.User, Cpu).Leaf.Frame);
    }

    [Fact]
    public void AWalkSetsAccessedAndAWriteSetsDirtyInTheEntryInMemory()
    {
        ulong root = _table.CreateRoot();
        _table.Write(root, Va, new PageMapping(7, UserRw));
        _table.Walk(root, Va, AccessKind.Read, AccessMode.User, Cpu);
        Assert.Equal(UserRw | PageFlags.Accessed, _table.Read(root, Va).Flags);
        _table.Walk(root, Va, AccessKind.Write, AccessMode.User, Cpu);
        Assert.Equal(UserRw | PageFlags.Accessed | PageFlags.Dirty, _table.Read(root, Va).Flags);
    }

    [Theory]
    [InlineData(AccessKind.Read, AccessMode.User, false, WalkStatus.NotPresent, 0x4u)]            // U
    [InlineData(AccessKind.Write, AccessMode.User, true, WalkStatus.Protection, 0x7u)]            // P|W|U: read-only page
    [InlineData(AccessKind.Fetch, AccessMode.User, true, WalkStatus.Protection, 0x15u)]           // P|U|I: no-execute page
    [InlineData(AccessKind.Read, AccessMode.Kernel, true, WalkStatus.Protection, 0x1u)]           // SMAP
    public void FaultsCarryTheirStatusAndErrorCode(AccessKind kind, AccessMode mode, bool mapped, WalkStatus status, uint errorCode)
    {
        ulong root = _table.CreateRoot();
        if (mapped) _table.Write(root, Va, new PageMapping(9, PageFlags.Present | PageFlags.User | PageFlags.NoExecute));
        var walk = _table.Walk(root, Va, kind, mode, Cpu);
        Assert.Equal((status, errorCode), (walk.Status, walk.ErrorCode.Value));
    }

    [Fact]
    public void OnlySignExtendedAddressesAreCanonical()
    {
        Assert.True(_table.IsCanonical(0x0000_7fff_ffff_f000));
        Assert.True(_table.IsCanonical(0xffff_8000_0000_0000));
        Assert.False(_table.IsCanonical(0x0000_8000_0000_0000));
    }

    [Fact]
    public void LeavesAreListedInAddressOrderAndDestroyingTheRootFreesEveryTable()
    {
        ulong root = _table.CreateRoot();
        ulong[] addresses = [Va + 0x5000, 0x40_0000, Va];
        foreach (ulong a in addresses) _table.Write(root, a, new PageMapping(a >> 12, UserRw));
        var leaves = new List<(ulong Address, PageMapping Leaf)>();
        _table.CollectLeaves(root, 0, 1UL << 47, leaves);
        Assert.Equal(addresses.Order(), leaves.Select(l => l.Address));

        var tables = new HashSet<ulong>();
        Assert.True(_table.CollectTableFrames(root, tables));
        Assert.Equal(_frames.InUseFor(FrameUse.PageTable), tables.Count);
        _table.DestroyRoot(root);
        Assert.Equal(0, _frames.InUse);
    }

    [Fact]
    public void WithoutAFrameForATableAWriteFailsAndMapsNothing()
    {
        ulong root = _table.CreateRoot();
        _frames.Limit = 2;
        Assert.False(_table.Write(root, Va, new PageMapping(1, UserRw)));
        Assert.True(_table.Read(root, Va).IsEmpty);
    }

    [Fact]
    public void RegistersAsAPageTableUnderItsKebabCaseName()
    {
        var registry = TestRegistry.Of(new FooPluginModule());
        var registration = Assert.Single(registry.Items);
        Assert.Equal((PluginKind.PageTable, "foo-plugin"), (registration.Kind, registration.Name));
        Assert.Equal(48, registry.Create<FooPlugin>(PluginKind.PageTable, "foo-plugin").Geometry.VirtualAddressBits);
    }
}
