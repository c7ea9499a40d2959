using VmLab.Abstractions;
using VmLab.Abstractions.Faults;

namespace FooPlugin;

/// <summary>
/// Resolves the first touch of an anonymous page with a fresh zero-filled frame, mapped writable when the VMA allows
/// it, for reads and writes alike: demand paging without Linux's shared zero page. It counts first reads and first
/// writes apart (<c>faults.foo-plugin.reads</c>, <c>faults.foo-plugin.writes</c>). Placed before the built-in
/// <c>demand-zero</c> in <c>machine:faultHandlers</c>, it takes those faults from it; anything else it declines, and
/// the next handler is asked.
/// </summary>
public sealed class FooPlugin(IMetrics metrics) : IFaultHandler
{
    private readonly Counter _reads = metrics.Counter($"faults.{FooPluginModule.Name}.reads");
    private readonly Counter _writes = metrics.Counter($"faults.{FooPluginModule.Name}.writes");

    public FaultStage Stage => FaultStage.Resolve;

    public FaultResult Handle(in PageFault fault, IMemoryManager mm)
    {
        // Only a page never touched (no entry at all) of anonymous memory, inside its VMA.
        if (!fault.Pte.IsEmpty || !fault.InVma || !fault.Vma.IsAnonymous)
            return FaultResult.Declined;

        if (!mm.TryAllocateUserFrame(out ulong pfn)) return FaultResult.OutOfMemory;
        var flags = mm.FlagsFor(fault.Vma, writable: true);
        if ((flags & PageFlags.Writable) != 0) flags |= PageFlags.Dirty; // a private page written to swap must be written out
        if (!mm.MapPage(fault.Process, fault.Address, pfn, flags)) return FaultResult.OutOfMemory;

        (fault.IsWrite ? _writes : _reads).Increment();
        return FaultResult.Minor.As(FooPluginModule.Name);
    }
}
