using System.ComponentModel;
using VmLab.Abstractions.Faults;
using VmLab.Abstractions.Plugins;

[assembly: VmLabPlugin(typeof(VmLab.TestPlugins.ThrowingHandler.Module))]

namespace VmLab.TestPlugins.ThrowingHandler;

public sealed record ThrowingHandlerOptions
{
    [Description("The fault (1-based) on which the handler throws; the ones before it are declined.")]
    public int ThrowOnFault { get; init; } = 1;

    /// <summary>
    /// What the exception says (documented only in XML, to show <see cref="ThrowingHandlerOptions"/> descriptions
    /// come from doc comments too).
    /// </summary>
    public string Message { get; init; } = "handler bug";
}

/// <summary>A fault handler with a bug: it throws while handling a fault, in the middle of a run.</summary>
public sealed class ThrowingHandler(ThrowingHandlerOptions options) : IFaultHandler
{
    private int _faults;

    public FaultResult Handle(in PageFault fault, IMemoryManager mm)
    {
        if (++_faults == options.ThrowOnFault) Explode(options.Message, fault.Address);
        return FaultResult.Declined;
    }

    private static void Explode(string message, ulong address) =>
        throw new InvalidOperationException($"{message} at 0x{address:x} (test plugin)");
}

/// <summary>A well-behaved handler from the same assembly: a failure must be blamed on the component that threw.</summary>
public sealed class QuietHandler : IFaultHandler
{
    public FaultResult Handle(in PageFault fault, IMemoryManager mm) => FaultResult.Declined;
}

/// <summary>
/// A demand-zero handler with a reference-counting bug: it takes one reference too many on every frame it maps, so the
/// frame can never be freed. Nothing visible goes wrong in a run; the invariant checker reports it.
/// </summary>
public sealed class LeakyHandler : IFaultHandler
{
    public FaultResult Handle(in PageFault fault, IMemoryManager mm)
    {
        if (!fault.Pte.IsEmpty || !fault.Vma.IsAnonymous) return FaultResult.Declined;
        if (!mm.TryAllocateUserFrame(out ulong pfn)) return FaultResult.OutOfMemory;
        mm.GetPage(pfn); // the bug
        return mm.MapPage(fault.Process, fault.Address, pfn, mm.FlagsFor(fault.Vma, writable: true)) ? FaultResult.Minor : FaultResult.OutOfMemory;
    }
}

public sealed class Module : IPluginModule
{
    public void Register(IPluginRegistry registry)
    {
        registry.AddFaultHandler<ThrowingHandler, ThrowingHandlerOptions>(
            "throwing-handler", "Throws on a chosen fault (test plugin).", c => new ThrowingHandler(c.Options));
        registry.AddFaultHandler<LeakyHandler, NoOptions>(
            "leaky-handler", "Maps zeroed frames with one reference too many (test plugin).", _ => new LeakyHandler());
        registry.AddFaultHandler<QuietHandler, NoOptions>(
            "quiet-handler", "Declines every fault (test plugin).", _ => new QuietHandler());
    }
}
