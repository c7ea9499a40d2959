using VmLab.Abstractions;
using VmLab.Abstractions.PageTables;

namespace FooPlugin;

/// <summary>
/// A four-level radix page table for 48-bit virtual addresses and 4 KiB pages: 9 bits of the address index each
/// level's table of 512 eight-byte entries, each table one simulated frame. An entry holds <see cref="PageFlags"/> in
/// bits 0–15 and the frame number above (a swap entry keeps its slot there). The walk reads one entry per level
/// (each read is a memory reference, counted in <c>walk.memrefs</c>), checks the leaf's permissions as x86 does
/// (user/supervisor, write, no-execute, SMAP and SMEP) and sets Accessed, and Dirty on a write, in the leaf.
/// Protection keys and huge pages are not modelled.
/// </summary>
public sealed class FooPlugin(PhysicalMemory memory, IFrameAllocator frames, IMetrics metrics) : IPageTable
{
    public const int Levels = 4;
    private const int BitsPerLevel = 9;
    private const int EntriesPerTable = 1 << BitsPerLevel;
    private const int FlagBits = 16;
    private const ulong FlagMask = (1UL << FlagBits) - 1;

    private readonly Counter _memrefs = metrics.Counter(MetricNames.WalkMemrefs);

    public PageTableGeometry Geometry { get; } = new("foo", Levels, 48, [12]);

    private static ulong Encode(in PageMapping m) => (m.Frame << FlagBits) | (ulong)m.Flags;
    private static PageMapping Decode(ulong entry) => new(entry >> FlagBits, (PageFlags)(entry & FlagMask));
    private static ulong TableEntry(ulong pfn) => (pfn << FlagBits) | (ulong)PageFlags.Present;
    private static ulong TableOf(ulong entry) => (entry >> FlagBits) << PhysicalMemory.FrameShift;

    /// <summary>Physical address of the entry for <paramref name="vaddr"/> in the table at <paramref name="table"/>, at <paramref name="level"/> (4 = top, 1 = leaf).</summary>
    private static ulong EntryAddress(ulong table, ulong vaddr, int level) =>
        table + ((vaddr >> (PhysicalMemory.FrameShift + (level - 1) * BitsPerLevel)) & (EntriesPerTable - 1)) * 8;

    public bool IsCanonical(ulong vaddr)
    {
        ulong top = vaddr >> 47; // bits 63..47 must all be equal
        return top == 0 || top == (1UL << 17) - 1;
    }

    public ulong CreateRoot() => TryCreateRoot(out ulong root) ? root : throw new InvalidOperationException("no frame for a page-table root");

    public bool TryCreateRoot(out ulong root)
    {
        root = 0;
        if (!frames.TryAllocate(FrameUse.PageTable, out ulong pfn)) return false;
        root = pfn << PhysicalMemory.FrameShift;
        return true;
    }

    public void DestroyRoot(ulong root) => FreeTable(root, Levels);

    private void FreeTable(ulong table, int level)
    {
        if (level > 1)
            for (int i = 0; i < EntriesPerTable; i++)
            {
                ulong entry = memory.Read64(table + (ulong)i * 8);
                if ((entry & (ulong)PageFlags.Present) != 0) FreeTable(TableOf(entry), level - 1);
            }
        frames.Free(table >> PhysicalMemory.FrameShift, FrameUse.PageTable);
    }

    public WalkResult Walk(ulong root, ulong vaddr, AccessKind kind, AccessMode mode, in CpuState cpu)
    {
        ulong table = root;
        for (int level = Levels; level >= 1; level--)
        {
            ulong address = EntryAddress(table, vaddr, level);
            ulong entry = memory.Read64(address);
            _memrefs.Increment();
            if ((entry & (ulong)PageFlags.Present) == 0)
                return new WalkResult(WalkStatus.NotPresent, Decode(entry), PageFaultErrorCode.For(kind, mode, present: false), level);
            if (level > 1)
            {
                table = TableOf(entry);
                continue;
            }
            var leaf = Decode(entry);
            if (!Permits(leaf, kind, mode, cpu))
                return new WalkResult(WalkStatus.Protection, leaf, PageFaultErrorCode.For(kind, mode, present: true), level);
            var updated = leaf.With(kind == AccessKind.Write ? PageFlags.Accessed | PageFlags.Dirty : PageFlags.Accessed);
            if (updated.Flags != leaf.Flags) memory.Write64(address, Encode(updated)); // the hardware's A/D update
            return new WalkResult(WalkStatus.Ok, updated, default, level);
        }
        throw new InvalidOperationException("unreachable");
    }

