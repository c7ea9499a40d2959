using VmLab.Abstractions;
using VmLab.Abstractions.PageTables;

namespace VmLab.Core.Tests.Fakes;

/// <summary>
/// The smallest honest page table the kernel model can run on: a radix tree of <see cref="Levels"/> levels, each table
/// one 4 KiB frame of 512 eight-byte entries taken from the frame allocator, indexed by 9 address bits per level
/// (12 + 9 · levels virtual-address bits, sign-extended). 4 KiB pages only. The walk reads the entries back from
/// <see cref="PhysicalMemory"/> and counts each read in <c>walk.memrefs</c>.
/// <para>
/// Entry encoding (chosen to be obvious, not to match any architecture): 0 is empty; bit 10 (<see cref="TableBit"/>)
/// marks a pointer to the next-level table; in a level-1 entry bits 0..9 are the <see cref="PageFlags"/> verbatim and
/// bits 11..14 the protection key; bits 16..63 are the frame number (the table's, the page's, or a swap slot).
/// </para>
/// With four levels its user half is the 47-bit one the tests' addresses assume; with fewer it has no kernel half.
/// </summary>
public sealed class FakePageTable : IPageTable
{
    public const ulong TableBit = 1UL << 10;
    private const int FlagBits = 10;
    private const int KeyShift = 11;
    private const int FrameShift = 16;
    private const int IndexBits = 9;
    private const int EntriesPerTable = 1 << IndexBits;

    private readonly PhysicalMemory _memory;
    private readonly IFrameAllocator _frames;
    private readonly Counter _memrefs;

