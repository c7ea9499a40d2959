using System.Numerics;
using VmLab.Abstractions;
using VmLab.Abstractions.Faults;
using VmLab.Abstractions.PageTables;
using VmLab.Abstractions.Plugins;
using VmLab.Core.Memory;

namespace VmLab.Core.Kernel;

/// <summary>
/// The kernel half: the reference table (init_mm) with the direct map over physical memory, sharing it into every
/// address space, vmalloc and its lazy sync on x86-32, and kmalloc/kfree from buddy blocks. Built on first use, so runs
/// that never touch kernel memory pay nothing. Tables it needs are reclaimed for between attempts, on the CPU named.
/// </summary>
public sealed class KernelHalf
{
    private readonly KernelModel _k;

    internal KernelHalf(KernelModel kernel) => _k = kernel;

    private KernelLayout? _layout;
    private ulong _initRoot;
    private ulong _vmallocNext;

    public KernelLayout Layout => _layout ??= _k.Geometry.KernelLayout ?? KernelLayout.Unsupported(_k.Geometry.Architecture);

    /// <summary>The reference kernel page table (init_mm), 0 until kernel memory is first used.</summary>
    public ulong InitRoot => _initRoot;

    /// <summary>
    /// Builds the kernel half on first use: the reference table with the direct map over all of physical memory (the
    /// largest pages the format has) and, where the layout pre-populates, the vmalloc range's top-level slots; then
    /// shares it into every existing address space. Runs that never touch kernel memory pay nothing.
    /// </summary>
    public void Ensure(int cpu)
    {
        if (_initRoot != 0) return;
        var layout = Layout;
        if (layout.Mode == KernelHalfMode.Unsupported)
            throw new VmLabInputException("machine:pageTable", $"kernel memory (kmalloc, vmalloc, kernel accesses) is not modelled for the {_k.Geometry.Architecture} format; use x86-64, x86-32, x86-32-pae, arm64 or riscv");
        long free = _k.Frames.FreeFrames;
        var pageTable = _k.PageTable;
        while (!pageTable.TryCreateRoot(out _initRoot))
            if (!_k.Reclaim.ReclaimOne(direct: true, cpu)) throw TooSmall(free);
        _vmallocNext = layout.VmallocStart;

        ulong bytes = Math.Min((ulong)_k.Memory.FrameCount << 12, layout.DirectMapLimit);
        var flags = PageFlags.Present | PageFlags.Writable | PageFlags.Global | PageFlags.NoExecute | PageFlags.Accessed | PageFlags.Dirty;
        ulong offset = 0;
        while (offset < bytes)
        {
            int shift = 12;
            foreach (int s in _k.Geometry.PageShifts)
                if (s > shift && (offset & ((1UL << s) - 1)) == 0 && offset + (1UL << s) <= bytes) shift = s;
            while (!pageTable.Write(_initRoot, layout.DirectMapBase + offset, new PageMapping(offset >> 12, flags, (byte)shift)))
                if (!_k.Reclaim.ReclaimOne(direct: true, cpu)) throw TooSmall(free);
            offset += 1UL << shift;
        }
        if (layout.Mode == KernelHalfMode.Prepopulated)
        {
            for (ulong va = layout.VmallocStart; va < layout.VmallocEnd && va >= layout.VmallocStart; va += 1UL << layout.TopLevelShift)
                while (!pageTable.PrepareTopLevel(_initRoot, va))
                    if (!_k.Reclaim.ReclaimOne(direct: true, cpu)) throw TooSmall(free);
        }
        foreach (var p in _k.Processes.All) Share(p.Mm);
    }

    private VmLabInputException TooSmall(long free) => new("machine:memory:frames",
        $"{_k.Memory.FrameCount} frames are too few for the kernel's own page tables (the direct map and, on {_k.Geometry.Architecture}, the pre-populated vmalloc range): " +
        $"they are built at the first use of kernel memory, when {free} frames were free; give the machine more frames, or use kernel memory (e.g. a kmalloc) before user pages fill it");

