using VmLab.Abstractions;
using VmLab.Abstractions.Faults;
using VmLab.Abstractions.Plugins;

namespace FooPlugin.Tests;

public sealed class FooPluginTests
{
    private const ulong Va = 0x5555_0000_3000;
    private static readonly VmaInfo Private = Fault.Anonymous(0x5555_0000_0000, 8);
    private const PageFlags UserData = PageFlags.Present | PageFlags.User | PageFlags.NoExecute;

    [Theory]
    [InlineData(AccessKind.Read, "reads")]
    [InlineData(AccessKind.Write, "writes")]
    public void AFirstTouchMapsAFreshFrameWritableAndDirty(AccessKind kind, string counted)
    {
        var mm = new RecordingMemoryManager();
        var result = new FooPlugin(mm.Metrics).Handle(Fault.At(Va, kind, Private), mm);

        Assert.Equal(FaultResult.Minor.As("foo-plugin"), result);
        ulong pfn = Assert.Single(mm.Allocated);
        Assert.Equal([$"allocate {pfn}", $"map 0x{Va:x} {pfn} {UserData | PageFlags.Writable | PageFlags.Dirty}"], mm.Calls);
        Assert.Equal(1, mm.Counters[$"faults.foo-plugin.{counted}"]);
    }

    [Fact]
    public void AReadOnlyVmaGetsAReadOnlyCleanPage()
    {
        var mm = new RecordingMemoryManager();
        new FooPlugin(mm.Metrics).Handle(Fault.At(Va, AccessKind.Read, Fault.Anonymous(0x5555_0000_0000, 8, Protection.Read)), mm);
        Assert.Equal($"map 0x{Va:x} {mm.Allocated[0]} {UserData}", mm.Calls[^1]);
    }

    [Fact]
    public void FaultsOnMappedPagesFileMemoryOrOutsideTheVmaAreLeftToTheNextHandler()
    {
        var mm = new RecordingMemoryManager();
        var handler = new FooPlugin(mm.Metrics);
        var present = new PageMapping(7, UserData); // a write to a read-only page: copy-on-write's business
        var file = Private with { Flags = VmaFlags.File, FileName = "data" };
        Assert.Equal(FaultResult.Declined, handler.Handle(Fault.At(Va, AccessKind.Write, Private, present), mm));
        Assert.Equal(FaultResult.Declined, handler.Handle(Fault.At(Va, AccessKind.Read, file), mm));
        Assert.Equal(FaultResult.Declined, handler.Handle(Fault.At(Private.End, AccessKind.Read, Private), mm));
        Assert.Empty(mm.Calls);
    }

    [Fact]
    public void WithoutAFrameTheFaultGoesToTheOomPath()
    {
        var mm = new RecordingMemoryManager { FreeFrames = 0 };
        Assert.Equal(FaultResult.OutOfMemory, new FooPlugin(mm.Metrics).Handle(Fault.At(Va, AccessKind.Write, Private), mm));
        Assert.Empty(mm.Calls);
    }

    [Fact]
    public void RegistersAsAFaultHandlerAtTheResolveStage()
    {
        var registry = TestRegistry.Of(new FooPluginModule());
        var registration = Assert.Single(registry.Items);
        Assert.Equal((PluginKind.FaultHandler, "foo-plugin"), (registration.Kind, registration.Name));
        Assert.Equal(FaultStage.Resolve, registry.Create<IFaultHandler>(PluginKind.FaultHandler, "foo-plugin").Stage);
    }
}
