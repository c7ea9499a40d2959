using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
using System.Runtime.CompilerServices;
using VmLab.Abstractions;
using VmLab.Abstractions.PageTables;
using VmLab.Plugins.PageTables.Radix;

namespace VmLab.Plugins.PageTables;

public sealed record Arm64Options
{
    [Description("Hardware Access flag management (FEAT_HAFDBS, TCR_EL1.HA): the walker sets AF. Off: an access to an old entry takes an Access flag fault and the kernel sets AF (one more minor fault).")]
    public bool HardwareAccessFlag { get; init; } = true;

    [Description("Hardware dirty state management (TCR_EL1.HD, DBM): a write to a clean writable entry makes it dirty. Off: it takes a permission fault and the kernel makes it dirty (one more minor fault).")]
    public bool HardwareDirty { get; init; } = true;

    [Description("Top-byte-ignore for user data accesses (TCR_EL1.TBI0): bits 63..56 of a user load/store address are not translated.")]
    public bool TopByteIgnore { get; init; } = true;

    [Description("Entries per upper level of the page-walk cache; 0 disables it: every walk reads one entry per level.")]
    [Range(0, 1024)]
    public int PwcEntries { get; init; }
}

/// <summary>
/// AArch64 stage-1 translation with the 4 KiB granule and 48-bit addresses: four lookup levels (Arm's levels 0..3
/// are VmLab's levels 4..1), 512 eight-byte descriptors each; 1 GiB blocks at Arm level 1 and 2 MiB blocks at level 2.
/// Addresses with bits 63..48 all zero go through TTBR0_EL1 (the process's root), all ones through TTBR1_EL1 (one
/// kernel table shared by every process); any other address is a level-0 translation fault.
/// Descriptor bits: 0 valid, 1 table/page, 4..2 AttrIndx, 6 AP[1] (EL0 access), 7 AP[2] (read-only), 9..8 SH,
/// 10 AF, 11 nG, 47..12 output address, 51 DBM (Linux <c>PTE_WRITE</c>), 53 PXN, 54 UXN, 55 software dirty
/// (Linux <c>PTE_DIRTY</c>); table descriptors: 59 PXNTable, 60 UXNTable, 61 APTable[0] (no EL0), 62 APTable[1] (read-only).
/// Linux encodes a writable clean page as DBM = 1, AP[2] = 1 and a writable dirty page as DBM = 1, AP[2] = 0.
/// </summary>
public readonly struct Arm64Format : IRadixFormat
{
    public const ulong Valid = 1UL << 0, TableOrPage = 1UL << 1, ApUser = 1UL << 6, ApReadOnly = 1UL << 7;
    public const ulong ShareInner = 3UL << 8, AccessFlag = 1UL << 10, NotGlobal = 1UL << 11;
    public const ulong Dbm = 1UL << 51, Pxn = 1UL << 53, Uxn = 1UL << 54, SoftwareDirty = 1UL << 55;
    public const ulong PxnTable = 1UL << 59, UxnTable = 1UL << 60, ApTableNoEl0 = 1UL << 61, ApTableReadOnly = 1UL << 62;
    public const ulong AddressMask = 0x0000_FFFF_FFFF_F000UL;
    /// <summary>A software bit of an invalid descriptor marking a swap entry.</summary>
    public const ulong SwapMarker = 1UL << 2;
    /// <summary>A PROT_NONE entry: valid bit clear, Linux's software PTE_PROT_NONE (bit 58), frame and AF kept.</summary>
    public const ulong ProtNoneBit = 1UL << 58;
    public const ulong UpperHalf = 0xFFFF_0000_0000_0000UL;

    private readonly bool _hwAf, _hwDirty, _tbi;

    /// <summary>The format as the plugin's options configure it (<see cref="Arm64Options.PwcEntries"/> sizes the tables' page-walk cache, not the format).</summary>
    public Arm64Format(Arm64Options options)
        : this(options.HardwareAccessFlag, options.HardwareDirty, options.TopByteIgnore)
    {
    }

    public Arm64Format(bool hardwareAccessFlag, bool hardwareDirty, bool topByteIgnore)
    {
        _hwAf = hardwareAccessFlag;
        _hwDirty = hardwareDirty;
        _tbi = topByteIgnore;
        Geometry = new PageTableGeometry("arm64", 4, 48, [12, 21, 30])
        {
            UserTop = 1UL << 48,
            KernelBase = UpperHalf,
            SoftwareAccessDirty = !hardwareAccessFlag || !hardwareDirty,
            TopByteIgnore = topByteIgnore,
            ExecCheckedOnFirstFault = true,
            // Linux arm64 with 48-bit VAs: the linear map from PAGE_OFFSET, vmalloc from VMALLOC_START; one kernel tree (TTBR1).
            KernelLayout = new KernelLayout("arm64", 0xffff_0000_0000_0000, 128 * (1UL << 40), 0xffff_8000_8000_0000, 0xffff_fbff_f000_0000, 39, KernelHalfMode.SharedTree),
        };
    }

    public PageTableGeometry Geometry { get; }
    public int Levels => 4;
    public bool WideEntries => true;

    /// <summary>Arm64 raises no general-protection fault: an address outside both halves is a translation fault.</summary>
    public bool IsCanonical(ulong va) => true;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int SelectTree(ref ulong va, AccessKind kind, AccessMode mode)
    {
        if (_tbi && mode == AccessMode.User && kind != AccessKind.Fetch && (va & (1UL << 55)) == 0) va &= 0x00FF_FFFF_FFFF_FFFFUL;
        ulong top = va >> 48;
        return top == 0 ? 0 : top == 0xFFFF ? 1 : -1;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int Index(ulong va, int level) => (int)((va >> (12 + 9 * (level - 1))) & 511);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int LevelShift(int level) => 12 + 9 * (level - 1);

    public int EntryCount(int level) => 512;

    /// <summary>Invalid and reserved descriptors (a block at Arm level 0, bits[1:0] = 01 at level 3) are translation faults.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public EntryClass Classify(ulong e, int level)
    {
        if ((e & Valid) == 0) return EntryClass.Invalid;
        bool bit1 = (e & TableOrPage) != 0;
        if (level == 1) return bit1 ? EntryClass.Leaf : EntryClass.Invalid;
        if (bit1) return EntryClass.Table;
        return level == 4 ? EntryClass.Invalid : EntryClass.Leaf;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong TableAddress(ulong e) => e & AddressMask;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public uint Accumulate(uint rights, ulong e, int level)
    {
        if ((e & ApTableNoEl0) != 0) rights &= ~Rights.User;
        if ((e & ApTableReadOnly) != 0) rights &= ~Rights.Writable;
        if ((e & UxnTable) != 0) rights |= Rights.NoExecute;
        if ((e & PxnTable) != 0) rights |= Rights.PrivilegedNoExecute;
        return rights;
    }

    public ulong TableAccessedBit(int level) => 0;

    /// <summary>Linux links user tables with PXNTable and kernel tables with UXNTable (<c>PMD_TABLE_PXN</c>/<c>_UXN</c>).</summary>
    public ulong EncodeTable(ulong tableAddress, int level, bool upperTree) =>
        tableAddress | Valid | TableOrPage | (upperTree ? UxnTable : PxnTable);

    public ulong EncodeLeaf(in PageMapping m, int level, bool upperTree)
    {
        if (m.IsEmpty) return 0;
        if (m.IsSwapped) return ((m.Frame << 12) & AddressMask) | SwapMarker;
        if (m.IsProtNone)
            return ((m.Frame << 12) & AddressMask) | ProtNoneBit | ((m.Flags & PageFlags.Accessed) != 0 ? AccessFlag : 0) | ((m.Flags & PageFlags.Dirty) != 0 ? SoftwareDirty : 0);
        X86Paging.RequireAligned(m, LevelShift(level), "arm64");
        if ((m.Frame << 12 & ~AddressMask) != 0) throw new ArgumentException($"arm64: frame {m.Frame} is beyond the 48-bit output address");
        var f = m.Flags;
        ulong e = (m.Frame << 12) | ShareInner;
        if ((f & PageFlags.Present) != 0) e |= Valid;
        if (level == 1) e |= TableOrPage;
        bool user = (f & PageFlags.User) != 0;
        if (user) e |= ApUser;
        if ((f & PageFlags.Global) == 0) e |= NotGlobal;
        if ((f & PageFlags.Accessed) != 0) e |= AccessFlag;
        bool dirty = (f & PageFlags.Dirty) != 0;
        if ((f & PageFlags.Writable) != 0) e |= Dbm | (dirty ? 0 : ApReadOnly);
        else e |= ApReadOnly | (dirty ? SoftwareDirty : 0);
        if (user)
        {
            e |= Pxn; // Linux never lets the kernel execute user pages
            if ((f & PageFlags.NoExecute) != 0) e |= Uxn;
        }
        else
        {
            e |= Uxn;
            if ((f & (PageFlags.NoExecute | PageFlags.PrivilegedNoExecute)) != 0) e |= Pxn;
        }
        return e;
    }

    public PageMapping DecodeLeaf(ulong e, int level)
    {
        if (e == 0) return PageMapping.Empty;
        if ((e & Valid) == 0)
        {
            if ((e & SwapMarker) != 0) return new PageMapping((e & AddressMask) >> 12, PageFlags.Swapped);
            if ((e & ProtNoneBit) == 0) return PageMapping.Empty;
            var pn = PageFlags.ProtNone | ((e & AccessFlag) != 0 ? PageFlags.Accessed : 0) | ((e & SoftwareDirty) != 0 ? PageFlags.Dirty : 0);
            return new PageMapping((e & AddressMask) >> 12, pn, (byte)LevelShift(level));
        }
        var f = PageFlags.Present;
        bool user = (e & ApUser) != 0;
        if (user) f |= PageFlags.User;
        if ((e & Dbm) != 0 || (e & ApReadOnly) == 0) f |= PageFlags.Writable;
        if ((e & ApReadOnly) == 0 || (e & SoftwareDirty) != 0) f |= PageFlags.Dirty;
        if ((e & AccessFlag) != 0) f |= PageFlags.Accessed;
        if ((e & NotGlobal) == 0) f |= PageFlags.Global;
        if (user)
        {
            if ((e & Uxn) != 0) f |= PageFlags.NoExecute;
            if ((e & Pxn) != 0) f |= PageFlags.PrivilegedNoExecute;
        }
        else if ((e & Pxn) != 0) f |= PageFlags.NoExecute;
        return new PageMapping((e & AddressMask) >> 12, f, (byte)LevelShift(level));
    }

    /// <summary>
    /// Fault priority as in the Arm ARM: an Access flag fault (AF = 0 without hardware AF) before the permission check;
    /// then AP/UXN/PXN with PAN (<see cref="CpuState.Smap"/> outside a uaccess window) and the implicit PXN of
    /// EL0-writable memory; then hardware AF and DBM updates.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public WalkResult CompleteLeaf(ulong e, int level, uint rights, AccessKind kind, AccessMode mode, in CpuState cpu, out ulong updated)
    {
        updated = e;
        if ((e & AccessFlag) == 0 && !_hwAf)
            return new WalkResult(WalkStatus.AccessFlag, default, PageFaultErrorCode.For(kind, mode, present: true), level);

        bool user = (e & ApUser) != 0 && (rights & Rights.User) != 0;
        bool rightsWritable = (rights & Rights.Writable) != 0;
        bool hwWritable = (e & ApReadOnly) == 0 && rightsWritable;
        bool dbmWritable = _hwDirty && (e & Dbm) != 0 && rightsWritable;
        bool writable = hwWritable || dbmWritable;
        bool uxn = (e & Uxn) != 0 || (rights & Rights.NoExecute) != 0;
        bool pxn = (e & Pxn) != 0 || (rights & Rights.PrivilegedNoExecute) != 0 || (user && writable);

        var flags = PageFlags.Present;
        if (writable) flags |= PageFlags.Writable;
        if (user)
        {
            flags |= PageFlags.User;
            if (uxn) flags |= PageFlags.NoExecute;
            if (pxn) flags |= PageFlags.PrivilegedNoExecute;
        }
        else if (pxn) flags |= PageFlags.NoExecute;
        if ((e & NotGlobal) == 0) flags |= PageFlags.Global;

        if (AccessCheck.Check(flags, 0, kind, mode, cpu) != AccessVerdict.Allowed)
            return new WalkResult(WalkStatus.Protection, default, PageFaultErrorCode.For(kind, mode, present: true), level);

        updated = e | AccessFlag;
        if (kind == AccessKind.Write && !hwWritable) updated &= ~ApReadOnly; // DBM: the hardware makes it dirty
        flags |= PageFlags.Accessed;
        if ((updated & ApReadOnly) == 0 || (updated & SoftwareDirty) != 0) flags |= PageFlags.Dirty;
        int shift = LevelShift(level);
        ulong frame = (e & AddressMask & ~((1UL << shift) - 1)) >> 12;
        return new WalkResult(WalkStatus.Ok, new PageMapping(frame, flags, (byte)shift), default, level);
    }

    public PageFaultErrorCode ErrorCode(AccessKind kind, AccessMode mode, bool present, in CpuState cpu) => PageFaultErrorCode.For(kind, mode, present);

    public ulong SetDirty(ulong e) => (e & Dbm) != 0 ? (e | AccessFlag) & ~ApReadOnly : e | AccessFlag;

    public ulong Canonical(ulong va, bool upperTree) => upperTree ? va | UpperHalf : va;

    /// <summary>
    /// The fault status code (ESR_ELx.DFSC/IFSC) of a failed walk: translation fault level n = 0b0001nn, access flag
    /// fault = 0b0010nn, permission fault = 0b0011nn, with n the Arm lookup level (VmLab level 4 is Arm level 0).
    /// </summary>
    public static int FaultStatusCode(in WalkResult walk)
    {
        int armLevel = 4 - walk.Level;
        return walk.Status switch
        {
            WalkStatus.NotPresent or WalkStatus.Reserved => 0b000100 | armLevel,
            WalkStatus.AccessFlag => 0b001000 | armLevel,
            WalkStatus.Protection => 0b001100 | armLevel,
            _ => throw new ArgumentException("the walk did not fault", nameof(walk)),
        };
    }
}
