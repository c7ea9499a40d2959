using VmLab.Abstractions;
using VmLab.Abstractions.Faults;
using VmLab.Abstractions.Replacement;
using VmLab.Core.Memory;

namespace VmLab.Core.Kernel;

/// <summary>
/// Reclaim and swap (semantics.md §6): the reverse map from a frame to every PTE that maps it, the user-frame limit,
/// direct reclaim when an allocation finds no frame and background (kswapd-style) reclaim between watermarks, eviction
/// of anonymous pages to the swap device through the swap cache and of file pages back to their file, swap-in on a
/// fault on a swap entry (built into the fault path, ahead of the handler chain, like Linux's <c>do_swap_page</c>),
/// and the OOM killer when nothing can be reclaimed. The configured <see cref="IReplacementPolicy"/> chooses victims;
/// without one nothing is reclaimed and memory exhaustion goes straight to the OOM killer.
/// </summary>
public sealed partial class Kernel : IReclaimView
{
    /// <summary>Keys of file pages have the top bit set, so they never collide with swap-slot keys.</summary>
    private const ulong FileKeyBit = 1UL << 63;
    private const ulong NoFrame = ulong.MaxValue;

    private IReplacementPolicy? _policy;
    private SwapDevice _swap = null!;
    private long _userLimit, _lowWatermark, _highWatermark;
    private bool _inKswapd;

    /// <summary>Frame → the mappings of it: (task that mapped it, page address). Threads share an address space; entries match by it.</summary>
    private readonly Dictionary<ulong, List<(Process Process, ulong Vaddr)>> _rmap = [];
    private readonly Stack<List<(Process, ulong)>> _rmapPool = new();
    /// <summary>Frames the policy holds as candidates.</summary>
    private readonly HashSet<ulong> _candidates = [];
    /// <summary>Swap cache: slot → frame and frame → slot.</summary>
    private readonly Dictionary<ulong, ulong> _swapCache = [];
    private readonly Dictionary<ulong, ulong> _swapCacheSlot = [];
    /// <summary>Page cache, reversed: frame → (file, page index).</summary>
    private readonly Dictionary<ulong, (string File, ulong Index)> _pageCacheOwner = [];
    /// <summary>File pages written back by reclaim: what the file holds there now.</summary>
    private readonly Dictionary<(string File, ulong Index), ulong[]?> _fileContents = [];
    /// <summary>Pages whose contents differ from their backing copy although no PTE says so (a dirty PTE was removed).</summary>
    private readonly HashSet<ulong> _dirtyPages = [];
    /// <summary>Frames the fault being handled works on; reclaim does not take them from under it.</summary>
    private ulong _pinnedFault = NoFrame, _pinnedFile = NoFrame;

    private Counter _swapOuts = null!, _swapIns = null!, _faultsSwapIn = null!, _swapCacheHits = null!;
    private Counter _reclaimDirect = null!, _reclaimKswapd = null!, _kswapdWakeups = null!, _pageCacheDropped = null!, _pageCacheWritebacks = null!;
    private Counter _swapSlotsPeak = null!, _swapSlotsUsed = null!;

    /// <summary>The replacement policy, or null when reclaim is off.</summary>
    public IReplacementPolicy? ReplacementPolicy => _policy;

    /// <summary>Swap slots in use.</summary>
    public long SwapSlotsInUse => _swap.InUse;

    /// <summary>For the invariant checker: the swap device, and the swap cache as frame → slot.</summary>
    internal SwapDevice Swap => _swap;
    internal IReadOnlyDictionary<ulong, ulong> SwapCacheSlots => _swapCacheSlot;

