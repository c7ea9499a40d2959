using VmLab.Abstractions;
using VmLab.Abstractions.Faults;
using VmLab.Abstractions.Plugins;

namespace VmLab.Core.Kernel;

/// <summary>
/// The fault handlers the kernel model brings itself, because they work on its own state (the swap cache, the dirty
/// log, its devices). They are ordinary links of the chain: <c>vmlab plugins --kind fault-handler</c> lists them, and
/// naming one in <c>machine:faultHandlers</c> puts it where it is named. One that is not named takes its default place,
/// which keeps every count of a configuration that names none: <see cref="AccessedDirty"/> first in its stage,
/// then <see cref="DeviceTrap"/>, <see cref="DirtyLog"/> and <see cref="SwapIn"/> at the head of the resolve stage, in
/// that order.
/// </summary>
public static class BuiltInFaultHandlers
{
    public const string SwapIn = "swap-in";
    public const string AccessedDirty = "accessed-dirty";
    public const string DeviceTrap = "device-trap";
    public const string DirtyLog = "dirty-log";

    /// <summary>The built-ins in their default order.</summary>
    internal static IEnumerable<NamedFaultHandler> Defaults() =>
    [
        new(AccessedDirty, new AccessedDirtyHandler()),
        new(DeviceTrap, new DeviceTrapHandler()),
        new(DirtyLog, new DirtyLogHandler()),
        new(SwapIn, new SwapInHandler()),
    ];

    public static string? NameOf(IFaultHandler handler) => handler switch
    {
        SwapInHandler => SwapIn,
        AccessedDirtyHandler => AccessedDirty,
        DeviceTrapHandler => DeviceTrap,
        DirtyLogHandler => DirtyLog,
        _ => null,
    };

    /// <summary>Registers the built-ins with a plugin catalog, as a plugin module would.</summary>
    public static void Register(IPluginRegistry registry)
    {
        registry.AddFaultHandler<SwapInHandler, NoOptions>(SwapIn,
            "Built in. A fault on a swap entry (do_swap_page): the page from the swap cache (minor) or read from its slot (major). Stage: resolve.",
            _ => new SwapInHandler());
        registry.AddFaultHandler<AccessedDirtyHandler, NoOptions>(AccessedDirty,
            "Built in. Formats that leave Accessed/Dirty to software (arm64 without hardware AF/DBM, RISC-V Svade): mark the entry young (and dirty on a write), one minor fault. Stage: before the access check.",
            _ => new AccessedDirtyHandler());
        registry.AddFaultHandler<DeviceTrapHandler, NoOptions>(DeviceTrap,
            "Built in. An access to a trapped device mapping is emulated by the device, never mapped (faults.trapped, device.NAME.reads/writes). Stage: resolve.",
            _ => new DeviceTrapHandler());
        registry.AddFaultHandler<DirtyLogHandler, NoOptions>(DirtyLog,
            "Built in. Write-protect dirty tracking: the first write to a tracked page is logged and, where the protection was only the tracker's, lifted (one minor fault). Stage: resolve.",
            _ => new DirtyLogHandler());
    }

    internal static bool TryKernel(IMemoryManager mm, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out CpuMemoryManager? view)
    {
        view = mm as CpuMemoryManager;
        return view is not null;
    }
}

/// <summary>Faults on swap entries: <see cref="SwapSubsystem.SwapIn"/> (Linux <c>do_swap_page</c>).</summary>
public sealed class SwapInHandler : IFaultHandler
{
    public FaultResult Handle(in PageFault fault, IMemoryManager mm) =>
        fault.Pte.IsSwapped && fault.InVma && BuiltInFaultHandlers.TryKernel(mm, out var k)
            ? k.Kernel.Swap.SwapIn(fault, k.Cpu)
            : FaultResult.Declined;
}

/// <summary>
/// Software Accessed/Dirty: hardware that leaves them to software (arm64 without FEAT_HAFDBS, RISC-V Svade) faults on an
/// old entry and on a write to a clean writable entry; when the VMA allows the access the kernel marks the entry young
/// (and dirty on a write) and the access is retried: <c>handle_pte_fault</c>'s <c>pte_mkyoung</c> / <c>pte_mkdirty</c>.
/// </summary>
public sealed class AccessedDirtyHandler : IFaultHandler
{
    public FaultStage Stage => FaultStage.BeforeAccessCheck;

    public FaultResult Handle(in PageFault fault, IMemoryManager mm)
    {
        if (!fault.InVma || !BuiltInFaultHandlers.TryKernel(mm, out var k) || !k.Kernel.Geometry.SoftwareAccessDirty) return FaultResult.Declined;
        var pte = fault.Pte;
        if (!pte.IsPresent) return FaultResult.Declined;
        var needed = fault.Kind switch { AccessKind.Write => Protection.Write, AccessKind.Fetch => Protection.Exec, _ => Protection.Read };
        if ((fault.Vma.Protection & needed) == 0) return FaultResult.Declined;
        var add = PageFlags.Accessed;
        if (fault.IsWrite)
        {
            if (!pte.Has(PageFlags.Writable)) return FaultResult.Declined;
            add |= PageFlags.Dirty;
        }
        if (pte.Has(add)) return FaultResult.Declined;
        k.Kernel.PageTable.Write(fault.Process.PageTableRoot, fault.Address, pte.With(add));
        k.Kernel.Stream?.Pte(fault.Cpu, fault.Process.Pid, fault.PageAddress, pte, pte.With(add));
        return FaultResult.Minor.As(FaultResolutions.AccessedDirty);
    }
}

/// <summary>A fault in a trapped device mapping: emulated by the device (a VM exit for MMIO), never mapped.</summary>
public sealed class DeviceTrapHandler : IFaultHandler
{
    public FaultResult Handle(in PageFault fault, IMemoryManager mm) =>
        fault.InVma && (fault.Vma.Flags & VmaFlags.Device) != 0 && BuiltInFaultHandlers.TryKernel(mm, out var k)
            ? k.Kernel.Devices.Trap(fault)
            : FaultResult.Declined;
}

/// <summary>The first write to a page under write-protect dirty tracking: logged, and retried where the protection was only the tracker's.</summary>
public sealed class DirtyLogHandler : IFaultHandler
{
    public FaultResult Handle(in PageFault fault, IMemoryManager mm) =>
        fault.InVma && fault.ErrorCode.Write && fault.ErrorCode.Protection && BuiltInFaultHandlers.TryKernel(mm, out var k)
            ? k.Kernel.Devices.LogFirstWrite(fault)
            : FaultResult.Declined;
}
