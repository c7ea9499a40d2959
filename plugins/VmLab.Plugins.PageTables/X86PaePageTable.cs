using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
using System.Runtime.CompilerServices;
using VmLab.Abstractions;
using VmLab.Abstractions.PageTables;
using VmLab.Plugins.PageTables.Radix;
using static VmLab.Plugins.PageTables.X86Paging;

namespace VmLab.Plugins.PageTables;

public sealed record X86PaeOptions
{
    [Description("Entries per upper level of the page-walk cache (PDPTE and PDE caches); 0 disables it: every walk reads one entry per level.")]
    [Range(0, 1024)]
    public int PwcEntries { get; init; }
}

/// <summary>
/// 32-bit x86 PAE paging (2/9/9/12): a 4-entry page-directory-pointer table, then page directories and page tables
/// of 512 eight-byte entries; 4 KiB and 2 MiB pages; XD (bit 63) with IA32_EFER.NXE = 1. A PDPTE has only P and the
/// address: bits 1, 2, 5..8 and 63 are reserved, as are bits 62..46 of every entry (MAXPHYADDR 46) and bits 20..13
/// of a 2 MiB PDE. Linux links a PDPTE as address | P. The CPU loads the four PDPTEs on a CR3 write; VmLab reads the
/// PDPTE on every walk (an upper bound of one reference) unless the page-walk cache holds it.
/// </summary>
public readonly struct X86PaeFormat : IRadixFormat
{
    public const int MaxPhysicalAddressBits = 46;
    public const ulong AddressMask = ((1UL << MaxPhysicalAddressBits) - 1) & ~0xFFFUL;
    public const ulong ReservedHigh = 0x7FFF_C000_0000_0000UL; // bits 62..46
    public const ulong PdpteReserved = (1UL << 1) | (1UL << 2) | (0xFUL << 5) | (1UL << 63) | ReservedHigh;

    public X86PaeFormat()
    {
        // As x86-32, but the kernel's PMD is shared by every PDPT from boot: no lazy vmalloc sync.
        Geometry = new PageTableGeometry("x86-32-pae", 3, 32, [12, 21])
        {
            UserTop = X86_32Format.PageOffset,
            KernelBase = X86_32Format.PageOffset,
            KernelLayout = new KernelLayout("x86-32-pae", 0xc000_0000, 896UL << 20, 0xf800_0000, 0xff80_0000, 30, KernelHalfMode.Prepopulated),
        };
    }

    public PageTableGeometry Geometry { get; }
    public int Levels => 3;
    public bool WideEntries => true;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool IsCanonical(ulong va) => va <= uint.MaxValue;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int SelectTree(ref ulong va, AccessKind kind, AccessMode mode) => va <= uint.MaxValue ? 0 : -1;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int Index(ulong va, int level) => level == 3 ? (int)((va >> 30) & 3) : (int)((va >> (12 + 9 * (level - 1))) & 511);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int LevelShift(int level) => 12 + 9 * (level - 1);

    public int EntryCount(int level) => level == 3 ? 4 : 512;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public EntryClass Classify(ulong e, int level)
    {
        if ((e & P) == 0) return EntryClass.Invalid;
        if (level == 3) return (e & PdpteReserved) != 0 ? EntryClass.Reserved : EntryClass.Table;
        if ((e & ReservedHigh) != 0) return EntryClass.Reserved;
        if (level == 1) return EntryClass.Leaf;
        if ((e & PS) == 0) return EntryClass.Table;
        return (e & 0x1F_E000UL) != 0 ? EntryClass.Reserved : EntryClass.Leaf;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong TableAddress(ulong e) => e & AddressMask;

    /// <summary>PDPTEs carry no rights; PDEs narrow them as on x86-64.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public uint Accumulate(uint rights, ulong e, int level) => level == 3 ? rights : X86Paging.Accumulate(rights, e, nx: true);

    public ulong TableAccessedBit(int level) => level == 3 ? 0 : A;

    public ulong EncodeTable(ulong tableAddress, int level, bool upperTree) => level == 3 ? tableAddress | P : tableAddress | TableEntry;

    public ulong EncodeLeaf(in PageMapping m, int level, bool upperTree)
        => EncodeWideLeaf(m, level, LevelShift(level), AddressMask, protectionKeys: false, "x86-32-pae");

    public PageMapping DecodeLeaf(ulong e, int level) => DecodeWideLeaf(e, LevelShift(level), AddressMask, protectionKeys: false);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public WalkResult CompleteLeaf(ulong e, int level, uint rights, AccessKind kind, AccessMode mode, in CpuState cpu, out ulong updated)
        => X86Paging.CompleteLeaf(e, level, LevelShift(level), e & AddressMask, rights, nx: true, 0, kind, mode, cpu, out updated);

    public PageFaultErrorCode ErrorCode(AccessKind kind, AccessMode mode, bool present, in CpuState cpu)
        => X86Paging.ErrorCode(kind, mode, present, nx: true, cpu);

    public ulong SetDirty(ulong e) => e | A | D;

    public ulong Canonical(ulong va, bool upperTree) => va;
}