    /// <summary>Copies the reference table's kernel-half top-level entries into an address space (pgd_alloc).</summary>
    internal void Share(AddressSpace mm)
    {
        if (_initRoot == 0 || mm.Root == _initRoot || mm.KernelShared) return;
        if (Layout.Mode is KernelHalfMode.Prepopulated or KernelHalfMode.LazySync)
            foreach (ulong va in KernelTopLevelSlots()) _k.PageTable.ShareTopLevel(mm.Root, _initRoot, va);
        mm.KernelShared = true;
    }

    /// <summary>Clears the shared kernel-half entries before a root is destroyed, so the shared tables are never freed with it.</summary>
    internal void Unshare(AddressSpace mm)
    {
        if (!mm.KernelShared) return;
        if (Layout.Mode is KernelHalfMode.Prepopulated or KernelHalfMode.LazySync)
            foreach (ulong va in KernelTopLevelSlots()) _k.PageTable.ShareTopLevel(mm.Root, 0, va);
        mm.KernelShared = false;
    }

    private IEnumerable<ulong> KernelTopLevelSlots()
    {
        ulong step = 1UL << Layout.TopLevelShift;
        // 32-bit formats end at 4 GiB; 64-bit ones run (sign-extended) to the top of the address space.
        var geometry = _k.Geometry;
        ulong last = geometry.VirtualAddressBits < 48 ? (1UL << geometry.VirtualAddressBits) - 1 : ulong.MaxValue;
        for (ulong va = geometry.KernelBase; va <= last; va += step)
        {
            yield return va;
            if (va > last - step) yield break;
        }
    }

    /// <summary>The vmalloc-sync step of a kernel fault: copy the reference's top-level entry when it maps the address.</summary>
    public VmallocSync SyncVmalloc(IProcess process, ulong address)
    {
        if (_initRoot == 0 || Layout.Mode != KernelHalfMode.LazySync || !Layout.IsVmalloc(address)) return VmallocSync.NotVmalloc;
        if (!_k.PageTable.Read(_initRoot, address).IsPresent) return VmallocSync.Unmapped;
        return _k.PageTable.ShareTopLevel(process.PageTableRoot, _initRoot, address) ? VmallocSync.Synced : VmallocSync.Unmapped;
    }

    /// <summary>SLUB's <c>KMALLOC_MAX_CACHE_SIZE</c> (two pages): larger requests bypass the slab caches and go to the page allocator.</summary>
    public const ulong KmallocMaxCacheSize = 2 * VirtualAddress.PageSize;

    /// <summary><c>KMALLOC_MAX_SIZE</c>: one block of the buddy allocator's largest order (<c>MAX_PAGE_ORDER</c>, 4 MiB).</summary>
    public const ulong KmallocMaxSize = VirtualAddress.PageSize << FrameTable.MaxOrder;

    /// <summary><c>ZERO_SIZE_PTR</c>: what kmalloc(0) returns, not NULL but never backed; kfree ignores it.</summary>
    public const ulong ZeroSizePtr = 16;

    /// <summary>Live kmalloc blocks: head frame → order.</summary>
    private readonly Dictionary<ulong, int> _kmalloc = [];

    /// <summary>For the invariant checker: the live kmalloc blocks (head frame, order).</summary>
    public IReadOnlyDictionary<ulong, int> KmallocBlocks => _kmalloc;

    /// <summary>
    /// The buddy order kmalloc takes for <paramref name="size"/> bytes: one frame up to a page; above, <c>get_order</c>
    /// (the smallest block that holds it) — two pages for the kmalloc-8k cache's objects, and for larger sizes
    /// (<c>kmalloc_large</c>) the page allocator's block.
    /// </summary>
    public static int KmallocOrder(ulong size) =>
        size <= VirtualAddress.PageSize ? 0 : BitOperations.Log2((size - 1) >> VirtualAddress.PageShift) + 1;

