using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
using System.Runtime.CompilerServices;
using VmLab.Abstractions;
using VmLab.Abstractions.PageTables;
using VmLab.Plugins.PageTables.Radix;
using static VmLab.Plugins.PageTables.X86Paging;

namespace VmLab.Plugins.PageTables;

public sealed record X86_64Options
{
    [Description("Paging levels: 4 (48-bit virtual addresses) or 5 (LA57, 57-bit).")]
    [Range(4, 5)]
    public int Levels { get; init; } = 4;

    [Description("Entries per upper level of the page-walk (paging-structure) cache; 0 disables it: every walk reads one entry per level.")]
    [Range(0, 1024)]
    public int PwcEntries { get; init; }
}

/// <summary>
/// x86-64 long-mode paging: 4 or 5 levels of 512 eight-byte entries, 4 KiB, 2 MiB and 1 GiB leaves.
/// Entry bits: 0 P, 1 R/W, 2 U/S, 5 A, 6 D, 7 PS, 8 G, 12..45 address (MAXPHYADDR 46), 46..51 reserved,
/// 59..62 protection key (leaves), 63 XD. PS in a PML4E/PML5E, and address bits below a huge page's size
/// (13..20 for 2 MiB, 13..29 for 1 GiB), are reserved: a walk meeting them faults with RSVD.
/// </summary>
public readonly struct X86_64Format : IRadixFormat
{
    public const int MaxPhysicalAddressBits = 46;
    public const ulong AddressMask = ((1UL << MaxPhysicalAddressBits) - 1) & ~0xFFFUL;
    public const ulong ReservedHigh = ((1UL << 52) - 1) & ~((1UL << MaxPhysicalAddressBits) - 1);

    private readonly int _vaBits;

    public X86_64Format(int levels)
    {
        if (levels is not (4 or 5)) throw new ArgumentOutOfRangeException(nameof(levels), levels, "x86-64 paging has 4 or 5 levels");
        Levels = levels;
        _vaBits = levels == 5 ? 57 : 48;
        // Linux x86-64 (Documentation/arch/x86/x86_64/mm.rst, KASLR off): the direct map at page_offset_base, vmalloc at
        // VMALLOC_START; the kernel half's top-level entries are populated at boot and shared by every address space.
        Geometry = new PageTableGeometry("x86-64", levels, _vaBits, [12, 21, 30])
        {
            KernelLayout = levels == 5
                ? new KernelLayout("x86-64", 0xff11_0000_0000_0000, 1UL << 52, 0xffa0_0000_0000_0000, 0xffd2_0000_0000_0000, 48, KernelHalfMode.Prepopulated)
                : new KernelLayout("x86-64", 0xffff_8880_0000_0000, 64 * (1UL << 40), 0xffff_c900_0000_0000, 0xffff_e900_0000_0000, 39, KernelHalfMode.Prepopulated),
        };
    }

    public PageTableGeometry Geometry { get; }
    public int Levels { get; }
    public bool WideEntries => true;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool IsCanonical(ulong va)
    {
        long shifted = (long)va >> (_vaBits - 1);
        return shifted == 0 || shifted == -1;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int SelectTree(ref ulong va, AccessKind kind, AccessMode mode) => 0;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int Index(ulong va, int level) => (int)((va >> (12 + 9 * (level - 1))) & 511);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int LevelShift(int level) => 12 + 9 * (level - 1);

    public int EntryCount(int level) => 512;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public EntryClass Classify(ulong e, int level)
    {
        if ((e & P) == 0) return EntryClass.Invalid;
        if ((e & ReservedHigh) != 0) return EntryClass.Reserved;
        if (level == 1) return EntryClass.Leaf;
        if ((e & PS) == 0) return EntryClass.Table;
        if (level > 3) return EntryClass.Reserved;
        ulong low = ((1UL << LevelShift(level)) - 1) & ~0x1FFFUL;
        return (e & low) != 0 ? EntryClass.Reserved : EntryClass.Leaf;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong TableAddress(ulong e) => e & AddressMask;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public uint Accumulate(uint rights, ulong e, int level) => X86Paging.Accumulate(rights, e, nx: true);

    public ulong TableAccessedBit(int level) => A;

    public ulong EncodeTable(ulong tableAddress, int level, bool upperTree) => tableAddress | TableEntry;

    public ulong EncodeLeaf(in PageMapping m, int level, bool upperTree)
        => EncodeWideLeaf(m, level, LevelShift(level), AddressMask, protectionKeys: true, "x86-64");

    public PageMapping DecodeLeaf(ulong e, int level) => DecodeWideLeaf(e, LevelShift(level), AddressMask, protectionKeys: true);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public WalkResult CompleteLeaf(ulong e, int level, uint rights, AccessKind kind, AccessMode mode, in CpuState cpu, out ulong updated)
        => X86Paging.CompleteLeaf(e, level, LevelShift(level), e & AddressMask, rights, nx: true, ProtectionKey(e), kind, mode, cpu, out updated);

    public PageFaultErrorCode ErrorCode(AccessKind kind, AccessMode mode, bool present, in CpuState cpu)
        => X86Paging.ErrorCode(kind, mode, present, nx: true, cpu);

    public ulong SetDirty(ulong e) => e | A | D;

    public ulong Canonical(ulong va, bool upperTree)
    {
        int unused = 64 - _vaBits;
        return (ulong)(((long)va << unused) >> unused);
    }
}
