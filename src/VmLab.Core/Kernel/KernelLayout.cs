using VmLab.Abstractions.PageTables;

namespace VmLab.Core.Kernel;

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

/// <summary>Where the direct map and the vmalloc range are, per architecture (Linux's layouts, KASLR off).</summary>
public sealed record KernelLayout(string Architecture, ulong DirectMapBase, ulong DirectMapLimit, ulong VmallocStart, ulong VmallocEnd, int TopLevelShift, KernelHalfMode Mode)
{
    private const ulong G = 1UL << 30, T = 1UL << 40;

    public static KernelLayout For(PageTableGeometry g) => g.Architecture switch
    {
        "x86-64" when g.VirtualAddressBits == 57 => new(g.Architecture, 0xff11_0000_0000_0000, 1UL << 52, 0xffa0_0000_0000_0000, 0xffd2_0000_0000_0000, 48, KernelHalfMode.Prepopulated),
        "x86-64" => new(g.Architecture, 0xffff_8880_0000_0000, 64 * T, 0xffff_c900_0000_0000, 0xffff_e900_0000_0000, 39, KernelHalfMode.Prepopulated),
        "x86-32" => new(g.Architecture, 0xc000_0000, 896UL << 20, 0xf800_0000, 0xff80_0000, 22, KernelHalfMode.LazySync),
        "x86-32-pae" => new(g.Architecture, 0xc000_0000, 896UL << 20, 0xf800_0000, 0xff80_0000, 30, KernelHalfMode.Prepopulated),
        "arm64" => new(g.Architecture, 0xffff_0000_0000_0000, 128 * T, 0xffff_8000_8000_0000, 0xffff_fbff_f000_0000, 39, KernelHalfMode.SharedTree),
        "riscv-sv39" => new(g.Architecture, 0xffff_ffd6_0000_0000, 128 * G, 0xffff_ffc6_0000_0000, 0xffff_ffd6_0000_0000, 30, KernelHalfMode.Prepopulated),
        "riscv-sv48" => new(g.Architecture, 0xffff_d880_0000_0000, 32 * T, 0xffff_c880_0000_0000, 0xffff_d880_0000_0000, 39, KernelHalfMode.Prepopulated),
        "riscv-sv57" => new(g.Architecture, 0xff60_0000_0000_0000, 1UL << 54, 0xff20_0000_0000_0000, 0xff60_0000_0000_0000, 48, KernelHalfMode.Prepopulated),
        _ => new(g.Architecture, 0, 0, 0, 0, 0, KernelHalfMode.Unsupported),
    };

    public bool IsVmalloc(ulong va) => va >= VmallocStart && va < VmallocEnd;
    public bool IsDirectMap(ulong va) => va >= DirectMapBase && va - DirectMapBase < DirectMapLimit;
}
