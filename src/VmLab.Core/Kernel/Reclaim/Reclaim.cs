using VmLab.Abstractions;
using VmLab.Abstractions.Replacement;
using VmLab.Core.Events;
using VmLab.Core.Memory;

namespace VmLab.Core.Kernel;

/// <summary>
/// Reclaim (semantics.md §6): the reverse map from a frame to every PTE that maps it, the reclaim candidates the
/// configured <see cref="IReplacementPolicy"/> orders, the user-frame limit, direct reclaim when an allocation finds no
/// frame, background (kswapd-style) reclaim between watermarks, and eviction of anonymous pages to swap and of file pages
/// back to their file. Without a policy nothing is reclaimed and memory exhaustion goes straight to the OOM killer.
/// <para>
/// Reclaim runs only at the kernel's own retry points (an allocation here, a table page in
/// <see cref="AddressSpaces.MapPage"/>, fork's copy, a new address space, the kernel half), never from inside a plugin
/// call: a page-table format asked for a table frame gets none or a free one, and is never re-entered by the reclaim
/// it would have caused. This is the policy's <see cref="IReclaimView"/>.
/// </para>
/// </summary>
public sealed class Reclaim : IReclaimView
{
    /// <summary>Keys of file pages have the top bit set, so they never collide with swap-slot keys.</summary>
    private const ulong FileKeyBit = 1UL << 63;
    private const ulong NoFrame = ulong.MaxValue;

    private readonly KernelModel _k;
    private readonly IReplacementPolicy? _policy;
    private readonly long _userLimit, _lowWatermark, _highWatermark;
    private bool _inKswapd;

    /// <summary>Frame → the mappings of it: (task that mapped it, page address). Threads share an address space; entries match by it.</summary>
    private readonly Dictionary<ulong, List<(Process Process, ulong Vaddr)>> _rmap = [];
    private readonly Stack<List<(Process, ulong)>> _rmapPool = new();
    /// <summary>Frames the policy holds as candidates.</summary>
    private readonly HashSet<ulong> _candidates = [];
    /// <summary>Pages whose contents differ from their backing copy although no PTE says so (a dirty PTE was removed).</summary>
    private readonly HashSet<ulong> _dirtyPages = [];
    /// <summary>Anonymous pages MADV_FREE made lazily freeable: discarded by reclaim while they stay clean.</summary>
    private readonly HashSet<ulong> _lazyFree = [];
    /// <summary>Frames the fault being handled works on; reclaim does not take them from under it.</summary>
    private ulong _pinnedFault = NoFrame, _pinnedFile = NoFrame;
    private readonly Counter _direct, _kswapd, _kswapdWakeups;
    /// <summary>Pages the policy examined (each Accessed-bit test), looked up on first use.</summary>
    private Counter? _scanned;

    internal Reclaim(KernelModel kernel, MachineOptions options, IReplacementPolicy? policy)
    {
        _k = kernel;
        _policy = policy;
        _userLimit = options.Memory.UserFrames;
        _lowWatermark = options.Memory.LowWatermark;
        _highWatermark = Math.Max(options.Memory.HighWatermark, options.Memory.LowWatermark);
        var m = kernel.Metrics;
        _direct = m.Counter(MetricNames.ReclaimDirect);
        _kswapd = m.Counter(MetricNames.ReclaimKswapd);
        _kswapdWakeups = m.Counter(MetricNames.ReclaimKswapdWakeups);
    }

    /// <summary>The replacement policy, or null when reclaim is off.</summary>
    public IReplacementPolicy? Policy => _policy;

    // ---- allocation --------------------------------------------------------------------------------------

    /// <summary>
    /// A zeroed user frame: within the user-frame limit and physical memory, reclaiming one page at a time (direct
    /// reclaim on <paramref name="cpu"/>) when there is none; afterwards background reclaim runs when free frames fell
    /// below the low watermark.
    /// </summary>
    public bool AllocateUserFrame(int cpu, out ulong pfn) => AllocateUserFrame(cpu, 0, out pfn);

