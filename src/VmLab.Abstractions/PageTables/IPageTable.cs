namespace VmLab.Abstractions.PageTables;

/// <summary>What a hardware walk found.</summary>
public enum WalkStatus : byte
{
    /// <summary>A present leaf that permits the access; <see cref="WalkResult.Leaf"/> is the translation.</summary>
    Ok = 0,
    /// <summary>No present translation (error code P = 0).</summary>
    NotPresent = 1,
    /// <summary>A present leaf that forbids the access (P = 1).</summary>
    Protection = 2,
    /// <summary>A reserved bit was set in an entry (P = 1, RSVD = 1).</summary>
    Reserved = 3,
    /// <summary>
    /// A present leaf whose Accessed flag is clear on hardware that does not set it (arm64 without FEAT_HAFDBS,
    /// RISC-V Svade): the access faults and the kernel marks the entry young (P = 1).
    /// </summary>
    AccessFlag = 4,
}

/// <summary>The result of one hardware walk: the leaf and, on failure, the error code and the level it stopped at.</summary>
public readonly record struct WalkResult(WalkStatus Status, PageMapping Leaf, PageFaultErrorCode ErrorCode, int Level)
{
    public bool IsOk => Status == WalkStatus.Ok;
}

/// <summary>Static facts about a page-table format.</summary>
public sealed record PageTableGeometry(string Architecture, int Levels, int VirtualAddressBits, IReadOnlyList<int> PageShifts)
{
    /// <summary>The lowest address of the kernel half (the upper canonical half on x86-64).</summary>
    public ulong KernelBase { get; init; } = VirtualAddressBits >= 64 ? 1UL << 63 : ~((1UL << (VirtualAddressBits - 1)) - 1);

    /// <summary>One past the highest user address.</summary>
    public ulong UserTop { get; init; } = 1UL << (VirtualAddressBits - 1);

    /// <summary>
    /// True when the hardware does not set Accessed and Dirty itself (arm64 without FEAT_HAFDBS, RISC-V Svade):
    /// an old entry, or a write to a clean writable entry, faults and the kernel updates the entry (a minor fault).
    /// </summary>
    public bool SoftwareAccessDirty { get; init; }

    /// <summary>User data addresses carry a tag in bits 63..56 that translation ignores (arm64 TBI0).</summary>
    public bool TopByteIgnore { get; init; }

    /// <summary>
    /// The fault handler requires execute permission of the VMA on an instruction fetch's first fault (arm64); x86
    /// handles a not-present fetch like a read and refuses it only on the retry.
    /// </summary>
    public bool ExecCheckedOnFirstFault { get; init; }

    /// <summary>
    /// The kernel half of this architecture: Linux's direct map and vmalloc range and how they are shared (null: no
    /// kernel half is modelled, and kernel memory is refused with a clear error).
    /// </summary>
    public KernelLayout? KernelLayout { get; init; }

    /// <summary>Strips the tag of a user data address when the architecture ignores the top byte.</summary>
    public ulong Untag(ulong address) => (address & (1UL << 55)) == 0 ? address & 0x00FF_FFFF_FFFF_FFFFUL : address;
}

/// <summary>
/// A page-table format. Tables live in <see cref="PhysicalMemory"/> frames in the architecture's encoding.
/// <see cref="Walk"/> is what the hardware does (reads entries, counts memory references, sets A/D);
/// the other members are what the kernel does (software updates, no memory references counted).
/// Implement it on a struct that holds references to its state to let the MMU specialise on it.
/// <para>
/// No call re-enters the format: a table frame it asks the frame allocator for is free or refused (the call then
/// returns false), never reclaimed from under it; the kernel reclaims between calls and calls again.
/// </para>
/// </summary>
public interface IPageTable
{
    PageTableGeometry Geometry { get; }

    /// <summary>False for addresses the hardware rejects before any walk (non-canonical on x86-64: #GP).</summary>
    bool IsCanonical(ulong vaddr);

    /// <summary>Allocates an empty top-level table; returns its physical address (CR3 / TTBR value).</summary>
    ulong CreateRoot();