    public FakePageTable(PhysicalMemory memory, IFrameAllocator frames, IMetrics metrics, int levels = 4)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(levels, 2);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(levels, 4);
        _memory = memory;
        _frames = frames;
        _memrefs = metrics.Counter(MetricNames.WalkMemrefs);
        Levels = levels;
        int bits = 12 + IndexBits * levels;
        ulong kernelBase = ~((1UL << (bits - 1)) - 1);
        Geometry = new PageTableGeometry("fake", levels, bits, [12])
        {
            // One top-level slot of direct map at the start of the kernel half, then two slots of vmalloc space a slot
            // further up, pre-populated as x86-64 does. Only the 48-bit tree has a kernel half: the kernel model walks
            // the sign-extended kernel half to the top of the address space, which needs 48 bits or more.
            KernelLayout = levels == 4
                ? new KernelLayout("fake", kernelBase, 1UL << TopShift, kernelBase + (2UL << TopShift), kernelBase + (4UL << TopShift), TopShift, KernelHalfMode.Prepopulated)
                : null,
        };
    }

    public int Levels { get; }

    /// <summary>log2 of the span of one top-level entry.</summary>
    public int TopShift => 12 + IndexBits * (Levels - 1);

    public PageTableGeometry Geometry { get; }

    public bool IsCanonical(ulong vaddr)
    {
        int bits = Geometry.VirtualAddressBits;
        ulong upper = vaddr >> (bits - 1);
        return upper == 0 || upper == ulong.MaxValue >> (bits - 1);
    }

    public ulong CreateRoot() => TryCreateRoot(out ulong root) ? root : throw new InvalidOperationException("no frame for a root table");

    public bool TryCreateRoot(out ulong root)
    {
        bool ok = _frames.TryAllocate(FrameUse.PageTable, out ulong pfn);
        root = ok ? pfn << PhysicalMemory.FrameShift : 0;
        return ok;
    }

    public void DestroyRoot(ulong root) => FreeTable(root, Levels);

    private void FreeTable(ulong table, int level)
    {
        if (level > 1)
            for (int i = 0; i < EntriesPerTable; i++)
            {
                ulong e = _memory.Read64(table + (ulong)i * 8);
                if ((e & TableBit) != 0) FreeTable(Address(e), level - 1);
            }
        _frames.Free(table >> PhysicalMemory.FrameShift, FrameUse.PageTable);
    }

    public WalkResult Walk(ulong root, ulong vaddr, AccessKind kind, AccessMode mode, in CpuState cpu)
    {
        if (root == 0) return new WalkResult(WalkStatus.NotPresent, default, PageFaultErrorCode.For(kind, mode, false), Levels);
        ulong table = root;
        for (int level = Levels; level >= 1; level--)
        {
            ulong slot = Slot(table, vaddr, level);
            ulong e = _memory.Read64(slot);
            _memrefs.Value++;
            if (level > 1)
            {
                if ((e & TableBit) == 0) return new WalkResult(WalkStatus.NotPresent, default, PageFaultErrorCode.For(kind, mode, false), level);
                table = Address(e);
                continue;
            }
            var leaf = Decode(e);
            if (!leaf.IsPresent) return new WalkResult(WalkStatus.NotPresent, default, PageFaultErrorCode.For(kind, mode, false), level);
            var verdict = AccessCheck.Check(leaf.Flags, leaf.ProtectionKey, kind, mode, cpu);
            if (verdict != AccessVerdict.Allowed)
            {
                var code = PageFaultErrorCode.For(kind, mode, true);
                if (verdict == AccessVerdict.DeniedByKey) code = code.With(PageFaultErrorCode.ProtectionKeyBit);
                return new WalkResult(WalkStatus.Protection, default, code, level);
            }
            // The hardware's Accessed and Dirty updates.
            var updated = leaf.With(kind == AccessKind.Write ? PageFlags.Accessed | PageFlags.Dirty : PageFlags.Accessed);
            if (updated != leaf) _memory.Write64(slot, Encode(updated));
            return new WalkResult(WalkStatus.Ok, updated, default, level);
        }
        throw new InvalidOperationException("unreachable");
    }

    public PageMapping Read(ulong root, ulong vaddr)
    {
        ulong slot = LeafSlot(root, vaddr, allocate: false);
        return slot == 0 ? PageMapping.Empty : Decode(_memory.Read64(slot));
    }

    public bool Write(ulong root, ulong vaddr, in PageMapping mapping)
    {
        if (mapping.PageShift != 12) throw new ArgumentException($"the fake page table has 4 KiB pages only, not 2^{mapping.PageShift}", nameof(mapping));
        ulong slot = LeafSlot(root, vaddr, allocate: !mapping.IsEmpty);
        if (slot == 0) return mapping.IsEmpty;
        _memory.Write64(slot, Encode(mapping));
        return true;
    }

    public void SetDirty(ulong root, ulong vaddr)
    {
        ulong slot = LeafSlot(root, vaddr, allocate: false);
        if (slot == 0) return;
        var leaf = Decode(_memory.Read64(slot));
        if (leaf.IsPresent) _memory.Write64(slot, Encode(leaf.With(PageFlags.Dirty)));
    }

    public bool ShareTopLevel(ulong root, ulong referenceRoot, ulong vaddr)
    {
        ulong slot = Slot(root, vaddr, Levels);
        if (referenceRoot == 0)
        {
            _memory.Write64(slot, 0);
            return true;
        }
        ulong e = _memory.Read64(Slot(referenceRoot, vaddr, Levels));
        if (e == 0) return false;
        _memory.Write64(slot, e);
        return true;
    }

    public bool PrepareTopLevel(ulong root, ulong vaddr)
    {
        ulong slot = Slot(root, vaddr, Levels);
        if (_memory.Read64(slot) != 0) return true;
        if (!_frames.TryAllocate(FrameUse.PageTable, out ulong pfn)) return false;
        _memory.Write64(slot, pfn << FrameShift | TableBit);
        return true;
    }

    public bool CollectTableFrames(ulong root, HashSet<ulong> into)
    {
        if (root != 0) CollectTables(root, Levels, into);
        return true;
    }

    private void CollectTables(ulong table, int level, HashSet<ulong> into)
    {
        if (!into.Add(table >> PhysicalMemory.FrameShift) || level == 1) return;
        for (int i = 0; i < EntriesPerTable; i++)
        {
            ulong e = _memory.Read64(table + (ulong)i * 8);
            if ((e & TableBit) != 0) CollectTables(Address(e), level - 1, into);
        }
    }

    public void CollectLeaves(ulong root, ulong start, ulong end, List<(ulong Address, PageMapping Leaf)> into)
    {
        if (root != 0) Collect(root, Levels, 0, start, end, into);
    }

    private void Collect(ulong table, int level, ulong prefix, ulong start, ulong end, List<(ulong, PageMapping)> into)
    {
        int shift = 12 + IndexBits * (level - 1);
        for (int i = 0; i < EntriesPerTable; i++)
        {
            ulong va = SignExtend(prefix | (ulong)i << shift);
            if (va + ((1UL << shift) - 1) < start || va >= end) continue;
            ulong e = _memory.Read64(table + (ulong)i * 8);
            if (e == 0) continue;
            if (level > 1) Collect(Address(e), level - 1, prefix | (ulong)i << shift, start, end, into);
            else into.Add((va, Decode(e)));
        }
    }

    /// <summary>The address of the level-1 entry for <paramref name="vaddr"/>, allocating missing tables when asked; 0 when a table is missing (or could not be had).</summary>
    private ulong LeafSlot(ulong root, ulong vaddr, bool allocate)
    {
        if (root == 0) return allocate ? throw new ArgumentException("no root table (0)", nameof(root)) : 0UL;
        ulong table = root;
        for (int level = Levels; level > 1; level--)
        {
            ulong slot = Slot(table, vaddr, level);
            ulong e = _memory.Read64(slot);
            if ((e & TableBit) == 0)
            {
                if (!allocate || !_frames.TryAllocate(FrameUse.PageTable, out ulong pfn)) return 0;
                e = pfn << FrameShift | TableBit;
                _memory.Write64(slot, e);
            }
            table = Address(e);
        }
        return Slot(table, vaddr, 1);
    }

    private static ulong Slot(ulong table, ulong vaddr, int level) =>
        table + ((vaddr >> (12 + IndexBits * (level - 1))) & (EntriesPerTable - 1)) * 8;

    private static ulong Address(ulong entry) => (entry >> FrameShift) << PhysicalMemory.FrameShift;

    private ulong SignExtend(ulong va)
    {
        int unused = 64 - Geometry.VirtualAddressBits;
        return (ulong)((long)(va << unused) >> unused);
    }

    public static ulong Encode(in PageMapping m) =>
        m.IsEmpty ? 0 : m.Frame << FrameShift | (ulong)(m.ProtectionKey & 0xF) << KeyShift | (ulong)m.Flags;

    public static PageMapping Decode(ulong e) =>
        e == 0 ? PageMapping.Empty : new PageMapping(e >> FrameShift, (PageFlags)(e & ((1UL << FlagBits) - 1)), 12, (byte)((e >> KeyShift) & 0xF));
}