    /// <summary>
    /// As <see cref="AllocateUserFrame(int, out ulong)"/>, for the faulting page named <paramref name="arrivingKey"/> (0: a
    /// new page), which direct reclaim tells the policy (<see cref="TryGetArrivingPage"/>); kswapd afterwards has none.
    /// </summary>
    public bool AllocateUserFrame(int cpu, ulong arrivingKey, out ulong pfn)
    {
        (_arriving, _arrivingKey) = (true, arrivingKey);
        for (;;)
        {
            if ((_userLimit == 0 || _k.Frames.ResidentUserFrames < _userLimit) && _k.Frames.TryAllocate(FrameUse.User, out pfn))
            {
                _arriving = false; // background reclaim has no arriving page
                Kswapd(cpu);
                return true;
            }
            if (!ReclaimOne(direct: true, cpu))
            {
                _arriving = false;
                pfn = 0;
                return false;
            }
        }
    }

    /// <summary>Set while direct reclaim finds a frame for a faulting page (<see cref="IReclaimView.TryGetArrivingPage"/>).</summary>
    private bool _arriving;
    private ulong _arrivingKey;

    public bool TryGetArrivingPage(out ulong key)
    {
        key = _arrivingKey;
        return _arriving;
    }

    /// <summary>A kernel block of 2^<paramref name="order"/> frames; a single frame is reclaimed for on <paramref name="cpu"/> when none is free (larger blocks: no compaction is modelled).</summary>
    public bool AllocateKernelBlock(int order, int cpu, out ulong pfn)
    {
        while (!_k.Frames.TryAllocateBlock(order, FrameUse.Kernel, out pfn))
            if (order != 0 || !ReclaimOne(direct: true, cpu)) return false;
        return true;
    }

    /// <summary>Frames an allocation could still take before it must reclaim.</summary>
    private long FreeFrames => _userLimit == 0
        ? _k.Frames.FreeFrames
        : Math.Min(_k.Frames.FreeFrames, _userLimit - _k.Frames.ResidentUserFrames);

    /// <summary>kswapd, run synchronously so runs stay deterministic: below the low watermark, reclaim up to the high one.</summary>
    private void Kswapd(int cpu)
    {
        if (Policy is null || _lowWatermark == 0 || _inKswapd || FreeFrames >= _lowWatermark) return;
        _inKswapd = true;
        _kswapdWakeups.Increment();
        try
        {
            while (FreeFrames < _highWatermark && ReclaimOne(direct: false, cpu))
            {
            }
        }
        finally
        {
            _inKswapd = false;
        }
    }

    /// <summary>
    /// Evicts one page the policy chooses, its TLB flushes initiated on <paramref name="cpu"/>; false when nothing can be
    /// reclaimed. A victim that cannot go now (the page under the fault being handled, or an anonymous page when no swap
    /// slot is left) is withdrawn from the policy while it looks further, and offered back afterwards as a fresh candidate.
    /// </summary>
    public bool ReclaimOne(bool direct, int cpu)
    {
        var policy = Policy;
        if (policy is null) return false;
        List<ulong>? skipped = null;
        bool reclaimed = false;
        while (policy.TrySelectVictim(this, out ulong victim))
        {
            if (!_candidates.Contains(victim))
                throw new PluginContractException("machine:replacement", $"the replacement policy chose frame {victim}, which is not a reclaim candidate");
            if (TryEvict(victim, cpu))
            {
                (direct ? _direct : _kswapd).Increment();
                reclaimed = true;
                break;
            }
            policy.OnReleased(victim);
            (skipped ??= []).Add(victim);
        }
        if (skipped is not null)
            foreach (var v in skipped) policy.OnResident(v, 0);
        return reclaimed;
    }

    // ---- eviction ----------------------------------------------------------------------------------------

    /// <summary>
    /// MADV_PAGEOUT of one page (<c>reclaim_pages</c>, references ignored): evicted now as reclaim would evict it, the
    /// flushes initiated on <paramref name="cpu"/>; false when it cannot go (an anonymous page with no swap slot free, a
    /// locked page, the page under a fault). A dirty file page is not written back here: only kswapd writes file pages
    /// (shrink_folio_list keeps it), so it stays. Works with or without a replacement policy.
    /// </summary>
    internal bool PageOut(ulong pfn, int cpu)
    {
        if (_k.Files.IsCached(pfn) && IsDirty(pfn)) return false;
        if (Policy is not null && !_candidates.Contains(pfn)) return false; // shmem pages are not reclaim candidates
        if (Policy is null && _k.Files.IsShmemPage(pfn)) return false;
        return TryEvict(pfn, cpu);
    }

