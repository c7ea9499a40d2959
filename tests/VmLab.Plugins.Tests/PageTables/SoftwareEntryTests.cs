using VmLab.Abstractions;
using VmLab.Abstractions.PageTables;

namespace VmLab.Plugins.Tests.PageTables;

/// <summary>Non-present software entries the kernel stores in every format: swap entries and PROT_NONE pages.</summary>
public sealed class SoftwareEntryTests
{
    public static TheoryData<string> All => new(Rig.AllFormats);

    [Theory]
    [MemberData(nameof(All))]
    public void ProtNoneLeafKeepsItsFrameButIsNotPresentToTheWalker(string format)
    {
        var rig = new Rig(format);
        ulong root = rig.Table.CreateRoot();
        ulong va = Rig.UserAddress(3);
        ulong pfn = rig.UserFrame();
        var protNone = new PageMapping(pfn, PageFlags.ProtNone | PageFlags.Accessed | PageFlags.Dirty);

        Assert.True(rig.Table.Write(root, va, protNone));

        var read = rig.Table.Read(root, va);
        Assert.True(read.IsProtNone);
        Assert.False(read.IsPresent);
        Assert.Equal(pfn, read.Frame);
        Assert.True(read.Has(PageFlags.Accessed | PageFlags.Dirty));
        Assert.Equal(WalkStatus.NotPresent, rig.Walk(root, va).Status);
        var leaves = new List<(ulong Address, PageMapping Leaf)>();
        rig.Table.CollectLeaves(root, va, va + 0x1000, leaves);
        Assert.Equal(pfn, Assert.Single(leaves).Leaf.Frame);

        // mprotect back: the same frame is present again.
        Assert.True(rig.Table.Write(root, va, new PageMapping(pfn, Rig.UserRw)));
        Assert.Equal(WalkStatus.Ok, rig.Walk(root, va).Status);
        Assert.Equal(pfn, rig.Table.Read(root, va).Frame);
    }

    [Theory]
    [MemberData(nameof(All))]
    public void SwapEntryIsReadBackWithItsSlot(string format)
    {
        var rig = new Rig(format);
        ulong root = rig.Table.CreateRoot();
        ulong va = Rig.UserAddress(5);
        Assert.True(rig.Table.Write(root, va, new PageMapping(777, PageFlags.Swapped)));
        var read = rig.Table.Read(root, va);
        Assert.True(read.IsSwapped);
        Assert.False(read.IsProtNone);
        Assert.Equal(777UL, read.Frame);
        Assert.Equal(WalkStatus.NotPresent, rig.Walk(root, va).Status);
    }
}
