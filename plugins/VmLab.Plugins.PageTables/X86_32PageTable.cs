using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
using System.Runtime.CompilerServices;
using VmLab.Abstractions;
using VmLab.Abstractions.PageTables;
using VmLab.Plugins.PageTables.Radix;
using static VmLab.Plugins.PageTables.X86Paging;

namespace VmLab.Plugins.PageTables;

public sealed record X86_32Options
{
    [Description("Entries of the page-walk (PDE) cache; 0 disables it: every walk reads one entry per level.")]
    [Range(0, 1024)]
    public int PwcEntries { get; init; }
}

/// <summary>
/// 32-bit x86 paging without PAE (CR4.PSE = 1): a page directory and page tables of 1024 four-byte entries
/// (10/10/12), 4 KiB pages and 4 MiB PSE pages. A 4 MiB PDE holds physical-address bits 31..22 in 31..22 and, with
/// PSE-36, bits 39..32 in 20..13; bit 21 is reserved. There is no NX bit, no protection key. User space ends at
/// 3 GiB (<c>PAGE_OFFSET</c> 0xC0000000). Addresses above 4 GiB do not exist: #GP.
/// </summary>
public readonly struct X86_32Format : IRadixFormat
{
    public const ulong PageOffset = 0xC000_0000;
    private const ulong Pse36Reserved = 1UL << 21;

    public X86_32Format()
    {
        // Linux i386 (3G/1G split): lowmem directly mapped at PAGE_OFFSET up to 896 MiB, vmalloc below the fixmaps; a
        // process's page directory learns of new vmalloc areas lazily (vmalloc_fault).
        Geometry = new PageTableGeometry("x86-32", 2, 32, [12, 22])
        {
            UserTop = PageOffset,
            KernelBase = PageOffset,
            KernelLayout = new KernelLayout("x86-32", 0xc000_0000, 896UL << 20, 0xf800_0000, 0xff80_0000, 22, KernelHalfMode.LazySync),
        };
    }

    public PageTableGeometry Geometry { get; }
    public int Levels => 2;
    public bool WideEntries => false;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool IsCanonical(ulong va) => va <= uint.MaxValue;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int SelectTree(ref ulong va, AccessKind kind, AccessMode mode) => va <= uint.MaxValue ? 0 : -1;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int Index(ulong va, int level) => (int)((va >> (level == 2 ? 22 : 12)) & 1023);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int LevelShift(int level) => level == 2 ? 22 : 12;

    public int EntryCount(int level) => 1024;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public EntryClass Classify(ulong e, int level)
    {
        if ((e & P) == 0) return EntryClass.Invalid;
        if (level == 1) return EntryClass.Leaf;
        if ((e & PS) == 0) return EntryClass.Table;
        return (e & Pse36Reserved) != 0 ? EntryClass.Reserved : EntryClass.Leaf;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong TableAddress(ulong e) => e & 0xFFFF_F000UL;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public uint Accumulate(uint rights, ulong e, int level) => X86Paging.Accumulate(rights, e, nx: false);

    public ulong TableAccessedBit(int level) => A;

    public ulong EncodeTable(ulong tableAddress, int level, bool upperTree)
    {
        if (tableAddress > uint.MaxValue) throw new InvalidOperationException($"x86-32: a page table at 0x{tableAddress:x} is above 4 GiB");
        return tableAddress | TableEntry;
    }

    public ulong EncodeLeaf(in PageMapping m, int level, bool upperTree)
    {
        if (m.IsEmpty) return 0;
        if (m.IsSwapped)
        {
            if (m.Frame >= 1UL << 20) throw new ArgumentException($"x86-32: swap slot {m.Frame} does not fit a 20-bit entry field");
            return (m.Frame << 12) | SwapMarker;
        }
        if (m.IsProtNone) return EncodeProtNone(m, 0xFFFF_F000UL);
        ulong pa = m.Frame << 12;
        ulong bits = LeafBits(m.Flags, level);
        if (level == 1)
        {
            if (pa > uint.MaxValue) throw new ArgumentException($"x86-32: frame {m.Frame} is above 4 GiB; a 4 KiB page cannot map it");
            return pa | bits;
        }
        RequireAligned(m, 22, "x86-32");
        if (pa >= 1UL << 40) throw new ArgumentException($"x86-32: frame {m.Frame} is above the 40-bit PSE-36 limit");
        return (pa & 0xFFC0_0000UL) | (((pa >> 32) & 0xFF) << 13) | bits;
    }

    public PageMapping DecodeLeaf(ulong e, int level)
    {
        if (e == 0) return PageMapping.Empty;
        if ((e & P) == 0)
            return DecodeNotPresent(e, 0xFFFF_F000UL, LevelShift(level));
        return new PageMapping(LeafAddress(e, level) >> 12, LeafFlags(e), (byte)LevelShift(level));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong LeafAddress(ulong e, int level) =>
        level == 1 ? e & 0xFFFF_F000UL : (e & 0xFFC0_0000UL) | (((e >> 13) & 0xFF) << 32);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public WalkResult CompleteLeaf(ulong e, int level, uint rights, AccessKind kind, AccessMode mode, in CpuState cpu, out ulong updated)
        => X86Paging.CompleteLeaf(e, level, LevelShift(level), LeafAddress(e, level), rights, nx: false, 0, kind, mode, cpu, out updated);

    public PageFaultErrorCode ErrorCode(AccessKind kind, AccessMode mode, bool present, in CpuState cpu)
        => X86Paging.ErrorCode(kind, mode, present, nx: false, cpu);

    public ulong SetDirty(ulong e) => e | A | D;

    public ulong Canonical(ulong va, bool upperTree) => va;
}