    /// <summary>MADV_FREE made the page lazily freeable; it is clean now (its dirty PTE bit was cleared by the caller).</summary>
    internal void MarkLazyFree(ulong pfn)
    {
        _dirtyPages.Remove(pfn);
        _lazyFree.Add(pfn);
    }

    /// <summary>A mapping of the frame lies in a VMA locked by mlock (VM_LOCKED): reclaim must not take it.</summary>
    private bool IsLocked(ulong pfn)
    {
        if (!_rmap.TryGetValue(pfn, out var maps)) return false;
        foreach (var (p, va) in maps)
            if (p.Mm.FindVma(va) is { Locked: true } v && v.Contains(va)) return true;
        return false;
    }

    /// <summary>A <c>reclaim</c> event: the victim, the policy that chose it, its mappings and where its contents went.</summary>
    private void TraceEviction(ulong pfn, int cpu, List<(Process Process, ulong Vaddr)>? maps, bool dirty, string page, ulong? slot)
    {
        if (_k.Stream is not { } stream) return;
        var first = maps is { Count: > 0 } ? maps[0] : default;
        stream.Emit(EventKinds.Reclaim, cpu, first.Process?.Pid ?? 0, first.Vaddr,
            new EventField("frame", $"0x{pfn:x}"),
            new EventField("page", page),
            new EventField("policy", Policy!.GetType().Name),
            new EventField("mapped", (long)(maps?.Count ?? 0)),
            new EventField("dirty", dirty),
            new EventField("swapSlot", slot is { } s ? (long)s : null));
    }

    private bool TryEvict(ulong pfn, int cpu)
    {
        if (pfn == _pinnedFault || pfn == _pinnedFile || IsLocked(pfn)) return false;
        var frames = _k.Frames;
        var swap = _k.Swap;
        var maps = _rmap.GetValueOrDefault(pfn);
        int mapped = maps?.Count ?? 0;
        bool inSwapCache = swap.TryGetSlot(pfn, out ulong slot);
        bool isFile = _k.Files.TryGetOwner(pfn, out var owner);
        // Someone beyond the mappings and the cache holds the page (a handler in the middle of using it).
        if (frames.RefCount(pfn) != mapped + (inSwapCache || isFile ? 1 : 0)) return false;
        bool dirty = IsDirty(pfn);

        if (isFile)
        {
            TraceEviction(pfn, cpu, maps, dirty, $"file {owner.File} page {owner.Index}", null);
            ForgetPage(pfn);
            Policy?.OnEvicted(pfn, FileKey(owner.File, owner.Index)); // before the frame's links return to the free lists
            UnmapAll(pfn, maps, swapSlot: null, cpu);
            _k.Files.Remove(pfn, dirty); // written back first when dirty: the file keeps the page's contents
            frames.Put(pfn); // the page cache's reference was the last: the frame is free
            return true;
        }

        if (_lazyFree.Remove(pfn))
        {
            if (!dirty && !inSwapCache)
            {
                // try_to_unmap_one on a lazyfree folio still clean: discarded, no swap slot; the next touch sees zeros.
                TraceEviction(pfn, cpu, maps, dirty, "lazyfree anon", null);
                ForgetPage(pfn);
                Policy?.OnEvicted(pfn, 0); // a new page if it is touched again
                UnmapAll(pfn, maps, swapSlot: null, cpu);
                return true;
            }
            // Written since MADV_FREE: swap-backed again (folio_set_swapbacked), evicted as any anonymous page.
        }
        if (!inSwapCache)
        {
            if (!swap.TryAllocateSlot(out slot)) return false;
            swap.Write(pfn, slot);
        }
        else if (dirty)
        {
            swap.Write(pfn, slot); // the swap copy is stale: the page is written again to its slot
        }
        TraceEviction(pfn, cpu, maps, dirty, "anon", slot);
        ForgetPage(pfn);
        Policy?.OnEvicted(pfn, SwapKey(slot)); // before the frame's links return to the free lists
        UnmapAll(pfn, maps, slot, cpu); // without a swap-cache reference the last mapping's put frees the frame
        if (inSwapCache)
        {
            swap.RemoveEvicted(pfn, slot);
            frames.Put(pfn); // the swap cache's reference was the last: the frame is free
        }
        swap.FreeIfUnused(slot); // nobody maps it any more (a swap-cache-only page)
        return true;
    }

