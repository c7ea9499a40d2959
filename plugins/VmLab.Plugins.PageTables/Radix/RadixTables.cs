using System.Runtime.CompilerServices;
using VmLab.Abstractions;
using VmLab.Abstractions.Cache;
using VmLab.Abstractions.PageTables;

namespace VmLab.Plugins.PageTables.Radix;

/// <summary>
/// A radix (multi-level) page table in simulated physical memory, specialised on its format. The hardware walk
/// reads one entry per level with <see cref="PhysicalMemory.Read64"/> (fewer when the page-walk cache hits),
/// counts each read in <c>walk.memrefs</c> and <c>walk.memrefs.l&lt;N&gt;</c>, and lets the format decide
/// permissions and Accessed/Dirty updates. The kernel-side members (<see cref="Read"/>, <see cref="Write"/>, ...)
/// read and write the same entries without counting. Nothing here allocates on the host per walk.
/// <see cref="RadixPageTable{TFormat}"/> is the handle the MMU holds.
/// </summary>
public sealed class RadixTables<TFormat> where TFormat : struct, IRadixFormat
{
    private readonly TFormat _format;
    private readonly PhysicalMemory _memory;
    private readonly IFrameAllocator _frames;
    private readonly Counter _memrefs;
    private readonly Counter[] _memrefsPerLevel;
    private readonly PageWalkCache? _pwc;
    /// <summary>The data-cache hierarchy every entry the walker reads goes through (<c>machine:cache</c>), or null.</summary>
    private readonly ICacheHierarchy? _cache;
    private ulong _upperRoot;

    public RadixTables(TFormat format, int pwcEntries, PhysicalMemory memory, IFrameAllocator frames, IMetrics metrics, ICacheHierarchy? cache = null)
    {
        _cache = cache;
        _format = format;
        _memory = memory;
        _frames = frames;
        _memrefs = metrics.Counter(MetricNames.WalkMemrefs);
        _memrefsPerLevel = new Counter[format.Levels + 1];
        for (int l = 1; l <= format.Levels; l++) _memrefsPerLevel[l] = metrics.Counter($"walk.memrefs.l{l}");
        if (pwcEntries > 0) _pwc = new PageWalkCache(pwcEntries, format.Levels, metrics);
        foreach (int shift in format.Geometry.PageShifts)
            if (LevelMapping(format, shift) == 0)
                throw new ArgumentException($"{format.Geometry.Architecture}: no level's entries map 2^{shift}-byte pages", nameof(format));
    }

    public TFormat Format => _format;
    public PageTableGeometry Geometry => _format.Geometry;
    public int Levels => _format.Levels;
    public PageWalkCache? WalkCache => _pwc;

    /// <summary>The shared upper-half root of a split format (arm64 TTBR1), 0 until the kernel half is first written.</summary>
    public ulong UpperRoot => _upperRoot;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool IsCanonical(ulong va) => _format.IsCanonical(va);

