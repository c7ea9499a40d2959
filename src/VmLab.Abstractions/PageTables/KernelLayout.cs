namespace VmLab.Abstractions.PageTables;

/// <summary>How each address space gets the kernel half of its page tables.</summary>
public enum KernelHalfMode
{
    /// <summary>Copied from the reference table when the address space is created; the vmalloc range's top-level slots exist from boot, so no sync faults (x86-64, x86-32 PAE's shared kernel PMD, RISC-V).</summary>
    Prepopulated,
    /// <summary>Copied at creation, but top-level entries the reference gains later are synced on a kernel fault (x86-32 two-level: <c>vmalloc_fault</c>).</summary>
    LazySync,
    /// <summary>One kernel table for everyone, chosen by the hardware (arm64 TTBR1).</summary>
    SharedTree,
    /// <summary>No kernel half is modelled for this format.</summary>
    Unsupported,
}

/// <summary>
/// Where the kernel half keeps the direct map and the vmalloc range, and how address spaces share it: the architecture's
/// Linux layout (KASLR off), given by the page-table format in <see cref="PageTableGeometry.KernelLayout"/>.
/// <see cref="TopLevelShift"/> is the span of one top-level entry, the unit in which the kernel half is shared.
/// </summary>
public sealed record KernelLayout(string Architecture, ulong DirectMapBase, ulong DirectMapLimit, ulong VmallocStart, ulong VmallocEnd, int TopLevelShift, KernelHalfMode Mode)
{
    /// <summary>No kernel half modelled for <paramref name="architecture"/>: kmalloc, vmalloc and kernel accesses are refused.</summary>
    public static KernelLayout Unsupported(string architecture) => new(architecture, 0, 0, 0, 0, 0, KernelHalfMode.Unsupported);

    public bool IsVmalloc(ulong va) => va >= VmallocStart && va < VmallocEnd;
    public bool IsDirectMap(ulong va) => va >= DirectMapBase && va - DirectMapBase < DirectMapLimit;
}