    /// <summary>
    /// <c>kmalloc</c>: one physically contiguous block from the buddy allocator, addressed through the direct map (so it
    /// never faults). Up to a page it is one frame (slab caches are not modelled: each object has its frame); up to
    /// <see cref="KmallocMaxCacheSize"/> two contiguous frames; above, as SLUB's <c>kmalloc_large</c>, a block of order
    /// <see cref="KmallocOrder"/>, which fragmentation can make impossible with plenty of memory free in total. Returns 0
    /// (NULL) when no free block is large enough (a single frame is looked for with direct reclaim first, as the
    /// allocator does; no compaction is modelled) and, with a recorded warning, above <see cref="KmallocMaxSize"/>;
    /// <see cref="ZeroSizePtr"/> for 0 bytes.
    /// </summary>
    public ulong Kmalloc(ulong size, int cpu)
    {
        Ensure(cpu);
        if (size == 0) return ZeroSizePtr;
        if (size > KmallocMaxSize)
        {
            _k.Events.Record("warning", 0, $"WARNING: kmalloc of {size} bytes: order {KmallocOrder(size)} is above MAX_PAGE_ORDER ({FrameTable.MaxOrder}), KMALLOC_MAX_SIZE is {KmallocMaxSize}; returned NULL");
            return 0;
        }
        int order = KmallocOrder(size);
        if (!_k.Reclaim.AllocateKernelBlock(order, cpu, out ulong pfn)) return 0;
        ulong address = Layout.DirectMapBase + (pfn << VirtualAddress.PageShift);
        if (!Layout.IsDirectMap(address) || !Layout.IsDirectMap(address + (VirtualAddress.PageSize << order) - 1))
        {
            // Beyond the direct map (x86-32 highmem): not kmalloc memory.
            _k.Frames.FreeBlock(pfn, order, FrameUse.Kernel);
            return 0;
        }
        _kmalloc.Add(pfn, order);
        return address;
    }

    /// <summary>
    /// <c>kfree</c>: the block kmalloc returned at <paramref name="address"/> goes back to the buddy allocator, merging with
    /// its free buddies. NULL and <see cref="ZeroSizePtr"/> are ignored; any other address kmalloc did not return (or
    /// that was freed already) is refused.
    /// </summary>
    public void Kfree(ulong address)
    {
        if (address is 0 or ZeroSizePtr) return;
        ulong pfn = (address - Layout.DirectMapBase) >> VirtualAddress.PageShift;
        if (!Layout.IsDirectMap(address) || (address & (VirtualAddress.PageSize - 1)) != 0 || !_kmalloc.Remove(pfn, out int order))
            throw new ArgumentException($"kfree(0x{address:x}): not an address kmalloc returned, or freed already", nameof(address));
        _k.Frames.FreeBlock(pfn, order, FrameUse.Kernel);
    }

    /// <summary><c>vmalloc</c>: pages mapped one by one in the reference table at the next free vmalloc address (a guard page after each area); 0 on failure, with every page taken given back.</summary>
    public ulong Vmalloc(ulong size, int cpu)
    {
        Ensure(cpu);
        ulong pages = (size + VirtualAddress.PageSize - 1) / VirtualAddress.PageSize;
        if (pages == 0) return 0;
        ulong start = _vmallocNext;
        if (start + (pages + 1) * VirtualAddress.PageSize > Layout.VmallocEnd) return 0;
        var flags = PageFlags.Present | PageFlags.Writable | PageFlags.Global | PageFlags.NoExecute | PageFlags.Accessed | PageFlags.Dirty;
        for (ulong i = 0; i < pages; i++)
        {
            ulong va = start + i * VirtualAddress.PageSize;
            bool mapped = _k.Reclaim.AllocateKernelBlock(0, cpu, out ulong pfn);
            if (mapped)
            {
                while (!_k.PageTable.Write(_initRoot, va, new PageMapping(pfn, flags)))
                {
                    if (_k.Reclaim.ReclaimOne(direct: true, cpu)) continue;
                    _k.Frames.Free(pfn, FrameUse.Kernel); // the page itself, when only its table could not be had
                    mapped = false;
                    break;
                }
            }
            if (!mapped)
            {
                for (ulong j = 0; j < i; j++)
                {
                    ulong a = start + j * VirtualAddress.PageSize;
                    _k.Frames.Free(_k.PageTable.Read(_initRoot, a).Frame, FrameUse.Kernel);
                    _k.PageTable.Write(_initRoot, a, PageMapping.Empty);
                }
                return 0;
            }
        }
        _vmallocNext = start + (pages + 1) * VirtualAddress.PageSize;
        return start;
    }

}
