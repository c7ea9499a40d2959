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
        MisbehavingModule.Register(registry);
    }
}

public sealed record MisbehavingHandlerOptions
{
    [Description("The fault (1-based) on which the handler misbehaves; the ones before it are declined.")]
    public int OnFault { get; init; } = 1;
}

/// <summary>A fault handler that recurses without end on a chosen fault: the process's stack overflows, which .NET cannot catch.</summary>
public sealed class RecursingHandler(MisbehavingHandlerOptions options) : IFaultHandler
{
    private int _faults;

    public FaultResult Handle(in PageFault fault, IMemoryManager mm)
    {
        if (++_faults == options.OnFault) return Descend(fault.Address) == 0 ? FaultResult.Declined : FaultResult.Declined;
        return FaultResult.Declined;
    }

    // Work after the call keeps it from becoming a loop.
    private static ulong Descend(ulong depth) => Descend(depth + 1) * 3 + depth;
}

/// <summary>A fault handler that never returns from a chosen fault.</summary>
public sealed class SpinningHandler(MisbehavingHandlerOptions options) : IFaultHandler
{
    private int _faults;
    private long _spins;

    public FaultResult Handle(in PageFault fault, IMemoryManager mm)
    {
        if (++_faults == options.OnFault)
            while (Volatile.Read(ref _spins) >= 0) Interlocked.Increment(ref _spins);
        return FaultResult.Declined;
    }
}

/// <summary>A replacement policy with a bug: asked for a victim, it names frame 0 (the zero page), never a candidate.</summary>
public sealed class LyingPolicy : VmLab.Abstractions.Replacement.IReplacementPolicy
{
    public VmLab.Abstractions.Replacement.ReplacementInput Input => VmLab.Abstractions.Replacement.ReplacementInput.AccessedBits;

    public void OnResident(ulong pfn) { }

    public void OnReleased(ulong pfn) { }

    public void OnAccess(ulong pfn) { }

    public bool TrySelectVictim(VmLab.Abstractions.Replacement.IReclaimView view, out ulong pfn)
    {
        pfn = 0;
        return true;
    }
}

/// <summary>Registers the handlers that take down or hang the process they run in.</summary>
public sealed class MisbehavingModule
{
    public static void Register(IPluginRegistry registry)
    {
        registry.AddFaultHandler<RecursingHandler, MisbehavingHandlerOptions>(
            "recursing-handler", "Overflows the stack on a chosen fault (test plugin).", c => new RecursingHandler(c.Options));
        registry.AddFaultHandler<SpinningHandler, MisbehavingHandlerOptions>(
            "spinning-handler", "Never returns from a chosen fault (test plugin).", c => new SpinningHandler(c.Options));
        registry.AddReplacement<LyingPolicy, NoOptions>(
            "lying-policy", "Names the zero page as its victim (test plugin).", _ => new LyingPolicy());
        registry.AddFaultHandler<GateHandler, GateHandlerOptions>(
            "gate-handler", "Waits at its first fault until a file exists (test plugin).", c => new GateHandler(c.Options));
    }
}

public sealed record GateHandlerOptions
{
    [Description("The handler's first fault waits until this file exists (a test opens the gate by creating it).")]
    public string Gate { get; init; } = "";
}

/// <summary>
/// A fault handler that holds its run at the first fault until a file appears: a test can stop a sweep at a known case
/// and kill it there, instead of guessing from how long cases take.
/// </summary>
public sealed class GateHandler(GateHandlerOptions options) : IFaultHandler
{
    private bool _opened;

    public FaultResult Handle(in PageFault fault, IMemoryManager mm)
    {
        while (!_opened && !File.Exists(options.Gate)) Thread.Sleep(10);
        _opened = true;
        return FaultResult.Declined;
    }
}
