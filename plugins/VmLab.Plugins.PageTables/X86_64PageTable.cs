using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
using System.Runtime.CompilerServices;
using VmLab.Abstractions;
using VmLab.Abstractions.PageTables;

namespace VmLab.Plugins.PageTables;

public sealed record X86_64Options
{
    [Description("Paging levels: 4 (48-bit virtual addresses) or 5 (LA57, 57-bit).")]
    [Range(4, 5)]
    public int Levels { get; init; } = 4;
}

/// <summary>
/// x86-64 long-mode paging: 4 or 5 levels of 512 eight-byte entries, 4 KiB, 2 MiB and 1 GiB leaves.
/// Entry bits: 0 P, 1 R/W, 2 U/S, 5 A, 6 D, 7 PS, 8 G, 12..51 address, 59..62 protection key, 63 XD.
/// </summary>
public sealed class X86_64Tables
{
    public const ulong P = 1UL << 0, RW = 1UL << 1, US = 1UL << 2, A = 1UL << 5, D = 1UL << 6, PS = 1UL << 7, G = 1UL << 8, XD = 1UL << 63;
    public const ulong AddressMask = 0x000F_FFFF_FFFF_F000UL;
    /// <summary>Software bits of a non-present entry: a swap entry, or a PROT_NONE page (<c>_PAGE_PROTNONE</c>).</summary>
    public const ulong SwapMarker = 1UL << 9, ProtNoneBit = 1UL << 8;
    public const int PkeyShift = 59;
    /// <summary>What Linux writes into a non-leaf entry of a user table (<c>_PAGE_TABLE</c>): P, RW, US, A, D.</summary>
    public const ulong TableEntry = P | RW | US | A | D;

    private readonly PhysicalMemory _memory;
    private readonly IFrameAllocator _frames;
    private readonly Counter _memrefs;
    private readonly Counter[] _memrefsPerLevel;

    public X86_64Tables(int levels, PhysicalMemory memory, IFrameAllocator frames, IMetrics metrics)
    {
        Levels = levels;
        _memory = memory;
        _frames = frames;
        VaBits = levels == 5 ? 57 : 48;
        Geometry = new PageTableGeometry("x86-64", levels, VaBits, [12, 21, 30]);
        _memrefs = metrics.Counter(MetricNames.WalkMemrefs);
        _memrefsPerLevel = new Counter[levels + 1];
        for (int l = 1; l <= levels; l++) _memrefsPerLevel[l] = metrics.Counter($"walk.memrefs.l{l}");
    }

