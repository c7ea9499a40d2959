using VmLab.Abstractions;
using VmLab.Abstractions.Faults;
using VmLab.Abstractions.Plugins;

namespace VmLab.Core.Kernel;

/// <summary>
/// The fault handlers the kernel model brings itself, because they work on its own state (the swap cache, the dirty
/// log, its devices). They are ordinary links of the chain: <c>vmlab plugins --kind fault-handler</c> lists them, and
/// naming one in <c>machine:faultHandlers</c> puts it where it is named. One that is not named takes its default place,
/// which keeps every count of a configuration that names none: <see cref="AccessedDirty"/> first in its stage,
/// then <see cref="DeviceTrap"/>, <see cref="DirtyLog"/>, <see cref="SwapIn"/> and <see cref="FaultAround"/> at the head
/// of the resolve stage, in that order (fault-around changes counts only when machine:pageCache turns it on, as it is
/// by default).
/// </summary>
public static class BuiltInFaultHandlers
{
    public const string SwapIn = "swap-in";
    public const string AccessedDirty = "accessed-dirty";
    public const string DeviceTrap = "device-trap";
    public const string DirtyLog = "dirty-log";
    public const string FaultAround = "fault-around";

    /// <summary>The built-ins in their default order.</summary>
    internal static NamedFaultHandler[] Defaults() =>
    [
        new(AccessedDirty, new AccessedDirtyHandler()),
        new(DeviceTrap, new DeviceTrapHandler()),
        new(DirtyLog, new DirtyLogHandler()),
        new(SwapIn, new SwapInHandler()),
        new(FaultAround, new FaultAroundHandler()),
    ];

    public static string? NameOf(IFaultHandler handler) => handler switch
    {
        SwapInHandler => SwapIn,
        AccessedDirtyHandler => AccessedDirty,
        DeviceTrapHandler => DeviceTrap,
        DirtyLogHandler => DirtyLog,
        FaultAroundHandler => FaultAround,
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
        registry.AddFaultHandler<FaultAroundHandler, NoOptions>(FaultAround,
            "Built in. A read fault on a file or shmem page not mapped: maps the pages in the page cache within machine:pageCache:faultAroundBytes around it (do_fault_around) — a minor fault when its own page was cached; a file page not cached is read in (with read-around) and the window mapped after it, one major fault. Off at faultAroundBytes 4096. Stage: resolve.",
            _ => new FaultAroundHandler());
    }

    internal static bool TryKernel(IMemoryManager mm, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out CpuMemoryManager? view)
    {
        view = mm as CpuMemoryManager;
        return view is not null;
    }
}

/// <summary>
/// Fault-around (Linux <c>do_read_fault</c> → <c>do_fault_around</c> → <c>filemap_map_pages</c>), on when
/// <see cref="PageCacheOptions.FaultAroundPages"/> is above 1: a read fault on a file or shmem page whose PTE is empty
/// maps every page of the aligned window around it that is already in the page cache (<see cref="PageCache.MapAround"/>);
/// when its own page was among them the fault is done, a minor one. A file page not cached is read in here, with its
/// read-around, and the window mapped after it: Linux drops the mmap lock for the I/O and retries the fault, and the
/// retry maps the window from the cache; the fault counts as one major fault. A page past the end of the file, or a
/// shmem page not yet allocated, is left to the file handler (SIGBUS, or a new shmem page).
/// </summary>
public sealed class FaultAroundHandler : IFaultHandler
{
    public FaultResult Handle(in PageFault fault, IMemoryManager mm)
    {
        if (fault.IsWrite || !fault.InVma || (fault.Vma.Flags & VmaFlags.File) == 0 || fault.Vma.FileName is null || !fault.Pte.IsEmpty
            || !BuiltInFaultHandlers.TryKernel(mm, out var k) || k.Kernel.Options.PageCache.FaultAroundPages <= 1)
            return FaultResult.Declined;
        return k.Kernel.Files.FaultAround(fault, k.Cpu, k.FaultVma?.ReadHint ?? ReadHint.Normal);
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