    /// <summary>Replaces every PTE mapping the frame by a swap entry (or clears it for a file page), flushing each TLB entry from <paramref name="cpu"/>.</summary>
    private void UnmapAll(ulong pfn, List<(Process Process, ulong Vaddr)>? maps, ulong? swapSlot, int cpu)
    {
        if (maps is null) return;
        foreach (var (p, va) in maps)
        {
            var entry = swapSlot is { } s ? new PageMapping(s, PageFlags.Swapped) : PageMapping.Empty with { PageShift = VirtualAddress.PageShift };
            _k.Stream?.Pte(cpu, p.Pid, va, _k.PageTable.Read(p.PageTableRoot, va), entry);
            _k.PageTable.Write(p.PageTableRoot, va, entry);
            if (swapSlot is not null) _k.Swap.AddEntry(swapSlot.Value);
            _k.Frames.RemoveMap(pfn);
            p.ResidentPages--;
            _k.AddressSpaces.FlushTlbPage(p, va, cpu);
            _k.Frames.Put(pfn);
        }
        maps.Clear();
        _rmap.Remove(pfn);
        _rmapPool.Push(maps);
    }

    private void ForgetPage(ulong pfn)
    {
        _candidates.Remove(pfn);
        _dirtyPages.Remove(pfn);
        _lazyFree.Remove(pfn);
    }

    /// <summary>The key of an anonymous page out on swap: its slot + 1 (0 means a new page).</summary>
    public static ulong SwapKey(ulong slot) => slot + 1;