    internal void ConfigureReclaim(IReplacementPolicy? policy, MachineOptions options)
    {
        _policy = policy;
        _swap = new SwapDevice(options.SwapSlots);
        _userLimit = options.UserFrames;
        _lowWatermark = options.LowWatermark;
        _highWatermark = Math.Max(options.HighWatermark, options.LowWatermark);
        var m = Metrics;
        _swapOuts = m.Counter(MetricNames.SwapOuts);
        _swapIns = m.Counter(MetricNames.SwapIns);
        _faultsSwapIn = m.Counter(MetricNames.FaultsSwapIn);
        _swapCacheHits = m.Counter("swap.cache_hits");
        _reclaimDirect = m.Counter("reclaim.direct");
        _reclaimKswapd = m.Counter("reclaim.kswapd");
        _kswapdWakeups = m.Counter("reclaim.kswapd_wakeups");
        _pageCacheDropped = m.Counter("pagecache.dropped");
        _pageCacheWritebacks = m.Counter("pagecache.writebacks");
        _swapSlotsPeak = m.Counter("swap.slots_peak");
        _swapSlotsUsed = m.Counter("swap.slots_allocated");
        if (policy is not null) _frames.Reclaim = () => ReclaimOne(direct: true);
    }

    // ---- allocation --------------------------------------------------------------------------------------

    /// <summary>
    /// A zeroed user frame: within the user-frame limit and physical memory, reclaiming one page at a time (direct
    /// reclaim) when there is none; afterwards background reclaim runs when free frames fell below the low watermark.
    /// </summary>
    private bool AllocateUserFrame(out ulong pfn)
    {
        for (;;)
        {
            if ((_userLimit == 0 || _frames.ResidentUserFrames < _userLimit) && _frames.TryAllocate(FrameUse.User, out pfn))
            {
                Kswapd();
                return true;
            }
            if (!ReclaimOne(direct: true))
            {
                pfn = 0;
                return false;
            }
        }
    }

    /// <summary>Frames an allocation could still take before it must reclaim.</summary>
    private long FreeFrames => _userLimit == 0
        ? _frames.FreeFrames
        : Math.Min(_frames.FreeFrames, _userLimit - _frames.ResidentUserFrames);

    /// <summary>kswapd, run synchronously so runs stay deterministic: below the low watermark, reclaim up to the high one.</summary>
    private void Kswapd()
    {
        if (_policy is null || _lowWatermark == 0 || _inKswapd || FreeFrames >= _lowWatermark) return;
        _inKswapd = true;
        _kswapdWakeups.Increment();
        try
        {
            while (FreeFrames < _highWatermark && ReclaimOne(direct: false))
            {
            }
        }
        finally
        {
            _inKswapd = false;
        }
    }

    /// <summary>
    /// Evicts one page the policy chooses; false when nothing can be reclaimed. A victim that cannot go now (the page
    /// under the fault being handled, or an anonymous page when no swap slot is left) is withdrawn from the policy
    /// while it looks further, and offered back afterwards as a fresh candidate.
    /// </summary>
    private bool ReclaimOne(bool direct)
    {
        if (_policy is null) return false;
        List<ulong>? skipped = null;
        bool reclaimed = false;
        while (_policy.TrySelectVictim(this, out ulong victim))
        {
            if (!_candidates.Contains(victim))
                throw new PluginContractException("machine:replacement", $"the replacement policy chose frame {victim}, which is not a reclaim candidate");
            if (TryEvict(victim))
            {
                (direct ? _reclaimDirect : _reclaimKswapd).Increment();
                reclaimed = true;
                break;
            }
            _policy.OnReleased(victim);
            (skipped ??= []).Add(victim);
        }
        if (skipped is not null)
            foreach (var v in skipped) _policy.OnResident(v, 0);
        return reclaimed;
    }

    // ---- eviction ----------------------------------------------------------------------------------------

