using VmLab.Abstractions;
using VmLab.Abstractions.PageTables;

namespace VmLab.Plugins.PageTables.Radix;

/// <summary>What an entry met during a walk is.</summary>
public enum EntryClass : byte
{
    /// <summary>Not valid: the walk stops with a not-present (translation) fault.</summary>
    Invalid = 0,
    /// <summary>Points to the next-level table.</summary>
    Table = 1,
    /// <summary>Maps a page (at level 1) or a block / huge page (above).</summary>
    Leaf = 2,
    /// <summary>Valid but with a reserved bit or encoding set: the walk stops with a reserved-bit fault.</summary>
    Reserved = 3,
}

/// <summary>Access rights accumulated from the table entries above a leaf (x86 R/W and U/S, arm64 APTable/XNTable).</summary>
public static class Rights
{
    public const uint Writable = 1;
    public const uint User = 2;
    public const uint NoExecute = 4;
    public const uint PrivilegedNoExecute = 8;
    public const uint All = Writable | User;
}

/// <summary>
/// The architecture-specific part of a radix page table: entry encoding, indexing and the leaf's permission and
/// Accessed/Dirty rules. <see cref="RadixTables{TFormat}"/> does the rest (walking, allocation, page-walk caches,
/// counting) and <see cref="RadixPageTable{TFormat}"/> is the <see cref="IPageTable"/> the MMU is specialised on.
/// Implemented by readonly structs so the generic walker is specialised on each format.
/// Levels are numbered from the leaf: level 1 holds 4 KiB pages, level <see cref="Levels"/> is the root.
/// </summary>
public interface IRadixFormat
{
    /// <summary>
    /// Static facts about the format. <see cref="PageTableGeometry.PageShifts"/> lists its page sizes: a page of
    /// 2^n bytes is a leaf at the level whose <see cref="LevelShift"/> is n, and no other size can be written.
    /// </summary>
    PageTableGeometry Geometry { get; }

    int Levels { get; }

    /// <summary>True for 8-byte entries, false for 4-byte entries (x86-32 without PAE).</summary>
    bool WideEntries { get; }

    /// <summary>False for addresses the hardware rejects before any walk with a general-protection fault.</summary>
    bool IsCanonical(ulong va);

    /// <summary>
    /// Which table tree translates <paramref name="va"/>: 0 the process's root, 1 the shared upper (kernel) root of a
    /// split format (arm64 TTBR1), -1 none (a translation fault at the top level, no entry read). May rewrite
    /// <paramref name="va"/> (arm64 top-byte-ignore).
    /// </summary>
    int SelectTree(ref ulong va, AccessKind kind, AccessMode mode);

    int Index(ulong va, int level);

    /// <summary>log2 of the bytes one entry at <paramref name="level"/> maps.</summary>
    int LevelShift(int level);

    /// <summary>Entries in a table at <paramref name="level"/>.</summary>
    int EntryCount(int level);

    EntryClass Classify(ulong entry, int level);

    /// <summary>The physical address of the table a <see cref="EntryClass.Table"/> entry points to.</summary>
    ulong TableAddress(ulong entry);

    /// <summary>Narrows <paramref name="rights"/> by a table entry's hierarchical controls.</summary>
    uint Accumulate(uint rights, ulong entry, int level);

    /// <summary>The bit the hardware sets in a table entry at <paramref name="level"/> it walks through (x86 A), or 0.</summary>
    ulong TableAccessedBit(int level);

    /// <summary>The entry the kernel writes at <paramref name="level"/> to link a new table (Linux <c>pmd_populate</c> and friends).</summary>
    ulong EncodeTable(ulong tableAddress, int level, bool upperTree);

    ulong EncodeLeaf(in PageMapping mapping, int level, bool upperTree);

    /// <summary>The neutral view of a leaf-position entry (present, swap or empty), as the kernel reads it.</summary>
    PageMapping DecodeLeaf(ulong entry, int level);

    /// <summary>
    /// The hardware's decision on a leaf: the permission check with <paramref name="rights"/>, Accessed/Dirty
    /// updates (<paramref name="updated"/> is written back when it differs) or the fault that replaces them.
    /// </summary>
    WalkResult CompleteLeaf(ulong entry, int level, uint rights, AccessKind kind, AccessMode mode, in CpuState cpu, out ulong updated);

    /// <summary>The error code of a fault the walk itself raises (not present or reserved bit).</summary>
    PageFaultErrorCode ErrorCode(AccessKind kind, AccessMode mode, bool present, in CpuState cpu);

    /// <summary>The entry after the hardware's Dirty update on a write through a TLB entry cached clean.</summary>
    ulong SetDirty(ulong entry);

    /// <summary>The canonical form of an address rebuilt from table indices (sign extension on x86-64 and RISC-V).</summary>
    ulong Canonical(ulong va, bool upperTree);
}
