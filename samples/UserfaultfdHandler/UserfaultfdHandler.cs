using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
using VmLab.Abstractions;
using VmLab.Abstractions.Faults;
using VmLab.Abstractions.Plugins;

[assembly: VmLabPlugin(typeof(UserfaultfdHandler.UserfaultfdModule))]

namespace UserfaultfdHandler;

public sealed record UffdMissingOptions
{
    [Description("The pid of the process whose address space registers the range (UFFDIO_REGISTER is per address space).")]
    [Range(1, int.MaxValue)]
    public int Pid { get; init; } = 100;

    [Description("Start of the registered range, page-aligned (a number, or a string such as \"0x7ffff7fef000\").")]
    public ulong Start { get; init; }

    [Description("Length of the registered range in bytes, a multiple of 4096.")]
    [Range(typeof(long), "4096", "1099511627776")]
    public long Length { get; init; } = 4096;

    [Description("The byte the monitor fills every page it supplies with (the contents it fetched from elsewhere).")]
    [Range(0, 255)]
    public int Fill { get; init; } = 0xAB;
}

/// <summary>
/// A userfaultfd-like missing-page handler (Linux <c>UFFDIO_REGISTER_MODE_MISSING</c> answered by a monitor with
/// <c>UFFDIO_COPY</c>): a first touch of a never-mapped page of a registered range of private anonymous memory is not
/// demand-zeroed; the monitor supplies the page's contents (here every byte <see cref="UffdMissingOptions.Fill"/>, the
/// stand-in for a page fetched over the network by post-copy live migration or lazy restore) and the page is mapped,
/// writable where the VMA allows and dirty, as <c>UFFDIO_COPY</c> maps it. One minor fault, no zero page, no signal.
/// <para>
/// It runs in the <see cref="FaultStage.BeforeAccessCheck"/> stage, where a userfaultfd registration is found on the VMA
/// before the fault is resolved, and checks the VMA's permissions itself: an access the VMA forbids is left alone, so it
/// reaches the kernel's access check and ends in <c>SIGSEGV</c> as it would without the handler.
/// </para>
/// <para>
/// The registration lives in the VMA as the handler's own state (<see cref="IMemoryManager.SetVmaState{T}"/>), as Linux
/// keeps <c>vm_userfaultfd_ctx</c>: it follows the VMA through splits (one registration, shared) and is not inherited
/// by fork (the child's copy has none, as without <c>UFFD_FEATURE_EVENT_FORK</c>), so the child demand-zeroes.
/// </para>
/// </summary>
public sealed class UffdMissingHandler(UffdMissingOptions options, IMetrics metrics) : IFaultHandler
{
    private const ulong Page = 4096;
    private readonly ulong _end = options.Start + (ulong)options.Length;
    private readonly ulong _pattern = 0x0101_0101_0101_0101UL * (byte)options.Fill;
    private readonly Counter _served = metrics.Counter("uffd.missing");
    private readonly Counter _registered = metrics.Counter("uffd.registered_vmas");

    public FaultStage Stage => FaultStage.BeforeAccessCheck;

    public FaultResult Handle(in PageFault fault, IMemoryManager mm)
    {
        // Missing pages of private anonymous memory only: a present page, a swap entry or a file page is the kernel's.
        if (!fault.InVma || !fault.Pte.IsEmpty || !fault.Vma.IsAnonymous || fault.Vma.IsShared) return FaultResult.Declined;
        var registration = mm.GetVmaState<Registration>(fault.Process, fault.Address) ?? Register(fault, mm);
        if (registration is null || fault.PageAddress < options.Start || fault.PageAddress >= _end) return FaultResult.Declined;
        var needed = fault.Kind switch { AccessKind.Write => Protection.Write, AccessKind.Fetch => Protection.Exec, _ => Protection.Read };
        if (!fault.Vma.Allows(needed)) return FaultResult.Declined;

        if (!mm.TryAllocateUserFrame(out ulong pfn)) return FaultResult.OutOfMemory;
        ulong base_ = pfn * Page;
        for (ulong offset = 0; offset < Page; offset += 8) mm.Memory.Write64(base_ + offset, _pattern);
        var flags = mm.FlagsFor(fault.Vma, writable: true);
        if ((flags & PageFlags.Writable) != 0) flags |= PageFlags.Dirty;
        if (!mm.MapPage(fault.Process, fault.Address, pfn, flags)) return FaultResult.OutOfMemory;
        registration.PagesServed++;
        _served.Increment();
        return FaultResult.Minor;
    }

    /// <summary>
    /// The registration (the monitor's <c>UFFDIO_REGISTER</c>), made when the configured process first faults in a VMA
    /// that overlaps the range; null for any other VMA. Threads share the address space, so they share it; a forked
    /// child's copy of the VMA does not have it.
    /// </summary>
    private Registration? Register(in PageFault fault, IMemoryManager mm)
    {
        if (fault.Process.Pid != options.Pid || fault.Vma.End <= options.Start || fault.Vma.Start >= _end) return null;
        var registration = new Registration();
        if (!mm.SetVmaState(fault.Process, fault.Address, registration)) return null;
        _registered.Increment();
        return registration;
    }

    /// <summary>The handler's state in a registered VMA: kept by each part of a split, not inherited by fork.</summary>
    private sealed class Registration : IVmaState
    {
        public long PagesServed;
    }
}

public sealed class UserfaultfdModule : IPluginModule
{
    public void Register(IPluginRegistry registry) =>
        registry.AddFaultHandler<UffdMissingHandler, UffdMissingOptions>(
            "uffd-missing",
            "userfaultfd-like missing-page handler: a monitor supplies the first touch of each page of a registered range (UFFDIO_COPY). Stage: before the access check.",
            c => new UffdMissingHandler(c.Options, c.Metrics));
}