    // ---- entries in memory ---------------------------------------------------------------------------------

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ulong EntryAddress(ulong table, ulong va, int level) =>
        table + ((ulong)_format.Index(va, level) << (_format.WideEntries ? 3 : 2));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ulong Load(ulong address)
    {
        if (_format.WideEntries) return _memory.Read64(address);
        ulong word = _memory.Read64(address & ~7UL);
        return (uint)(word >> (int)((address & 4) << 3));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Store(ulong address, ulong value)
    {
        if (_format.WideEntries)
        {
            _memory.Write64(address, value);
            return;
        }
        ulong aligned = address & ~7UL;
        int shift = (int)((address & 4) << 3);
        ulong word = _memory.Read64(aligned);
        word = (word & ~(0xFFFF_FFFFUL << shift)) | ((value & 0xFFFF_FFFFUL) << shift);
        _memory.Write64(aligned, word);
    }

    // ---- roots -----------------------------------------------------------------------------------------------

    public ulong CreateRoot() =>
        TryCreateRoot(out ulong root) ? root : throw new InvalidOperationException("out of physical memory for a top-level page table");

    /// <summary>A zeroed top-level table from the frame allocator (after direct reclaim, if any); false when none is left.</summary>
    public bool TryCreateRoot(out ulong root)
    {
        if (!_frames.TryAllocate(FrameUse.PageTable, out ulong pfn))
        {
            root = 0;
            return false;
        }
        root = pfn << PhysicalMemory.FrameShift;
        return true;
    }

    public void DestroyRoot(ulong root)
    {
        _pwc?.InvalidateRoot(root);
        FreeTable(root, _format.Levels);
    }

    /// <summary>Frees a table and every table below it; returns how many table pages that was.</summary>
    private int FreeTable(ulong table, int level)
    {
        int freed = 1;
        if (level > 1)
        {
            int count = _format.EntryCount(level);
            int size = _format.WideEntries ? 8 : 4;
            for (int i = 0; i < count; i++)
            {
                ulong e = Load(table + (ulong)(i * size));
                if (_format.Classify(e, level) == EntryClass.Table) freed += FreeTable(_format.TableAddress(e), level - 1);
            }
        }
        _frames.Free(table >> PhysicalMemory.FrameShift, FrameUse.PageTable);
        return freed;
    }

    // ---- freeing tables after an unmap (Linux free_pgd_range) -------------------------------------------------

    /// <summary>
    /// Frees the page-table pages below the root that only [<paramref name="start"/>, <paramref name="end"/>) used, as
    /// Linux's <c>free_pgd_range</c> does after unmapping it: <paramref name="floor"/> is the end of the VMA before the
    /// range (0: none), <paramref name="ceiling"/> the start of the VMA after it (0: none, the top of the address
    /// space). A last-level table is freed when the 2^LevelShift(2)-byte slot it covers touches the range and lies
    /// wholly in [floor, ceiling); a table above it when its whole span lies in [floor, ceiling) and inside the range's
    /// slots. The entry pointing to each is cleared, the frame returned to the allocator and the page-walk caches of
    /// the root dropped. Returns the number of table pages freed. The root and the kernel half are never touched.
    /// </summary>
    public int FreeTables(ulong root, ulong start, ulong end, ulong floor, ulong ceiling)
    {
        int levels = _format.Levels;
        if (root == 0 || levels < 2 || end <= start) return 0;
        ulong va = start;
        if (_format.SelectTree(ref va, AccessKind.Read, AccessMode.User) != 0 || va != start) return 0;
        ulong slot = 1UL << _format.LevelShift(2);   // what one last-level table covers (Linux PMD_SIZE)
        ulong slotMask = ~(slot - 1);
        // free_pgd_range's rounding: a slot the floor or the ceiling falls inside keeps its table.
        ulong addr = start & slotMask;
        if (addr < floor)
        {
            addr += slot;
            if (addr == 0) return 0;
        }
        if (ceiling != 0)
        {
            ceiling &= slotMask;
            if (ceiling == 0) return 0;
        }
        if (end - 1 > ceiling - 1) end -= slot;
        if (addr > end - 1) return 0;
        int freed = FreeRange(root, levels, addr, end, floor, ceiling);
        if (freed > 0) _pwc?.InvalidateRoot(root);
        return freed;
    }

    /// <summary>One level of <see cref="FreeTables"/>: the tables under <paramref name="table"/>'s entries for [addr, end).</summary>
    private int FreeRange(ulong table, int level, ulong addr, ulong end, ulong floor, ulong ceiling)
    {
        int freed = 0;
        ulong span = 1UL << _format.LevelShift(level);   // what one entry of this table covers
        do
        {
            ulong boundary = (addr & ~(span - 1)) + span;
            ulong next = boundary - 1 < end - 1 ? boundary : end;
            ulong slotAddress = EntryAddress(table, addr, level);
            ulong e = Load(slotAddress);
            if (_format.Classify(e, level) == EntryClass.Table)
            {
                ulong child = _format.TableAddress(e);
                if (level == 2)
                {
                    // free_pte_range: the range's rounding already kept every last-level table a VMA can still use.
                    Store(slotAddress, 0);
                    freed += FreeTable(child, 1);
                }
                else
                {
                    freed += FreeRange(child, level - 1, addr, next, floor, ceiling);
                    // free_pmd_range's tail (and free_pud_range's): the child goes only if no VMA can use its span.
                    ulong first = addr & ~(span - 1);
                    bool keep = first < floor;
                    if (!keep && ceiling != 0)
                    {
                        ulong c = ceiling & ~(span - 1);
                        keep = c == 0 || next - 1 > c - 1;
                    }
                    if (!keep)
                    {
                        Store(slotAddress, 0);
                        freed += FreeTable(child, level - 1);
                    }
                }
            }
            addr = next;
        }
        while (addr != end);
        return freed;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ulong TreeRoot(ulong root, int tree) => tree == 0 ? root : _upperRoot;

    public void InvalidateWalkCaches(ulong root)
    {
        if (_pwc is null) return;
        _pwc.InvalidateRoot(root);
        if (_upperRoot != 0) _pwc.InvalidateRoot(_upperRoot);
    }

    // ---- the hardware walk -----------------------------------------------------------------------------------

    public WalkResult Walk(ulong root, ulong va, AccessKind kind, AccessMode mode, in CpuState cpu)
    {
        int levels = _format.Levels;
        int tree = _format.SelectTree(ref va, kind, mode);
        ulong table = tree < 0 ? 0 : TreeRoot(root, tree);
        if (table == 0)
            return new WalkResult(WalkStatus.NotPresent, default, _format.ErrorCode(kind, mode, false, cpu), levels);

        int level = levels;
        uint rights = Rights.All;
        if (_pwc is not null)
        {
            int hit = _pwc.Lookup(_format, table, va, out ulong cached, out uint cachedRights);
            if (hit != 0)
            {
                level = hit - 1;
                rights = cachedRights;
                ulong treeRoot = table;
                table = cached;
                return WalkFrom(treeRoot, table, level, rights, va, kind, mode, cpu);
            }
        }
        return WalkFrom(table, table, level, rights, va, kind, mode, cpu);
    }

    private WalkResult WalkFrom(ulong treeRoot, ulong table, int level, uint rights, ulong va, AccessKind kind, AccessMode mode, in CpuState cpu)
    {
        for (; level >= 1; level--)
        {
            ulong address = EntryAddress(table, va, level);
            ulong e = Load(address);
            _memrefs.Value++;
            _memrefsPerLevel[level].Value++;
            _cache?.Access(address, CacheSource.Walk);
            switch (_format.Classify(e, level))
            {
                case EntryClass.Invalid:
                    return new WalkResult(WalkStatus.NotPresent, default, _format.ErrorCode(kind, mode, false, cpu), level);
                case EntryClass.Reserved:
                    return new WalkResult(WalkStatus.Reserved, default,
                        _format.ErrorCode(kind, mode, true, cpu).With(PageFaultErrorCode.ReservedBit), level);
                case EntryClass.Table:
                    rights = _format.Accumulate(rights, e, level);
                    ulong accessed = _format.TableAccessedBit(level);
                    if (accessed != 0 && (e & accessed) == 0) Store(address, e | accessed);
                    table = _format.TableAddress(e);
                    _pwc?.Insert(level, treeRoot, va >> _format.LevelShift(level), table, rights);
                    continue;
                default:
                    var result = _format.CompleteLeaf(e, level, rights, kind, mode, cpu, out ulong updated);
                    if (updated != e) Store(address, updated);
                    return result;
            }
        }
        throw new InvalidOperationException("a level-1 entry classified as a table");
    }

    // ---- the kernel's view -----------------------------------------------------------------------------------

    /// <summary>The address of the entry that maps <paramref name="va"/> (a leaf at any level, or the empty slot where the walk ends), or 0 when a table on the way is missing.</summary>
    private ulong FindLeafEntry(ulong root, ulong va, out int leafLevel)
    {
        int tree = _format.SelectTree(ref va, AccessKind.Read, AccessMode.User);
        ulong table = tree < 0 ? 0 : TreeRoot(root, tree);
        leafLevel = 0;
        if (table == 0) return 0;
        for (int level = _format.Levels; level >= 1; level--)
        {
            ulong address = EntryAddress(table, va, level);
            ulong e = Load(address);
            if (level == 1 || _format.Classify(e, level) != EntryClass.Table)
            {
                leafLevel = level;
                return address;
            }
            table = _format.TableAddress(e);
        }
        return 0;
    }

    public PageMapping Read(ulong root, ulong va)
    {
        ulong address = FindLeafEntry(root, va, out int level);
        if (address == 0) return PageMapping.Empty;
        return _format.DecodeLeaf(Load(address), level);
    }

    public void SetDirty(ulong root, ulong va)
    {
        ulong address = FindLeafEntry(root, va, out int level);
        if (address == 0) return;
        ulong e = Load(address);
        if (_format.Classify(e, level) == EntryClass.Leaf) Store(address, _format.SetDirty(e));
    }

    public bool Write(ulong root, ulong va, in PageMapping mapping)
    {
        if (mapping.IsEmpty)
        {
            // Clear whatever leaf maps the address, at whatever level.
            ulong address = FindLeafEntry(root, va, out int level);
            if (address != 0 && _format.Classify(Load(address), level) != EntryClass.Table) Store(address, 0);
            return true;
        }

        int leafLevel = LeafLevel(mapping.PageShift);
        int tree = _format.SelectTree(ref va, AccessKind.Read, AccessMode.User);
        if (tree < 0) throw new ArgumentOutOfRangeException(nameof(va), $"0x{va:x} is outside the {Geometry.Architecture} address space");
        if (tree == 1 && _upperRoot == 0 && !TryCreateRoot(out _upperRoot)) return false;
        ulong table = TreeRoot(root, tree);
        for (int level = _format.Levels; level > leafLevel; level--)
        {
            ulong address = EntryAddress(table, va, level);
            ulong e = Load(address);
            switch (_format.Classify(e, level))
            {
                case EntryClass.Table:
                    break;
                case EntryClass.Leaf:
                    throw new InvalidOperationException($"0x{va:x} is inside a {1UL << _format.LevelShift(level)}-byte page at level {level}");
                default:
                    if (!_frames.TryAllocate(FrameUse.PageTable, out ulong pfn)) return false;
                    e = _format.EncodeTable(pfn << PhysicalMemory.FrameShift, level, tree == 1);
                    Store(address, e);
                    break;
            }
            table = _format.TableAddress(e);
        }
        ulong leafAddress = EntryAddress(table, va, leafLevel);
        if (leafLevel > 1)
        {
            ulong old = Load(leafAddress);
            if (_format.Classify(old, leafLevel) == EntryClass.Table)
            {
                // A huge leaf replaces a table: the table and everything below it is freed (as a collapse does).
                FreeTable(_format.TableAddress(old), leafLevel - 1);
                _pwc?.InvalidateRoot(TreeRoot(root, tree));
            }
        }
        Store(leafAddress, _format.EncodeLeaf(mapping, leafLevel, tree == 1));
        return true;
    }

    /// <summary>
    /// The level a leaf of 2^<paramref name="pageShift"/> bytes lives at: the level whose entries map that size, for
    /// the sizes in <see cref="PageTableGeometry.PageShifts"/>; throws for a size the format has no pages of.
    /// </summary>
    public int LeafLevel(int pageShift)
    {
        var sizes = Geometry.PageShifts;
        for (int i = 0; i < sizes.Count; i++)
            if (sizes[i] == pageShift) return LevelMapping(_format, pageShift);
        string size = pageShift is >= 0 and < 64 ? $"{1UL << pageShift}-byte" : $"2^{pageShift}-byte";
        throw new ArgumentException($"{Geometry.Architecture} has no {size} pages ({string.Join(", ", sizes.Select(SizeText))})");
    }

    /// <summary>The level whose entries each map 2^<paramref name="shift"/> bytes, or 0.</summary>
    private static int LevelMapping(in TFormat format, int shift)
    {
        for (int level = 1; level <= format.Levels; level++)
            if (format.LevelShift(level) == shift) return level;
        return 0;
    }

    private static string SizeText(int shift) => shift switch
    {
        >= 40 => $"{1UL << (shift - 40)} TiB",
        >= 30 => $"{1UL << (shift - 30)} GiB",
        >= 20 => $"{1UL << (shift - 20)} MiB",
        _ => $"{1UL << (shift - 10)} KiB",
    };

    /// <summary>Copies (or, with a reference of 0, clears) the top-level entry covering <paramref name="va"/>.</summary>
    public bool ShareTopLevel(ulong root, ulong referenceRoot, ulong va)
    {
        if (_format.SelectTree(ref va, AccessKind.Read, AccessMode.Kernel) != 0) return false;
        int top = _format.Levels;
        ulong slot = EntryAddress(root, va, top);
        if (referenceRoot == 0)
        {
            Store(slot, 0);
        }
        else
        {
            ulong e = Load(EntryAddress(referenceRoot, va, top));
            if (_format.Classify(e, top) == EntryClass.Invalid) return false;
            Store(slot, e);
        }
        _pwc?.InvalidateRoot(root);
        return true;
    }

    /// <summary>Allocates the next-level table under the top-level slot covering <paramref name="va"/> if it has none.</summary>
    public bool PrepareTopLevel(ulong root, ulong va)
    {
        if (_format.SelectTree(ref va, AccessKind.Read, AccessMode.Kernel) != 0) return false;
        int top = _format.Levels;
        ulong slot = EntryAddress(root, va, top);
        if (_format.Classify(Load(slot), top) != EntryClass.Invalid) return true;
        if (!_frames.TryAllocate(FrameUse.PageTable, out ulong pfn)) return false;
        Store(slot, _format.EncodeTable(pfn << PhysicalMemory.FrameShift, top, upperTree: false));
        return true;
    }

    /// <summary>Adds every table page reachable from <paramref name="root"/> (and the shared upper-half root, if any) to <paramref name="into"/>.</summary>
    public void CollectTableFrames(ulong root, HashSet<ulong> into)
    {
        if (root != 0) CollectTables(root, _format.Levels, into);
        if (_upperRoot != 0) CollectTables(_upperRoot, _format.Levels, into);
    }

    private void CollectTables(ulong table, int level, HashSet<ulong> into)
    {
        if (!into.Add(table >> PhysicalMemory.FrameShift) || level == 1) return;
        int count = _format.EntryCount(level);
        int size = _format.WideEntries ? 8 : 4;
        for (int i = 0; i < count; i++)
        {
            ulong e = Load(table + (ulong)(i * size));
            if (e != 0 && _format.Classify(e, level) == EntryClass.Table) CollectTables(_format.TableAddress(e), level - 1, into);
        }
    }

    public void CollectLeaves(ulong root, ulong start, ulong end, List<(ulong Address, PageMapping Leaf)> into)
    {
        ulong table = TreeRoot(root, 0);
        if (table != 0) Collect(table, _format.Levels, 0, start, end, into, upper: false);
        if (_upperRoot != 0) Collect(_upperRoot, _format.Levels, 0, start, end, into, upper: true);
    }

    private void Collect(ulong table, int level, ulong baseVa, ulong start, ulong end, List<(ulong, PageMapping)> into, bool upper)
    {
        int shift = _format.LevelShift(level);
        int count = _format.EntryCount(level);
        int size = _format.WideEntries ? 8 : 4;
        for (int i = 0; i < count; i++)
        {
            ulong raw = baseVa + ((ulong)i << shift);
            ulong va = _format.Canonical(raw, upper);
            ulong last = va + ((1UL << shift) - 1);
            if (last < start || va >= end) continue;
            ulong e = Load(table + (ulong)(i * size));
            if (e == 0) continue;
            var cls = _format.Classify(e, level);
            if (cls == EntryClass.Table)
            {
                Collect(_format.TableAddress(e), level - 1, raw, start, end, into, upper);
                continue;
            }
            var leaf = _format.DecodeLeaf(e, level);
            if (!leaf.IsEmpty && (leaf.IsPresent || leaf.IsSwapped || leaf.IsProtNone)) into.Add((va, leaf));
        }
    }
}