    private bool TryEvict(ulong pfn)
    {
        if (pfn == _pinnedFault || pfn == _pinnedFile) return false;
        var maps = _rmap.GetValueOrDefault(pfn);
        int mapped = maps?.Count ?? 0;
        bool inSwapCache = _swapCacheSlot.TryGetValue(pfn, out ulong slot);
        bool isFile = _pageCacheOwner.TryGetValue(pfn, out var owner);
        // Someone beyond the mappings and the cache holds the page (a handler in the middle of using it).
        if (_frames.RefCount(pfn) != mapped + (inSwapCache || isFile ? 1 : 0)) return false;
        bool dirty = IsDirty(pfn);

        if (isFile)
        {
            if (dirty)
            {
                // Written back to the file first: the file keeps the page's contents.
                _pageCacheWritebacks.Increment();
                _fileContents[owner] = SwapDevice.Snapshot(Memory, pfn);
            }
            else _pageCacheDropped.Increment();
            ForgetPage(pfn);
            _policy!.OnEvicted(pfn, FileKey(owner.File, owner.Index)); // before the frame's links return to the free lists
            UnmapAll(pfn, maps, swapSlot: null);
            _pageCache.Remove(owner);
            _pageCacheOwner.Remove(pfn);
            _frames.Put(pfn); // the page cache's reference was the last: the frame is free
            return true;
        }

        if (!inSwapCache)
        {
            if (!_swap.TryAllocate(out slot)) return false;
            _swapSlotsUsed.Increment();
            _swapSlotsPeak.Max(_swap.InUse);
            WriteSwap(pfn, slot);
        }
        else if (dirty)
        {
            WriteSwap(pfn, slot); // the swap copy is stale: the page is written again to its slot
        }
        ForgetPage(pfn);
        _policy!.OnEvicted(pfn, SwapKey(slot)); // before the frame's links return to the free lists
        UnmapAll(pfn, maps, slot); // without a swap-cache reference the last mapping's put frees the frame
        if (inSwapCache)
        {
            _swapCache.Remove(slot);
            _swapCacheSlot.Remove(pfn);
            _frames.Put(pfn); // the swap cache's reference was the last: the frame is free
        }
        if (_swap.RefCount(slot) == 0) _swap.Free(slot); // nobody maps it any more (a swap-cache-only page)
        return true;
    }

    private void WriteSwap(ulong pfn, ulong slot)
    {
        _swap.Write(slot, Memory, pfn);
        _swapOuts.Increment();
    }

    /// <summary>Replaces every PTE mapping the frame by a swap entry (or clears it for a file page), flushing each TLB entry.</summary>
    private void UnmapAll(ulong pfn, List<(Process Process, ulong Vaddr)>? maps, ulong? swapSlot)
    {
        if (maps is null) return;
        foreach (var (p, va) in maps)
        {
            var entry = swapSlot is { } s ? new PageMapping(s, PageFlags.Swapped) : PageMapping.Empty with { PageShift = VirtualAddress.PageShift };
            _pageTable.Write(p.PageTableRoot, va, entry);
            if (swapSlot is not null) _swap.Dup(swapSlot.Value);
            _frames.RemoveMap(pfn);
            p.ResidentPages--;
            FlushTlbPage(p, va);
            _frames.Put(pfn);
        }
        maps.Clear();
        _rmap.Remove(pfn);
        _rmapPool.Push(maps);
    }

    private void ForgetPage(ulong pfn)
    {
        _candidates.Remove(pfn);
        _dirtyPages.Remove(pfn);
    }

    /// <summary>The key of an anonymous page out on swap: its slot + 1 (0 means a new page).</summary>
    private static ulong SwapKey(ulong slot) => slot + 1;

    private static ulong FileKey(string file, ulong index)
    {
        ulong h = 14695981039346656037UL;
        foreach (char c in file)
        {
            h ^= c;
            h *= 1099511628211UL;
        }
        h ^= index;
        h *= 1099511628211UL;
        return (h >> 1) | FileKeyBit;
    }

    // ---- IReclaimView ------------------------------------------------------------------------------------

    public bool TestAndClearAccessed(ulong pfn, bool clear)
    {
        bool any = false;
        if (!_rmap.TryGetValue(pfn, out var maps)) return false;
        foreach (var (p, va) in maps)
        {
            var leaf = _pageTable.Read(p.PageTableRoot, va);
            if (!leaf.Has(PageFlags.Accessed)) continue;
            any = true;
            // x86 ptep_clear_flush_young: the Accessed bit is cleared without a TLB flush.
            if (clear) _pageTable.Write(p.PageTableRoot, va, leaf.Without(PageFlags.Accessed));
        }
        return any;
    }

    public bool IsDirty(ulong pfn)
    {
        if (_dirtyPages.Contains(pfn)) return true;
        if (!_rmap.TryGetValue(pfn, out var maps)) return false;
        foreach (var (p, va) in maps)
            if (_pageTable.Read(p.PageTableRoot, va).Has(PageFlags.Dirty)) return true;
        return false;
    }

