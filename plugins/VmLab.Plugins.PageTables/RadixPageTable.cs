using VmLab.Abstractions;
using VmLab.Abstractions.Cache;
using VmLab.Abstractions.PageTables;
using VmLab.Plugins.PageTables.Radix;

namespace VmLab.Plugins.PageTables;

/// <summary>
/// A radix format as the MMU is specialised on it: a handle whose copies share one <see cref="RadixTables{TFormat}"/>.
/// Closed over a format struct (<c>RadixPageTable&lt;X86_64Format&gt;</c>, ...), it is the page-table type argument
/// of <c>MmuEngine</c>, so every call from the engine down to the format's entry rules is resolved at JIT time.
/// </summary>
public readonly struct RadixPageTable<TFormat>(RadixTables<TFormat> tables) : IPageTable
    where TFormat : struct, IRadixFormat
{
    public RadixPageTable(TFormat format, PhysicalMemory memory, IFrameAllocator frames, IMetrics metrics, int pwcEntries = 0, ICacheHierarchy? cache = null)
        : this(new RadixTables<TFormat>(format, pwcEntries, memory, frames, metrics, cache))
    {
    }

    public RadixTables<TFormat> Tables => tables;
    public PageTableGeometry Geometry => tables.Geometry;
    public bool IsCanonical(ulong vaddr) => tables.IsCanonical(vaddr);
    public ulong CreateRoot() => tables.CreateRoot();
    public bool TryCreateRoot(out ulong root) => tables.TryCreateRoot(out root);
    public void DestroyRoot(ulong root) => tables.DestroyRoot(root);
    public WalkResult Walk(ulong root, ulong vaddr, AccessKind kind, AccessMode mode, in CpuState cpu) => tables.Walk(root, vaddr, kind, mode, cpu);
    public PageMapping Read(ulong root, ulong vaddr) => tables.Read(root, vaddr);
    public bool Write(ulong root, ulong vaddr, in PageMapping mapping) => tables.Write(root, vaddr, mapping);
    public void SetDirty(ulong root, ulong vaddr) => tables.SetDirty(root, vaddr);
    public void InvalidateWalkCaches(ulong root, ulong vaddr) => tables.InvalidateWalkCaches(root);
    public bool ShareTopLevel(ulong root, ulong referenceRoot, ulong vaddr) => tables.ShareTopLevel(root, referenceRoot, vaddr);
    public bool PrepareTopLevel(ulong root, ulong vaddr) => tables.PrepareTopLevel(root, vaddr);
    public int FreeTables(ulong root, ulong start, ulong end, ulong floor, ulong ceiling) => tables.FreeTables(root, start, end, floor, ceiling);
    public void CollectLeaves(ulong root, ulong start, ulong end, List<(ulong Address, PageMapping Leaf)> into) => tables.CollectLeaves(root, start, end, into);

    public bool CollectTableFrames(ulong root, HashSet<ulong> into)
    {
        tables.CollectTableFrames(root, into);
        return true;
    }
}