    public int Levels { get; }
    public int VaBits { get; }
    public PageTableGeometry Geometry { get; }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool IsCanonical(ulong va)
    {
        long shifted = (long)va >> (VaBits - 1);
        return shifted == 0 || shifted == -1;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Index(ulong va, int level) => (int)((va >> (12 + 9 * (level - 1))) & 511);

    private static int LevelShift(int level) => 12 + 9 * (level - 1);

    public ulong CreateRoot()
    {
        if (!_frames.TryAllocate(FrameUse.PageTable, out ulong pfn))
            throw new InvalidOperationException("out of physical memory for a top-level page table");
        return pfn << 12;
    }

    public void DestroyRoot(ulong root) => FreeTable(root, Levels);

    private void FreeTable(ulong table, int level)
    {
        if (level > 1)
        {
            for (int i = 0; i < 512; i++)
            {
                ulong e = _memory.Read64(table + (ulong)i * 8);
                if ((e & P) != 0 && (e & PS) == 0) FreeTable(e & AddressMask, level - 1);
            }
        }
        _frames.Free(table >> 12, FrameUse.PageTable);
    }

    /// <summary>The hardware walk: one memory reference per level, A/D set as the CPU sets them.</summary>
    public WalkResult Walk(ulong root, ulong va, AccessKind kind, AccessMode mode, in CpuState cpu)
    {
        ulong table = root;
        bool writable = true, user = true, nx = false;
        for (int level = Levels; level >= 1; level--)
        {
            ulong entryAddress = table + (ulong)Index(va, level) * 8;
            ulong e = _memory.Read64(entryAddress);
            _memrefs.Value++;
            _memrefsPerLevel[level].Value++;
            if ((e & P) == 0)
                return new WalkResult(WalkStatus.NotPresent, default, PageFaultErrorCode.For(kind, mode, present: false), level);
            bool leaf = level == 1 || (e & PS) != 0;
            if ((e & PS) != 0 && level > 3)
                return new WalkResult(WalkStatus.Reserved, default, PageFaultErrorCode.For(kind, mode, present: true).With(PageFaultErrorCode.ReservedBit), level);
            writable &= (e & RW) != 0;
            user &= (e & US) != 0;
            nx |= (e & XD) != 0;
            if (!leaf)
            {
                if ((e & A) == 0) _memory.Write64(entryAddress, e | A);
                table = e & AddressMask;
                continue;
            }

            var flags = PageFlags.Present;
            if (writable) flags |= PageFlags.Writable;
            if (user) flags |= PageFlags.User;
            if (nx) flags |= PageFlags.NoExecute;
            if ((e & G) != 0) flags |= PageFlags.Global;
            byte pkey = (byte)((e >> PkeyShift) & 0xF);
            var verdict = AccessCheck.Check(flags, pkey, kind, mode, cpu);
            if (verdict != AccessVerdict.Allowed)
            {
                var code = PageFaultErrorCode.For(kind, mode, present: true);
                if (verdict == AccessVerdict.DeniedByKey) code = code.With(PageFaultErrorCode.ProtectionKeyBit);
                return new WalkResult(WalkStatus.Protection, default, code, level);
            }
            ulong updated = e | A;
            if (kind == AccessKind.Write) updated |= D;
            if (updated != e) _memory.Write64(entryAddress, updated);
            flags |= PageFlags.Accessed;
            if ((updated & D) != 0) flags |= PageFlags.Dirty;
            int shift = LevelShift(level);
            ulong frame = (e & AddressMask & ~((1UL << shift) - 1)) >> 12;
            return new WalkResult(WalkStatus.Ok, new PageMapping(frame, flags, (byte)shift, pkey), default, level);
        }
        throw new InvalidOperationException("unreachable");
    }

    /// <summary>Finds the entry mapping <paramref name="va"/>: its address and level, or 0 when a table on the way is missing.</summary>
    private ulong FindLeafEntry(ulong root, ulong va, out int leafLevel)
    {
        ulong table = root;
        for (int level = Levels; level >= 1; level--)
        {
            ulong entryAddress = table + (ulong)Index(va, level) * 8;
            ulong e = _memory.Read64(entryAddress);
            if (level == 1 || (e & PS) != 0 || (e & P) == 0)
            {
                leafLevel = level;
                if (level > 1 && (e & P) == 0) return 0;
                return entryAddress;
            }
            table = e & AddressMask;
        }
        leafLevel = 0;
        return 0;
    }

    public PageMapping Read(ulong root, ulong va)
    {
        ulong entryAddress = FindLeafEntry(root, va, out int level);
        return entryAddress == 0 ? PageMapping.Empty : Decode(_memory.Read64(entryAddress), level);
    }

    public void SetDirty(ulong root, ulong va)
    {
        ulong entryAddress = FindLeafEntry(root, va, out _);
        if (entryAddress != 0) _memory.Write64(entryAddress, _memory.Read64(entryAddress) | A | D);
    }

    public bool Write(ulong root, ulong va, in PageMapping mapping)
    {
        int leafLevel = mapping.PageShift switch
        {
            12 => 1,
            21 => 2,
            30 => 3,
            _ => throw new ArgumentException($"x86-64 has no {1UL << mapping.PageShift}-byte pages"),
        };
        ulong table = root;
        for (int level = Levels; level > leafLevel; level--)
        {
            ulong entryAddress = table + (ulong)Index(va, level) * 8;
            ulong e = _memory.Read64(entryAddress);
            if ((e & P) == 0)
            {
                if (mapping.IsEmpty) return true;
                if (!_frames.TryAllocate(FrameUse.PageTable, out ulong pfn)) return false;
                e = (pfn << 12) | TableEntry;
                _memory.Write64(entryAddress, e);
            }
            else if ((e & PS) != 0)
            {
                throw new InvalidOperationException($"0x{va:x} is inside a huge page at level {level}");
            }
            table = e & AddressMask;
        }
        _memory.Write64(table + (ulong)Index(va, leafLevel) * 8, Encode(mapping, leafLevel));
        return true;
    }

    public static ulong Encode(in PageMapping m, int level)
    {
        if (m.IsEmpty) return 0;
        var f = m.Flags;
        ulong e;
        if (m.IsSwapped)
        {
            // A non-present entry carrying a swap slot (bits 12..51); P = 0.
            return (m.Frame << 12) & AddressMask | SwapMarker;
        }
        if (m.IsProtNone)
        {
            // PROT_NONE: P = 0, _PAGE_PROTNONE (the G bit position) set, frame, A and D kept.
            e = ((m.Frame << 12) & AddressMask) | ProtNoneBit;
            if ((f & PageFlags.Accessed) != 0) e |= A;
            if ((f & PageFlags.Dirty) != 0) e |= D;
            return e;
        }
        e = (m.Frame << 12) & AddressMask;
        if ((f & PageFlags.Present) != 0) e |= P;
        if ((f & PageFlags.Writable) != 0) e |= RW;
        if ((f & PageFlags.User) != 0) e |= US;
        if ((f & PageFlags.Accessed) != 0) e |= A;
        if ((f & PageFlags.Dirty) != 0) e |= D;
        if ((f & PageFlags.Global) != 0) e |= G;
        if ((f & PageFlags.NoExecute) != 0) e |= XD;
        if (level > 1) e |= PS;
        e |= (ulong)(m.ProtectionKey & 0xF) << PkeyShift;
        return e;
    }

    public static PageMapping Decode(ulong e, int level)
    {
        if (e == 0) return PageMapping.Empty;
        if ((e & P) == 0)
        {
            if ((e & SwapMarker) != 0) return new PageMapping((e & AddressMask) >> 12, PageFlags.Swapped);
            if ((e & ProtNoneBit) != 0)
            {
                var pn = PageFlags.ProtNone;
                if ((e & A) != 0) pn |= PageFlags.Accessed;
                if ((e & D) != 0) pn |= PageFlags.Dirty;
                return new PageMapping((e & AddressMask) >> 12, pn, (byte)LevelShift(level));
            }
            return PageMapping.Empty;
        }
        var f = PageFlags.Present;
        if ((e & RW) != 0) f |= PageFlags.Writable;
        if ((e & US) != 0) f |= PageFlags.User;
        if ((e & A) != 0) f |= PageFlags.Accessed;
        if ((e & D) != 0) f |= PageFlags.Dirty;
        if ((e & G) != 0) f |= PageFlags.Global;
        if ((e & XD) != 0) f |= PageFlags.NoExecute;
        return new PageMapping((e & AddressMask) >> 12, f, (byte)LevelShift(level), (byte)((e >> PkeyShift) & 0xF));
    }

    public void CollectLeaves(ulong root, ulong start, ulong end, List<(ulong Address, PageMapping Leaf)> into)
        => Collect(root, Levels, 0, start, end, into);

    private void Collect(ulong table, int level, ulong baseVa, ulong start, ulong end, List<(ulong, PageMapping)> into)
    {
        int shift = LevelShift(level);
        ulong span = 1UL << shift;
        for (int i = 0; i < 512; i++)
        {
            ulong va = baseVa + (ulong)i * span;
            if (level == Levels && i >= 256) va |= ~((1UL << VaBits) - 1); // sign-extend the upper half
            if (va + (span - 1) < start || va >= end) continue;
            ulong e = _memory.Read64(table + (ulong)i * 8);
            if (e == 0) continue;
            if (level == 1 || (e & PS) != 0 || (e & P) == 0)
            {
                if (level == 1 || (e & P) != 0) into.Add((va, Decode(e, level)));
                continue;
            }
            Collect(e & AddressMask, level - 1, va, start, end, into);
        }
    }
}

/// <summary>The x86-64 format as the MMU is specialised on it: a handle whose copies share the tables.</summary>
public readonly struct X86_64PageTable(X86_64Tables tables) : IPageTable
{
    public X86_64Tables Tables => tables;
    public PageTableGeometry Geometry => tables.Geometry;
    public bool IsCanonical(ulong vaddr) => tables.IsCanonical(vaddr);
    public ulong CreateRoot() => tables.CreateRoot();
    public void DestroyRoot(ulong root) => tables.DestroyRoot(root);
    public WalkResult Walk(ulong root, ulong vaddr, AccessKind kind, AccessMode mode, in CpuState cpu) => tables.Walk(root, vaddr, kind, mode, cpu);
    public PageMapping Read(ulong root, ulong vaddr) => tables.Read(root, vaddr);
    public bool Write(ulong root, ulong vaddr, in PageMapping mapping) => tables.Write(root, vaddr, mapping);
    public void SetDirty(ulong root, ulong vaddr) => tables.SetDirty(root, vaddr);
    public void CollectLeaves(ulong root, ulong start, ulong end, List<(ulong Address, PageMapping Leaf)> into) => tables.CollectLeaves(root, start, end, into);
}