    // ---- hooks from mapping changes ----------------------------------------------------------------------

    /// <summary>A PTE now maps <paramref name="pfn"/>: records the reverse mapping and offers the page to the policy.</summary>
    private void OnMapped(Process p, ulong vaddr, ulong pfn)
    {
        if (!_rmap.TryGetValue(pfn, out var maps))
        {
            maps = _rmapPool.Count > 0 ? _rmapPool.Pop() : [];
            _rmap[pfn] = maps;
        }
        maps.Add((p, vaddr));
        if (!_candidates.Contains(pfn) && !IsShmemPage(pfn)) AddCandidate(pfn, 0);
    }

    private void AddCandidate(ulong pfn, ulong key)
    {
        if (_policy is null) return;
        _candidates.Add(pfn);
        _policy.OnResident(pfn, key);
    }

    private bool IsShmemPage(ulong pfn) =>
        _pageCacheOwner.TryGetValue(pfn, out var o) && _files.TryGetValue(o.File, out var f) && f.Shmem;

    /// <summary>
    /// A PTE that mapped <paramref name="pfn"/> is gone (the caller drops its reference afterwards). A dirty PTE leaves
    /// the page dirty; the last mapping of a swap-cache page nobody else references takes the page out of the cache.
    /// </summary>
    private void OnUnmapped(Process p, ulong vaddr, in PageMapping leaf)
    {
        ulong pfn = leaf.Frame;
        vaddr &= ~(VirtualAddress.PageSize - 1);
        if (_rmap.TryGetValue(pfn, out var maps))
        {
            for (int i = 0; i < maps.Count; i++)
            {
                if (ReferenceEquals(maps[i].Process.Mm, p.Mm) && maps[i].Vaddr == vaddr)
                {
                    maps.RemoveAt(i);
                    break;
                }
            }
            if (maps.Count == 0)
            {
                _rmap.Remove(pfn);
                _rmapPool.Push(maps);
            }
        }
        if (leaf.Has(PageFlags.Dirty) && (_swapCacheSlot.ContainsKey(pfn) || _pageCacheOwner.ContainsKey(pfn))) _dirtyPages.Add(pfn);
        // The mapping being removed is still counted in the map count (the caller drops it next).
        if (_swapCacheSlot.TryGetValue(pfn, out ulong slot) && _frames.MapCount(pfn) <= 1 && _swap.RefCount(slot) == 0)
            DropFromSwapCache(pfn, slot);
        if (_frames.RefCount(pfn) == 1 && _candidates.Contains(pfn))
        {
            // The caller's put frees the frame.
            ForgetPage(pfn);
            _policy!.OnReleased(pfn);
        }
    }

    /// <summary>Takes a page out of the swap cache and frees its slot when no swap entry references it.</summary>
    private void DropFromSwapCache(ulong pfn, ulong slot)
    {
        _swapCache.Remove(slot);
        _swapCacheSlot.Remove(pfn);
        if (_swap.RefCount(slot) == 0) _swap.Free(slot);
        _dirtyPages.Remove(pfn);
        if (_frames.RefCount(pfn) == 1 && _candidates.Contains(pfn))
        {
            ForgetPage(pfn);
            _policy!.OnReleased(pfn);
        }
        _frames.Put(pfn);
    }

    /// <summary>A swap entry was removed from a page table (munmap, exit): one reference on its slot goes.</summary>
    private void ReleaseSwapEntry(ulong slot)
    {
        if (_swap.Put(slot) > 0) return;
        if (_swapCache.TryGetValue(slot, out ulong pfn))
        {
            if (_frames.MapCount(pfn) == 0) DropFromSwapCache(pfn, slot);
            return;
        }
        _swap.Free(slot);
    }

    /// <summary>fork copies a swap entry: one more reference on its slot.</summary>
    private void DupSwapEntry(ulong slot) => _swap.Dup(slot);