    /// <summary>
    /// <see cref="CreateRoot"/> for a kernel path that must fail cleanly: false, with nothing allocated, when no frame is
    /// left for the table (fork and exec then return -ENOMEM). Formats whose tables come from the frame allocator
    /// should implement it; the default calls <see cref="CreateRoot"/>.
    /// </summary>
    bool TryCreateRoot(out ulong root)
    {
        root = CreateRoot();
        return true;
    }

    /// <summary>Frees every table page below and including the root. Leaf frames are the caller's.</summary>
    void DestroyRoot(ulong root);

    /// <summary>The hardware walk for one access.</summary>
    WalkResult Walk(ulong root, ulong vaddr, AccessKind kind, AccessMode mode, in CpuState cpu);

    /// <summary>The current leaf for <paramref name="vaddr"/> (Empty when none). Reads no counted memory.</summary>
    PageMapping Read(ulong root, ulong vaddr);

    /// <summary>
    /// Installs or replaces the leaf for <paramref name="vaddr"/>, allocating intermediate tables on the way down.
    /// Writing <see cref="PageMapping.Empty"/> clears it. False when a table page could not be allocated.
    /// </summary>
    bool Write(ulong root, ulong vaddr, in PageMapping mapping);

    /// <summary>
    /// The hardware's update of the leaf's Dirty bit on the first write through a TLB entry cached clean
    /// (no walk is counted; the TLB entry is refreshed by the caller).
    /// </summary>
    void SetDirty(ulong root, ulong vaddr);

    /// <summary>
    /// The kernel invalidated TLB entries of the address space rooted at <paramref name="root"/> for
    /// <paramref name="vaddr"/>: drop what the format's paging-structure caches hold for it. Formats without such
    /// caches need not implement it.
    /// </summary>
    void InvalidateWalkCaches(ulong root, ulong vaddr)
    {
    }

    /// <summary>
    /// Kernel: makes the top-level entry of <paramref name="root"/> that covers <paramref name="vaddr"/> a copy of
    /// <paramref name="referenceRoot"/>'s (the kernel half of an address space sharing the reference kernel tables,
    /// or a lazy vmalloc sync); a <paramref name="referenceRoot"/> of 0 clears it. False when the reference holds no
    /// entry there, or when the format has no per-process top level for that address (a shared kernel tree).
    /// </summary>
    bool ShareTopLevel(ulong root, ulong referenceRoot, ulong vaddr) => false;

    /// <summary>Kernel: allocates the next-level table under the top-level slot of <paramref name="root"/> covering <paramref name="vaddr"/>, if none. False when the format has no such slot or memory ran out.</summary>
    bool PrepareTopLevel(ulong root, ulong vaddr) => false;

    /// <summary>
    /// Kernel, after [<paramref name="start"/>, <paramref name="end"/>) was unmapped (munmap, mremap's shrink or move, brk's
    /// shrink, MAP_FIXED over a mapping): frees every table page below the root that no VMA can still use, as Linux's <c>free_pgd_range</c>
    /// (mm/memory.c). <paramref name="floor"/> is the end of the VMA before the range (0: none) and
    /// <paramref name="ceiling"/> the start of the VMA after it (0: none, the top of the address space); a table is
    /// freed when the whole span it covers lies in [floor, ceiling) and the range touches it, with Linux's rounding: a
    /// last-level table is kept when floor or ceiling falls inside the span it covers. The entry pointing to each freed
    /// table is cleared, its frame goes back to the frame allocator, and the format drops what its paging-structure
    /// caches hold for the root. Returns the number of table pages freed. The leaves in the range must already be
    /// clear. The default frees nothing (formats that keep their tables until the address space goes: 0).
    /// </summary>
    int FreeTables(ulong root, ulong start, ulong end, ulong floor, ulong ceiling) => 0;

    /// <summary>
    /// Adds the frame of every table page reachable from <paramref name="root"/> (the root included) to
    /// <paramref name="into"/>; a table already in the set is not descended again, so shared tables count once over
    /// several roots. False when the format cannot enumerate its tables (the invariant checker then skips the check).
    /// </summary>
    bool CollectTableFrames(ulong root, HashSet<ulong> into) => false;

    /// <summary>Appends every non-empty leaf in [<paramref name="start"/>, <paramref name="end"/>) in address order, skipping empty tables.</summary>
    void CollectLeaves(ulong root, ulong start, ulong end, List<(ulong Address, PageMapping Leaf)> into);
}