    private static bool Permits(in PageMapping leaf, AccessKind kind, AccessMode mode, in CpuState cpu)
    {
        bool user = leaf.Has(PageFlags.User);
        if (mode == AccessMode.User && !user) return false;
        if (kind == AccessKind.Write && !leaf.Has(PageFlags.Writable)) return false;
        if (kind == AccessKind.Fetch && leaf.Has(PageFlags.NoExecute)) return false;
        if (mode == AccessMode.Kernel && user)
        {
            if (kind == AccessKind.Fetch && cpu.Smep) return false;
            if (kind != AccessKind.Fetch && cpu.Smap && !cpu.UaccessOpen) return false;
        }
        return true;
    }

    public PageMapping Read(ulong root, ulong vaddr)
    {
        ulong table = root;
        for (int level = Levels; level > 1; level--)
        {
            ulong entry = memory.Read64(EntryAddress(table, vaddr, level));
            if ((entry & (ulong)PageFlags.Present) == 0) return PageMapping.Empty;
            table = TableOf(entry);
        }
        return Decode(memory.Read64(EntryAddress(table, vaddr, 1)));
    }

    public bool Write(ulong root, ulong vaddr, in PageMapping mapping)
    {
        ulong table = root;
        for (int level = Levels; level > 1; level--)
        {
            ulong address = EntryAddress(table, vaddr, level);
            ulong entry = memory.Read64(address);
            if ((entry & (ulong)PageFlags.Present) == 0)
            {
                if (mapping.IsEmpty) return true; // nothing mapped there: nothing to clear
                if (!frames.TryAllocate(FrameUse.PageTable, out ulong pfn)) return false;
                entry = TableEntry(pfn);
                memory.Write64(address, entry);
            }
            table = TableOf(entry);
        }
        memory.Write64(EntryAddress(table, vaddr, 1), Encode(mapping));
        return true;
    }

    public void SetDirty(ulong root, ulong vaddr)
    {
        var leaf = Read(root, vaddr);
        if (leaf.IsPresent && !leaf.Has(PageFlags.Dirty)) Write(root, vaddr, leaf.With(PageFlags.Dirty));
    }

    public bool CollectTableFrames(ulong root, HashSet<ulong> into)
    {
        Collect(root, Levels, into);
        return true;
    }

    private void Collect(ulong table, int level, HashSet<ulong> into)
    {
        if (!into.Add(table >> PhysicalMemory.FrameShift) || level == 1) return;
        for (int i = 0; i < EntriesPerTable; i++)
        {
            ulong entry = memory.Read64(table + (ulong)i * 8);
            if ((entry & (ulong)PageFlags.Present) != 0) Collect(TableOf(entry), level - 1, into);
        }
    }

    // IPageTable.FreeTables (Linux's free_pgd_range after an unmap) keeps its default here, which frees nothing: this
    // format keeps its tables until DestroyRoot, so pagetable.pages_freed stays 0 where Linux would count freed tables.

    public void CollectLeaves(ulong root, ulong start, ulong end, List<(ulong Address, PageMapping Leaf)> into) =>
        Leaves(root, Levels, 0, start, end, into);

    private void Leaves(ulong table, int level, ulong baseAddress, ulong start, ulong end, List<(ulong Address, PageMapping Leaf)> into)
    {
        int shift = PhysicalMemory.FrameShift + (level - 1) * BitsPerLevel;
        for (int i = 0; i < EntriesPerTable; i++)
        {
            ulong from = baseAddress + ((ulong)i << shift);
            if (level == Levels && i >= EntriesPerTable / 2) from |= ~((1UL << 48) - 1); // the upper half is sign-extended
            ulong last = from + ((1UL << shift) - 1);
            if (last < start || from >= end) continue;
            ulong entry = memory.Read64(table + (ulong)i * 8);
            if (level == 1)
            {
                if (entry != 0) into.Add((from, Decode(entry)));
            }
            else if ((entry & (ulong)PageFlags.Present) != 0)
            {
                Leaves(TableOf(entry), level - 1, from, start, end, into);
            }
        }
    }
}
