using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
using System.Runtime.CompilerServices;
using VmLab.Abstractions;
using VmLab.Abstractions.PageTables;
using VmLab.Plugins.PageTables.Radix;

namespace VmLab.Plugins.PageTables;

/// <summary>RISC-V virtual-memory scheme (satp.MODE).</summary>
public enum RiscVMode
{
    /// <summary>3 levels, 39-bit addresses.</summary>
    Sv39,
    /// <summary>4 levels, 48-bit addresses.</summary>
    Sv48,
    /// <summary>5 levels, 57-bit addresses.</summary>
    Sv57,
}

public sealed record RiscVOptions
{
    [Description("Translation scheme: sv39 (3 levels), sv48 (4 levels) or sv57 (5 levels).")]
    public RiscVMode Mode { get; init; } = RiscVMode.Sv39;

    [Description("Hardware A/D updates (Svadu). Off (Svade): an access with A = 0, or a store with D = 0, takes a page fault and the kernel sets the bit (one more minor fault).")]
    public bool HardwareAccessDirty { get; init; } = true;

    [Description("Entries per upper level of the page-walk cache; 0 disables it: every walk reads one entry per level.")]
    [Range(0, 1024)]
    public int PwcEntries { get; init; }
}

/// <summary>
/// RISC-V Sv39/Sv48/Sv57 page tables (privileged spec §4.4-4.6): 512 eight-byte PTEs per table, 9 index bits per level.
/// PTE bits: 0 V, 1 R, 2 W, 3 X, 4 U, 5 G, 6 A, 7 D, 9..8 RSW, 53..10 PPN; 63..54 are reserved (no Svpbmt/Svnapot).
/// A PTE with any of R/W/X set is a leaf at any level: megapages (2 MiB), gigapages (1 GiB), terapages (512 GiB,
/// Sv48+) and petapages (256 TiB, Sv57). W without R, reserved bits, a misaligned superpage, or a non-leaf at the last
/// level are page faults (reported as reserved-bit faults). The virtual address must be sign-extended from its top
/// bit, otherwise a page fault (no general-protection fault on RISC-V). Supervisor accesses to U pages need SUM
/// (a uaccess window); the supervisor never executes U pages.
/// </summary>
public readonly struct RiscVFormat : IRadixFormat
{
    public const ulong V = 1UL << 0, R = 1UL << 1, W = 1UL << 2, X = 1UL << 3, U = 1UL << 4, G = 1UL << 5, A = 1UL << 6, D = 1UL << 7;
    /// <summary>A software (RSW) bit of an invalid PTE marking a swap entry.</summary>
    public const ulong SwapMarker = 1UL << 8;
    /// <summary>A PROT_NONE entry: V clear, Linux's _PAGE_PROT_NONE (the G bit position), frame, A and D kept.</summary>
    public const ulong ProtNoneBit = 1UL << 5;
    public const ulong ReservedHigh = 0xFFC0_0000_0000_0000UL;
    public const int PpnShift = 10;
    public const ulong PpnMask = (1UL << 44) - 1;

    private readonly int _vaBits;
    private readonly bool _hwAd;

    /// <summary>The format as the plugin's options configure it (<see cref="RiscVOptions.PwcEntries"/> sizes the tables' page-walk cache, not the format).</summary>
    public RiscVFormat(RiscVOptions options)
        : this(options.Mode, options.HardwareAccessDirty)
    {
    }

    public RiscVFormat(RiscVMode mode, bool hardwareAccessDirty)
    {
        Levels = mode switch { RiscVMode.Sv39 => 3, RiscVMode.Sv48 => 4, RiscVMode.Sv57 => 5, _ => throw new ArgumentOutOfRangeException(nameof(mode)) };
        _vaBits = 12 + 9 * Levels;
        _hwAd = hardwareAccessDirty;
        var shifts = new int[Levels];
        for (int l = 1; l <= Levels; l++) shifts[l - 1] = 12 + 9 * (l - 1);
        string name = $"riscv-{mode.ToString().ToLowerInvariant()}";
        Geometry = new PageTableGeometry(name, Levels, _vaBits, shifts)
        {
            SoftwareAccessDirty = !hardwareAccessDirty,
            // Linux riscv (Documentation/arch/riscv/vm-layout.rst): the direct map and vmalloc of each mode.
            KernelLayout = mode switch
            {
                RiscVMode.Sv39 => new KernelLayout(name, 0xffff_ffd6_0000_0000, 128 * (1UL << 30), 0xffff_ffc6_0000_0000, 0xffff_ffd6_0000_0000, 30, KernelHalfMode.Prepopulated),
                RiscVMode.Sv48 => new KernelLayout(name, 0xffff_d880_0000_0000, 32 * (1UL << 40), 0xffff_c880_0000_0000, 0xffff_d880_0000_0000, 39, KernelHalfMode.Prepopulated),
                _ => new KernelLayout(name, 0xff60_0000_0000_0000, 1UL << 54, 0xff20_0000_0000_0000, 0xff60_0000_0000_0000, 48, KernelHalfMode.Prepopulated),
            },
        };
    }

    public PageTableGeometry Geometry { get; }
    public int Levels { get; }
    public bool WideEntries => true;

    /// <summary>RISC-V has no general-protection fault: a badly extended address is a page fault.</summary>
    public bool IsCanonical(ulong va) => true;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int SelectTree(ref ulong va, AccessKind kind, AccessMode mode)
    {
        long shifted = (long)va >> (_vaBits - 1);
        return shifted == 0 || shifted == -1 ? 0 : -1;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int Index(ulong va, int level) => (int)((va >> (12 + 9 * (level - 1))) & 511);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int LevelShift(int level) => 12 + 9 * (level - 1);

    public int EntryCount(int level) => 512;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public EntryClass Classify(ulong e, int level)
    {
        if ((e & V) == 0) return EntryClass.Invalid;
        if ((e & ReservedHigh) != 0 || (e & (R | W)) == W) return EntryClass.Reserved;
        if ((e & (R | W | X)) == 0) return level == 1 ? EntryClass.Reserved : EntryClass.Table;
        ulong ppnLowMask = (1UL << (9 * (level - 1))) - 1;
        return ((e >> PpnShift) & ppnLowMask) != 0 ? EntryClass.Reserved : EntryClass.Leaf;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong TableAddress(ulong e) => ((e >> PpnShift) & PpnMask) << 12;

    public uint Accumulate(uint rights, ulong e, int level) => rights;

    public ulong TableAccessedBit(int level) => 0;

    /// <summary>Linux's <c>_PAGE_TABLE</c>: V only.</summary>
    public ulong EncodeTable(ulong tableAddress, int level, bool upperTree) => ((tableAddress >> 12) << PpnShift) | V;

    public ulong EncodeLeaf(in PageMapping m, int level, bool upperTree)
    {
        if (m.IsEmpty) return 0;
        if (m.IsSwapped) return ((m.Frame & PpnMask) << PpnShift) | SwapMarker;
        if (m.IsProtNone)
            return ((m.Frame & PpnMask) << PpnShift) | ProtNoneBit | ((m.Flags & PageFlags.Accessed) != 0 ? A : 0) | ((m.Flags & PageFlags.Dirty) != 0 ? D : 0);
        X86Paging.RequireAligned(m, LevelShift(level), Geometry.Architecture);
        if (m.Frame > PpnMask) throw new ArgumentException($"{Geometry.Architecture}: frame {m.Frame} does not fit the 44-bit PPN");
        var f = m.Flags;
        ulong e = (m.Frame << PpnShift) | R;
        if ((f & PageFlags.Present) != 0) e |= V;
        if ((f & PageFlags.Writable) != 0) e |= W;
        if ((f & PageFlags.NoExecute) == 0) e |= X;
        if ((f & PageFlags.User) != 0) e |= U;
        if ((f & PageFlags.Global) != 0) e |= G;
        if ((f & PageFlags.Accessed) != 0) e |= A;
        if ((f & PageFlags.Dirty) != 0) e |= D;
        return e;
    }

    public PageMapping DecodeLeaf(ulong e, int level)
    {
        if (e == 0) return PageMapping.Empty;
        if ((e & V) == 0)
        {
            if ((e & SwapMarker) != 0) return new PageMapping((e >> PpnShift) & PpnMask, PageFlags.Swapped);
            if ((e & ProtNoneBit) == 0) return PageMapping.Empty;
            var pn = PageFlags.ProtNone | ((e & A) != 0 ? PageFlags.Accessed : 0) | ((e & D) != 0 ? PageFlags.Dirty : 0);
            return new PageMapping((e >> PpnShift) & PpnMask, pn, (byte)LevelShift(level));
        }
        var f = PageFlags.Present;
        if ((e & W) != 0) f |= PageFlags.Writable;
        if ((e & X) == 0) f |= PageFlags.NoExecute;
        if ((e & U) != 0) f |= PageFlags.User;
        if ((e & G) != 0) f |= PageFlags.Global;
        if ((e & A) != 0) f |= PageFlags.Accessed;
        if ((e & D) != 0) f |= PageFlags.Dirty;
        return new PageMapping((e >> PpnShift) & PpnMask, f, (byte)LevelShift(level));
    }

    /// <summary>
    /// Permission first (R for loads, W for stores, X for fetches, U against the privilege, SUM for supervisor data
    /// accesses to U pages), then A/D: set by the hardware (Svadu) or a page fault (Svade).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public WalkResult CompleteLeaf(ulong e, int level, uint rights, AccessKind kind, AccessMode mode, in CpuState cpu, out ulong updated)
    {
        updated = e;
        bool user = (e & U) != 0;
        bool allowed = kind switch
        {
            AccessKind.Read => (e & R) != 0,
            AccessKind.Write => (e & W) != 0,
            _ => (e & X) != 0,
        };
        if (mode == AccessMode.User) allowed &= user;
        else if (user) allowed &= kind != AccessKind.Fetch && cpu.UaccessOpen; // SUM is set only inside uaccess windows
        if (!allowed)
            return new WalkResult(WalkStatus.Protection, default, PageFaultErrorCode.For(kind, mode, present: true), level);

        if (_hwAd)
        {
            updated = e | A;
            if (kind == AccessKind.Write) updated |= D;
        }
        else
        {
            if ((e & A) == 0)
                return new WalkResult(WalkStatus.AccessFlag, default, PageFaultErrorCode.For(kind, mode, present: true), level);
            if (kind == AccessKind.Write && (e & D) == 0)
                return new WalkResult(WalkStatus.Protection, default, PageFaultErrorCode.For(kind, mode, present: true), level);
        }

        var flags = PageFlags.Present | PageFlags.Accessed;
        // Without Svadu a clean page is cached read-only, so that a later store faults to set D.
        if ((e & W) != 0 && (_hwAd || (updated & D) != 0)) flags |= PageFlags.Writable;
        if ((updated & D) != 0) flags |= PageFlags.Dirty;
        if ((e & X) == 0) flags |= PageFlags.NoExecute;
        if (user) flags |= PageFlags.User;
        if ((e & G) != 0) flags |= PageFlags.Global;
        int shift = LevelShift(level);
        return new WalkResult(WalkStatus.Ok, new PageMapping((e >> PpnShift) & PpnMask, flags, (byte)shift), default, level);
    }

    public PageFaultErrorCode ErrorCode(AccessKind kind, AccessMode mode, bool present, in CpuState cpu) => PageFaultErrorCode.For(kind, mode, present);

    public ulong SetDirty(ulong e) => e | A | D;

    public ulong Canonical(ulong va, bool upperTree)
    {
        int unused = 64 - _vaBits;
        return (ulong)(((long)va << unused) >> unused);
    }
}