    /// <summary>
    /// References on a frame as do_wp_page counts them: the swap cache's own reference is not one when no swap entry
    /// still refers to the page's slot (folio_free_swap would succeed); while one does, the page is shared through swap
    /// and a write must copy it.
    /// </summary>
    private int MappingRefCount(ulong pfn) =>
        _frames.RefCount(pfn) - (_swapCacheSlot.TryGetValue(pfn, out ulong slot) && _swap.RefCount(slot) == 0 ? 1 : 0);

    /// <summary>The fault is over: reclaim may take the frames it used again.</summary>
    private void UnpinFaultPages() => _pinnedFault = _pinnedFile = NoFrame;

    /// <summary>Pins a frame the fault being handled is about to use (a file page about to be copied).</summary>
    private void PinFile(ulong pfn) => _pinnedFile = pfn;

    /// <summary>Reads a file page that reclaim wrote back into <paramref name="pfn"/>; false when the file still holds its initial bytes there.</summary>
    private bool TryReadWrittenBack(string file, ulong index, ulong pfn)
    {
        if (!_fileContents.TryGetValue((file, index), out var data)) return false;
        SwapDevice.Restore(data, Memory, pfn);
        return true;
    }

    /// <summary>Registers a page-cache page as a candidate (not shmem: shmem pages stay resident).</summary>
    private void OnPageCacheInsert(string file, ulong index, ulong pfn, bool shmem)
    {
        _pageCacheOwner[pfn] = (file, index);
        _pinnedFile = pfn;
        if (!shmem) AddCandidate(pfn, FileKey(file, index));
    }

    // ---- swap-in -----------------------------------------------------------------------------------------

    /// <summary>
    /// A fault on a swap entry (Linux do_swap_page): the page comes from the swap cache (minor) or is read from its slot
    /// into a new frame that joins the swap cache (major, <c>swap.ins</c>). A page no other PTE references is mapped
    /// writable when its VMA allows (a read leaves it clean, so its swap copy stays valid); a write fault dirties it and
    /// frees its swap copy. A write to a page still shared through swap after fork copies it at once, as do_wp_page would.
    /// </summary>
    private FaultResult SwapIn(in PageFault fault)
    {
        var p = (Process)fault.Process;
        ulong slot = fault.Pte.Frame;
        bool major = false;
        if (!_swapCache.TryGetValue(slot, out ulong pfn))
        {
            if (!AllocateUserFrame(out pfn)) return FaultResult.OutOfMemory;
            _swap.Read(slot, Memory, pfn);
            _swapIns.Increment();
            major = true;
            _swapCache[slot] = pfn; // the allocation reference is the swap cache's
            _swapCacheSlot[pfn] = slot;
            AddCandidate(pfn, SwapKey(slot));
        }
        else
        {
            _swapCacheHits.Increment();
        }
        _faultsSwapIn.Increment();

        _swap.Put(slot); // this PTE stops referencing the slot
        bool exclusive = _swap.RefCount(slot) == 0 && _frames.MapCount(pfn) == 0;
        if (fault.IsWrite && !exclusive)
        {
            // Still shared with another address space: a private copy for the writer (the fault is do_wp_page's too).
            _pinnedFault = pfn;
            if (!AllocateUserFrame(out ulong copy))
            {
                _swap.Dup(slot);
                return FaultResult.OutOfMemory;
            }
            Memory.Copy(pfn, copy);
            if (!MapPage(p, fault.Address, copy, FlagsFor(fault.Vma, writable: true) | PageFlags.Dirty))
            {
                _frames.Put(copy);
                _swap.Dup(slot); // the PTE still holds the swap entry
                return FaultResult.OutOfMemory;
            }
            return major ? FaultResult.Major : FaultResult.Minor;
        }

        // Write-protect dirty tracking: a tracked page not yet logged comes back read-only, and a write fault logs it.
        ulong page = fault.PageAddress;
        bool tracked = p.Mm.DirtyTracked.Contains(page) && !p.Mm.DirtyLog.Contains(page);
        if (tracked && fault.IsWrite)
        {
            p.Mm.DirtyLog.Add(page);
            (_dirtyLogged ??= Metrics.Counter("dirtylog.pages")).Increment();
            tracked = false;
        }
        _frames.Get(pfn);
        var flags = FlagsFor(fault.Vma, writable: exclusive && !tracked);
        if (fault.IsWrite) flags |= PageFlags.Dirty;
        if (!MapPage(p, fault.Address, pfn, flags))
        {
            _frames.Put(pfn);
            _swap.Dup(slot); // the PTE still holds the swap entry
            return FaultResult.OutOfMemory;
        }
        if (fault.IsWrite) DropFromSwapCache(pfn, slot); // written: the swap copy is stale and freed
        return major ? FaultResult.Major : FaultResult.Minor;
    }