    /// <summary>The key of a file page: a hash of file and index, with the top bit set.</summary>
    public static ulong FileKey(string file, ulong index)
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
        (_scanned ??= _k.Metrics.Counter(MetricNames.ReclaimScanned)).Increment();
        bool any = false;
        if (!_rmap.TryGetValue(pfn, out var maps)) return false;
        foreach (var (p, va) in maps)
        {
            var leaf = _k.PageTable.Read(p.PageTableRoot, va);
            if (!leaf.Has(PageFlags.Accessed)) continue;
            any = true;
            // x86 ptep_clear_flush_young: the Accessed bit is cleared without a TLB flush.
            if (clear) _k.PageTable.Write(p.PageTableRoot, va, leaf.Without(PageFlags.Accessed));
        }
        return any;
    }

    public bool IsDirty(ulong pfn)
    {
        if (_dirtyPages.Contains(pfn)) return true;
        if (!_rmap.TryGetValue(pfn, out var maps)) return false;
        foreach (var (p, va) in maps)
            if (_k.PageTable.Read(p.PageTableRoot, va).Has(PageFlags.Dirty)) return true;
        return false;
    }

    // ---- hooks from mapping changes ----------------------------------------------------------------------

    /// <summary>
    /// exec: the reverse-map entries naming <paramref name="task"/> move to <paramref name="holder"/>, which keeps the old
    /// address space (the entries are resolved through their process's current address space).
    /// </summary>
    internal void Rehome(Process task, Process holder)
    {
        foreach (var maps in _rmap.Values)
            for (int i = 0; i < maps.Count; i++)
                if (ReferenceEquals(maps[i].Process, task)) maps[i] = (holder, maps[i].Vaddr);
    }

    /// <summary>mremap moved the PTE mapping <paramref name="pfn"/> from <paramref name="from"/> to <paramref name="to"/>: the reverse map follows; nothing else changes.</summary>
    internal void OnMoved(Process p, ulong from, ulong to, ulong pfn)
    {
        if (!_rmap.TryGetValue(pfn, out var maps)) return;
        for (int i = 0; i < maps.Count; i++)
        {
            if (ReferenceEquals(maps[i].Process.Mm, p.Mm) && maps[i].Vaddr == from)
            {
                maps[i] = (maps[i].Process, to);
                return;
            }
        }
    }

    /// <summary>A PTE now maps <paramref name="pfn"/>: records the reverse mapping and offers the page to the policy.</summary>
    internal void OnMapped(Process p, ulong vaddr, ulong pfn)
    {
        // A second mapping (fork) ends a page's lazy freeing: discarding it would take it from the other mapper too.
        if (_lazyFree.Count > 0) _lazyFree.Remove(pfn);
        if (!_rmap.TryGetValue(pfn, out var maps))
        {
            maps = _rmapPool.Count > 0 ? _rmapPool.Pop() : [];
            _rmap[pfn] = maps;
        }
        maps.Add((p, vaddr));
        if (!_candidates.Contains(pfn) && !_k.Files.IsShmemPage(pfn)) AddCandidate(pfn, 0);
    }

    /// <summary>Offers a page to the policy as a reclaim candidate (<paramref name="key"/>: its swap or file key, 0 for a new page).</summary>
    internal void AddCandidate(ulong pfn, ulong key)
    {
        var policy = Policy;
        if (policy is null) return;
        _candidates.Add(pfn);
        policy.OnResident(pfn, key);
    }

    /// <summary>
    /// A PTE that mapped <paramref name="pfn"/> is gone (the caller drops its reference afterwards). A dirty PTE leaves
    /// the page dirty; the last mapping of a swap-cache page nobody else references takes the page out of the cache.
    /// </summary>
    internal void OnUnmapped(Process p, ulong vaddr, in PageMapping leaf)
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
                _lazyFree.Remove(pfn); // its last mapping is gone: the frame is freed or cached, no longer lazily freeable
            }
        }
        if (leaf.Has(PageFlags.Dirty) && (_k.Swap.TryGetSlot(pfn, out _) || _k.Files.IsCached(pfn))) _dirtyPages.Add(pfn);
        // The mapping being removed is still counted in the map count (the caller drops it next).
        _k.Swap.OnLastUnmap(pfn);
        ReleaseIfLastReference(pfn);
    }

    /// <summary>A candidate whose last reference the caller is about to put leaves the policy.</summary>
    internal void ReleaseIfLastReference(ulong pfn)
    {
        if (_k.Frames.RefCount(pfn) == 1 && _candidates.Contains(pfn))
        {
            ForgetPage(pfn);
            Policy!.OnReleased(pfn);
        }
    }

    internal void ForgetDirty(ulong pfn) => _dirtyPages.Remove(pfn);

    /// <summary>write(2) stored into a page-cache page: it differs from its file until written back.</summary>
    internal void MarkDirty(ulong pfn) => _dirtyPages.Add(pfn);

    /// <summary>
    /// A page written back (fsync, msync): no longer dirty, and every PTE mapping it cleaned and, in a shared mapping,
    /// write-protected (<c>folio_mkclean</c>: <c>pte_wrprotect</c> + <c>pte_mkclean</c>), each flushed from <paramref name="cpu"/>.
    /// </summary>
    internal void CleanMappings(ulong pfn, int cpu)
    {
        _dirtyPages.Remove(pfn);
        if (!_rmap.TryGetValue(pfn, out var maps)) return;
        foreach (var (p, va) in maps)
        {
            var leaf = _k.PageTable.Read(p.PageTableRoot, va);
            if (!leaf.IsPresent || leaf.Frame != pfn) continue;
            bool shared = p.Mm.FindVma(va) is { } v && v.Contains(va) && (v.Flags & Abstractions.Faults.VmaFlags.Shared) != 0;
            var clean = leaf.Without(shared ? PageFlags.Dirty | PageFlags.Writable : PageFlags.Dirty);
            if (clean == leaf) continue;
            _k.Stream?.Pte(cpu, p.Pid, va, leaf, clean);
            _k.PageTable.Write(p.PageTableRoot, va, clean);
            _k.AddressSpaces.FlushTlbPage(p, va, cpu);
        }
    }

    /// <summary>A page truncated out of the page cache, no longer mapped: it leaves the policy before its frame is put.</summary>
    internal void Forget(ulong pfn)
    {
        bool candidate = _candidates.Contains(pfn);
        ForgetPage(pfn);
        if (candidate) Policy!.OnReleased(pfn);
    }

    /// <summary>The fault is over: reclaim may take the frames it used again.</summary>
    internal void UnpinFaultPages() => _pinnedFault = _pinnedFile = NoFrame;

    /// <summary>The resolve stage of a fault begins: the frame under it is spared by reclaim until the fault is over.</summary>
    internal void PinFault(in PageMapping pte)
    {
        _pinnedFault = pte.HoldsFrame ? pte.Frame : NoFrame;
        _pinnedFile = NoFrame;
    }

    /// <summary>Pins a frame the fault being handled is about to copy from.</summary>
    internal void PinFault(ulong pfn) => _pinnedFault = pfn;

    /// <summary>Pins a file page the fault being handled is about to use.</summary>
    internal void PinFile(ulong pfn) => _pinnedFile = pfn;
}