    /// <summary>First in the handler chain: resolves faults on swap entries; records the frame under the fault so reclaim spares it.</summary>
    private sealed class SwapFaultHandler(Kernel kernel) : IFaultHandler
    {
        public FaultResult Handle(in PageFault fault, IMemoryManager mm)
        {
            kernel._pinnedFault = fault.Pte.HoldsFrame ? fault.Pte.Frame : NoFrame;
            kernel._pinnedFile = NoFrame;
            return fault.Pte.IsSwapped ? kernel.SwapIn(fault) : FaultResult.Declined;
        }
    }
}

/// <summary>
/// The swap device: <c>slots</c> page-sized slots handed out lowest first, each with a count of the swap entries
/// (PTEs) that reference it, and the contents written to it. Only slots in use cost host memory.
/// </summary>
public sealed class SwapDevice(long slots)
{
    private readonly Dictionary<ulong, int> _refs = [];
    private readonly Dictionary<ulong, ulong[]?> _data = [];
    private readonly PriorityQueue<ulong, ulong> _freed = new();
    private ulong _next;

    public long Slots { get; } = slots;
    public long InUse { get; private set; }

    public bool TryAllocate(out ulong slot)
    {
        if (_freed.Count > 0) slot = _freed.Dequeue();
        else if ((long)_next < Slots) slot = _next++;
        else
        {
            slot = 0;
            return false;
        }
        _refs[slot] = 0;
        InUse++;
        return true;
    }

    public int RefCount(ulong slot) => _refs.GetValueOrDefault(slot);

    /// <summary>Slots allocated now (held by swap entries or the swap cache).</summary>
    public IReadOnlyCollection<ulong> AllocatedSlots => _refs.Keys;

    public void Dup(ulong slot) => _refs[slot] = _refs.GetValueOrDefault(slot) + 1;

    /// <summary>Drops one reference; returns the references left.</summary>
    public int Put(ulong slot) => _refs[slot] = _refs[slot] - 1;

    public void Free(ulong slot)
    {
        if (!_refs.Remove(slot)) throw new InvalidOperationException($"swap slot {slot} freed twice");
        _data.Remove(slot);
        _freed.Enqueue(slot, slot);
        InUse--;
    }

    /// <summary>Writes the frame's contents to the slot.</summary>
    public void Write(ulong slot, PhysicalMemory memory, ulong pfn) => _data[slot] = Snapshot(memory, pfn);

    /// <summary>Reads the slot's contents into a zeroed frame.</summary>
    public void Read(ulong slot, PhysicalMemory memory, ulong pfn) => Restore(_data.GetValueOrDefault(slot), memory, pfn);

    /// <summary>A copy of a frame's contents; null for a frame that reads as zeros (it costs nothing).</summary>
    public static ulong[]? Snapshot(PhysicalMemory memory, ulong pfn)
    {
        if (!memory.HasContents(pfn)) return null;
        var copy = new ulong[PhysicalMemory.FrameSize / 8];
        ulong base_ = pfn << PhysicalMemory.FrameShift;
        for (int i = 0; i < copy.Length; i++) copy[i] = memory.Read64(base_ + (ulong)i * 8);
        return copy;
    }

    /// <summary>Writes a snapshot back into a zeroed frame.</summary>
    public static void Restore(ulong[]? data, PhysicalMemory memory, ulong pfn)
    {
        if (data is null) return;
        ulong base_ = pfn << PhysicalMemory.FrameShift;
        for (int i = 0; i < data.Length; i++) memory.Write64(base_ + (ulong)i * 8, data[i]);
    }
}
