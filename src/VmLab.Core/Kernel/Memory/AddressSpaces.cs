using VmLab.Abstractions;
using VmLab.Abstractions.Faults;
using VmLab.Abstractions.Workloads;
using VmLab.Core.Memory;

namespace VmLab.Core.Kernel;

/// <summary>
/// Address spaces and VMAs: creation and release, the mmap family (mmap, munmap, mprotect, madvise, brk, MAP_POPULATE),
/// fork's copy rule, and the leaf-level mapping primitives every other subsystem goes through (map, re-protect, unmap,
/// flush), which keep reference and map counts, RSS, the reverse map and the TLBs in step.
/// </summary>
public sealed class AddressSpaces
{
    /// <summary>Where non-fixed mmap places mappings, top-down, without randomisation (x86-64 mmap_base with ASLR off).</summary>
    public const ulong MmapBase = 0x7fff_f7ff_f000;

    private const ulong PageSize = VirtualAddress.PageSize;
    private const ulong PageMask = PageSize - 1;

    private readonly KernelModel _k;
    /// <summary>The timing model's inputs: pages a system call unmapped, pages whose protection mprotect changed (looked up on first use).</summary>
    private Counter? _pagesUnmapped, _pagesProtected, _vmaChanges;

    /// <summary>
    /// One system call that changed the VMA tree (<c>syscalls.vma_changes</c>): an mmap that created a VMA, a munmap or
    /// brk that removed or split some, an mprotect that changed some VMA's protection (Linux's mprotect_fixup returns
    /// early, splitting nothing, when the flags are unchanged), an mremap that resized or moved one. Counted once per
    /// call however many VMAs it split, merged, created or removed; madvise and mlock, which may also split, are not counted.
    /// </summary>
    private void VmaChanged() => (_vmaChanges ??= _k.Metrics.Counter(MetricNames.SyscallsVmaChanges)).Increment();
    private ushort _nextAsid = 1;

    internal AddressSpaces(KernelModel kernel) => _k = kernel;

    // ---- address spaces ------------------------------------------------------------------------------------

    /// <summary>
    /// A new address space (<c>mm_alloc</c> / <c>pgd_alloc</c>) with the kernel half shared in: false, with nothing
    /// allocated, when no frame is left for its top-level table even after direct reclaim on <paramref name="cpu"/>.
    /// </summary>
    public bool TryCreate(int cpu, out AddressSpace mm)
    {
        ulong root;
        while (!_k.PageTable.TryCreateRoot(out root))
        {
            if (!_k.Reclaim.ReclaimOne(direct: true, cpu))
            {
                mm = null!;
                return false;
            }
        }
        mm = new AddressSpace(root, _nextAsid++);
        _k.KernelHalf.Share(mm);
        return true;
    }

    /// <summary>Gives back the ASID of an address space that never ran (a fork that failed), when it was the last one handed out.</summary>
    internal void ForgetAsid(AddressSpace mm)
    {
        if (_nextAsid == (ushort)(mm.Asid + 1)) _nextAsid = mm.Asid;
    }

    /// <summary>The address space of a kernel thread: the reference kernel table itself, never released.</summary>
    internal AddressSpace KernelThreadSpace() =>
        new(_k.KernelHalf.InitRoot, _nextAsid++) { KernelShared = true, Users = 1 << 30 };

    /// <summary>The task stops using its address space; the last user releases it.</summary>
    public void Drop(Process process, int cpu)
    {
        if (--process.Mm.Users == 0) Release(process, cpu);
    }

    /// <summary>Unmaps every page of the address space, frees its page tables and flushes its tag everywhere.</summary>
    public void Release(Process process, int cpu)
    {
        var leaves = new List<(ulong Address, PageMapping Leaf)>();
        foreach (var vma in process.Mm.Vmas) _k.PageTable.CollectLeaves(process.PageTableRoot, vma.Start, vma.End, leaves);
        foreach (var (address, _) in leaves) UnmapPage(process, address, flush: false, cpu);
        _k.KernelHalf.Unshare(process.Mm);
        _k.PageTable.DestroyRoot(process.PageTableRoot);
        _k.TlbMaintenance.Release(process, cpu);
    }

    // ---- the mmap family -----------------------------------------------------------------------------------

    /// <summary>
    /// <c>mmap</c> (mm/mmap.c <c>do_mmap</c>), its checks in Linux's order: a zero length or unaligned offset is -EINVAL;
    /// MAP_FIXED and MAP_FIXED_NOREPLACE need an aligned address (-EINVAL) inside the user half (-ENOMEM); MAP_FIXED
    /// replaces what is there, MAP_FIXED_NOREPLACE is -EEXIST when anything is; then MAP_SHARED_VALIDATE refuses
    /// anonymous memory (-EINVAL) and, for a file or device, flags outside the legacy set it does not support
    /// (<see cref="MapFlags.Sync"/> — no simulated file is DAX — and <see cref="MapFlags.UnknownFlag"/>): -EOPNOTSUPP.
    /// MAP_SHARED and MAP_PRIVATE ignore those flags. A file is named by <paramref name="file"/>, or given as the open
    /// file <paramref name="inode"/> (an mmap of a descriptor: a memfd, or a file since unlinked).
    /// </summary>
    public long Mmap(Process p, int cpu, ulong address, ulong length, Protection prot, MapFlags flags, string? file, ulong offset, SimFile? inode = null)
    {
        if (length == 0 || (offset & PageMask) != 0) return -Errno.EINVAL;
        ulong len = PageAlign(length);
        if (len < length) return -Errno.ENOMEM;
        bool anonymous = (flags & MapFlags.Anonymous) != 0 || (file is null && inode is null);
        SimFile? f = inode;
        if (!anonymous && f is null && (flags & MapFlags.Device) == 0 && (f = _k.Files.Find(file!)) is null) return -Errno.EBADF;
        if ((flags & MapFlags.Device) != 0)
        {
            if (file is null || _k.Devices.Find(file) is null) return -Errno.ENOENT;
            anonymous = false;
        }

        ulong start;
        bool noReplace = (flags & MapFlags.FixedNoReplace) != 0;
        if ((flags & MapFlags.Fixed) != 0 || noReplace)
        {
            if ((address & PageMask) != 0) return -Errno.EINVAL;
            if (address + len > _k.Geometry.UserTop || address + len < address) return -Errno.ENOMEM;
            if (noReplace && p.Mm.Overlapping(address, address + len).Count > 0) return -Errno.EEXIST;
            start = address;
        }
        else
        {
            ulong? found = FindFreeArea(p.Mm, len, address);
            if (found is null) return -Errno.ENOMEM;
            start = found.Value;
        }
        if ((flags & MapFlags.SharedValidate) != 0)
        {
            if (anonymous) return -Errno.EINVAL; // do_mmap's anonymous switch knows MAP_SHARED and MAP_PRIVATE only
            if ((flags & (MapFlags.Sync | MapFlags.UnknownFlag)) != 0) return -Errno.EOPNOTSUPP;
        }
        if ((flags & MapFlags.Fixed) != 0 && !noReplace) UnmapRange(p, start, start + len, cpu);
        if (anonymous && (flags & MapFlags.Shared) != 0)
        {
            // Shared anonymous memory is a shmem object, like Linux's "/dev/zero (deleted)": one set of pages for every mapper.
            f = _k.Files.CreateShmem(PageAlign(length));
            anonymous = false;
        }

        var vflags = VmaFlags.None;
        if ((flags & MapFlags.Shared) != 0) vflags |= VmaFlags.Shared;
        if (!anonymous) vflags |= VmaFlags.File;
        if ((flags & MapFlags.GrowsDown) != 0) vflags |= VmaFlags.GrowsDown;
        if ((flags & MapFlags.Device) != 0) vflags = (vflags & ~VmaFlags.File) | VmaFlags.Device | VmaFlags.Shared;
        var vma = new Vma(start, start + len, prot, vflags)
        {
            FileName = (flags & MapFlags.Device) != 0 ? file : f?.Id,
            FileOffset = offset,
            File = (flags & MapFlags.Device) != 0 ? null : f,
        };
        // mm->def_flags after mlockall(MCL_FUTURE); device memory (VM_IO) is never locked (mlock_fixup skips VM_SPECIAL).
        if (p.Mm.LockFuture && (vflags & VmaFlags.Device) == 0)
        {
            vma.Locked = true;
            vma.LockOnFault = p.Mm.LockFutureOnFault;
        }
        p.Mm.Add(vma);

        // Device pages are never populated (VM_IO): every access to them traps. A locked mapping is populated as
        // MAP_POPULATE would populate it (mmap_region: VM_LOCKED without VM_LOCKONFAULT → mm_populate).
        bool populate = (flags & MapFlags.Populate) != 0 || (vma.Locked && !vma.LockOnFault);
        VmaChanged();
        if (populate && (vflags & VmaFlags.Device) == 0) Populate(p, vma, cpu);
        return (long)start;
    }

    /// <summary>
    /// MAP_POPULATE: faults every page in as the kernel's get_user_pages does (counted in the caller's minor or major
    /// faults, as getrusage counts them; not page-fault exceptions). Like Linux's mm_populate its errors are ignored:
    /// mmap has returned the address already. When memory runs out the fault takes the OOM-killer path; a page whose
    /// fault killed another process is faulted again (the allocator retries after an OOM kill), and population stops
    /// when the caller itself is killed.
    /// </summary>
    private void Populate(Process p, Vma vma, int cpu)
    {
        // populate_vma_page_range (mm/gup.c) sets FOLL_WRITE only for (vm_flags & (VM_WRITE | VM_SHARED)) == VM_WRITE:
        // a private writable mapping is written to break COW now; a shared one is read, "because these don't COW and we
        // would not want to dirty them for nothing". The read fault leaves a shmem page writable and clean, a file page
        // of a shared mapping read-only (its first write is then a write-notify fault), as the fault handlers map them.
        bool write = (vma.Protection & Protection.Write) != 0 && (vma.Flags & VmaFlags.Shared) == 0;
        var kind = write ? AccessKind.Write : AccessKind.Read;
        for (ulong a = vma.Start; a < vma.End && p.Alive; a += PageSize)
        {
            // Like mm_populate, a page that cannot be faulted in ends this VMA's population (its errors are ignored);
            // a fault that makes no progress (Stuck) moves on to the next page.
            if (FaultIn(p, cpu, a, kind) < 0) return;
        }
    }

    private ulong? FindFreeArea(AddressSpace mm, ulong len, ulong hint)
    {
        ulong userTop = _k.Geometry.UserTop;
        if (hint != 0 && (hint & PageMask) == 0 && hint + len <= userTop && mm.Overlapping(hint, hint + len).Count == 0)
            return hint;
        ulong top = Math.Min(MmapBase, userTop);
        for (int i = mm.Vmas.Count - 1; i >= -1; i--)
        {
            ulong gapEnd = top;
            ulong gapStart = i >= 0 ? mm.Vmas[i].End : PageSize;
            if (i >= 0 && mm.Vmas[i].Start >= top) continue;
            if (gapEnd > gapStart && gapEnd - gapStart >= len) return gapEnd - len;
            if (i >= 0) top = Math.Min(top, mm.Vmas[i].Start);
        }
        return null;
    }

    internal static ulong PageAlign(ulong v) => (v + PageMask) & ~PageMask;

    public long Munmap(Process p, int cpu, ulong address, ulong length)
    {
        if ((address & PageMask) != 0 || length == 0) return -Errno.EINVAL;
        ulong end = address + PageAlign(length);
        if (end < address || end > _k.Geometry.UserTop) return -Errno.EINVAL;
        if (UnmapRange(p, address, end, cpu)) VmaChanged();
        return 0;
    }

    /// <summary>Removes pages and VMA parts in [start, end), splitting VMAs at the edges, then flushes the range; false when no VMA was there.</summary>
    private bool UnmapRange(Process p, ulong start, ulong end, int cpu)
    {
        var overlapping = p.Mm.Overlapping(start, end);
        if (overlapping.Count == 0) return false;
        ZapRange(p, start, end, cpu);
        foreach (var v in overlapping)
        {
            p.Mm.Remove(v);
            if (v.Start < start) p.Mm.Add(v.Slice(v.Start, start));
            if (v.End > end) p.Mm.Add(v.Slice(end, v.End));
        }
        FlushTlbRange(p, start, end, cpu);
        return true;
    }

    /// <summary>Unmaps every page in [start, end) without touching VMAs or flushing.</summary>
    private void ZapRange(Process p, ulong start, ulong end, int cpu)
    {
        var leaves = new List<(ulong Address, PageMapping Leaf)>();
        _k.PageTable.CollectLeaves(p.PageTableRoot, start, end, leaves);
        foreach (var (a, _) in leaves) UnmapPage(p, a, flush: false, cpu);
        if (leaves.Count > 0) (_pagesUnmapped ??= _k.Metrics.Counter(MetricNames.SyscallsPagesUnmapped)).Add(leaves.Count);
    }

    /// <summary>
    /// <c>mprotect</c> (mm/mprotect.c): an unaligned start is -EINVAL, an empty range 0. The VMAs are changed in order
    /// from the start: no VMA at the start is -ENOMEM with nothing changed; a hole further on stops there with -ENOMEM,
    /// the VMAs before it changed (as Linux's loop over <c>mprotect_fixup</c> leaves them).
    /// </summary>
    public long Mprotect(Process p, int cpu, ulong address, ulong length, Protection prot, byte? key)
    {
        if ((address & PageMask) != 0) return -Errno.EINVAL;
        if (length == 0) return 0;
        ulong end = address + PageAlign(length);
        if (end < address) return -Errno.ENOMEM;
        // The VMAs from the start up to the first hole; a hole stops the change there.
        ulong cursor = address;
        var changed = new List<Vma>();
        foreach (var v in p.Mm.Overlapping(address, end))
        {
            if (v.Start > cursor) break;
            changed.Add(v);
            cursor = v.End;
        }
        long result = cursor < end ? -Errno.ENOMEM : 0;
        if (changed.Count == 0) return result;
        end = Math.Min(end, cursor);
        bool protectionChanged = changed.Exists(v => v.Protection != prot || (key is not null && v.ProtectionKey != key.Value));
        // VMA work is a split (the range starts or ends inside a VMA) or a merge with a neighbour of the same attributes
        // (vma_modify); a whole VMA whose protection changes in place only has its flags rewritten, which is the call's.
        bool vmaWork = protectionChanged && (changed[0].Start < address || changed[^1].End > end);

        var middles = new List<Vma>(changed.Count);
        foreach (var v in changed)
        {
            p.Mm.Remove(v);
            if (v.Start < address) p.Mm.Add(v.Slice(v.Start, address));
            if (v.End > end) p.Mm.Add(v.Slice(end, v.End));
            var middle = v.Slice(Math.Max(v.Start, address), Math.Min(v.End, end));
            middle.Protection = prot;
            if (key is not null) middle.ProtectionKey = key.Value;
            p.Mm.Add(middle);
            middles.Add(middle);
        }
        if (protectionChanged && !vmaWork)
            vmaWork = middles.Exists(m => (m.Start > 0 && Mergeable(p.Mm.FindVma(m.Start - 1), m)) || Mergeable(m, p.Mm.FindVma(m.End)));
        if (vmaWork) VmaChanged();

        var leaves = new List<(ulong Address, PageMapping Leaf)>();
        _k.PageTable.CollectLeaves(p.PageTableRoot, address, end, leaves);
        foreach (var (a, leaf) in leaves)
        {
            if (!leaf.HoldsFrame) continue;
            var vma = p.Mm.FindVma(a)!;
            var reprotected = Reprotect(leaf, vma);
            _k.PageTable.Write(p.PageTableRoot, a, reprotected);
            _k.Stream?.Pte(cpu, p.Pid, a, leaf, reprotected);
            (_pagesProtected ??= _k.Metrics.Counter(MetricNames.SyscallsPagesProtected)).Increment();
        }
        FlushTlbRange(p, address, end, cpu);
        return result;
    }

    /// <summary>
    /// Whether Linux's <c>vma_merge</c> would join <paramref name="low"/> and the VMA just above it: adjacent, the same
    /// protection, flags, key and file, the file offsets contiguous. (VmLab keeps no anon_vma identity: two anonymous
    /// VMAs of the same attributes count as mergeable, as slices of one mapping are.)
    /// </summary>
    private static bool Mergeable(Vma? low, Vma? high) =>
        low is not null && high is not null && !ReferenceEquals(low, high) && low.End == high.Start
        && low.Protection == high.Protection && low.Flags == high.Flags && low.ProtectionKey == high.ProtectionKey
        && low.FileName == high.FileName && (low.FileName is null || low.FileOffset + (low.End - low.Start) == high.FileOffset);

    /// <summary>
    /// The leaf for a page whose VMA protection changed (Linux change_pte_range): PROT_NONE keeps the frame but is not
    /// present; a private page becomes writable only when the process holds the only reference to it, otherwise the
    /// next write takes a COW fault.
    /// </summary>
    private PageMapping Reprotect(PageMapping leaf, Vma vma)
    {
        var keep = leaf.Flags & (PageFlags.Accessed | PageFlags.Dirty | PageFlags.Global);
        if (vma.Protection == Protection.None)
            return leaf with { Flags = keep | PageFlags.ProtNone, ProtectionKey = vma.ProtectionKey };
        var flags = keep | PageFlags.Present | PageFlags.User;
        if ((vma.Protection & Protection.Exec) == 0) flags |= PageFlags.NoExecute;
        if ((vma.Protection & Protection.Write) != 0)
        {
            bool shared = (vma.Flags & VmaFlags.Shared) != 0;
            bool privateFileCache = vma.FileName is not null && !shared && _k.Files.IsCached(leaf.Frame);
            bool exclusive = leaf.Frame != FrameTable.ZeroPage && _k.Frames.RefCount(leaf.Frame) == 1 && !privateFileCache;
            if (shared || exclusive) flags |= PageFlags.Writable;
        }
        return leaf with { Flags = flags, ProtectionKey = vma.ProtectionKey };
    }

    /// <summary><c>madvise(MADV_DONTNEED)</c>: <see cref="Madvise"/> with <see cref="Advice.DontNeed"/>.</summary>
    public long MadviseDontNeed(Process p, int cpu, ulong address, ulong length) => Madvise(p, cpu, address, length, Advice.DontNeed);

    /// <summary>
    /// <c>madvise</c> (mm/madvise.c). The range is checked first: a start not page-aligned, or an end that wraps, is
    /// -EINVAL; an empty range is 0. MADV_POPULATE_READ/WRITE fault the pages in from the start, in order, and stop at
    /// the first page they cannot (<see cref="Populate(Process, int, ulong, ulong, bool)"/>). Every other advice is
    /// applied VMA by VMA as <c>madvise_walk_vmas</c> does: a VMA the advice does not apply to stops the walk with
    /// -EINVAL (the VMAs before it keep the advice), and a range not wholly mapped is applied to its mapped parts, then
    /// reports -ENOMEM — so nothing outside a VMA (the kernel half, a kmalloc address) is ever touched. Advice that
    /// changes a VMA flag (DONTFORK, DOFORK, WIPEONFORK, KEEPONFORK, NORMAL, RANDOM, SEQUENTIAL) splits the VMAs at the range's edges.
    /// </summary>
    public long Madvise(Process p, int cpu, ulong address, ulong length, Advice advice)
    {
        if ((address & PageMask) != 0) return -Errno.EINVAL;
        ulong len = PageAlign(length);
        if (length != 0 && len == 0) return -Errno.EINVAL;
        ulong end = address + len;
        if (end < address) return -Errno.EINVAL;
        if (end == address) return 0;
        if (advice is Advice.PopulateRead or Advice.PopulateWrite) return Populate(p, cpu, address, end, advice == Advice.PopulateWrite);

        ulong cursor = address;
        bool hole = false;
        foreach (var whole in p.Mm.Overlapping(address, end))
        {
            if (whole.Start > cursor) hole = true;
            ulong from = Math.Max(whole.Start, address), to = Math.Min(whole.End, end);
            cursor = to;
            long r = Advise(p, cpu, whole, from, to, advice);
            if (r != 0) return r;
        }
        return hole || cursor < end ? -Errno.ENOMEM : 0;
    }

    /// <summary>One VMA's part [from, to) of a madvise: 0, or -EINVAL when the advice does not apply to the VMA.</summary>
    private long Advise(Process p, int cpu, Vma vma, ulong from, ulong to, Advice advice)
    {
        // can_madv_lru_vma: DONTNEED, FREE, COLD and PAGEOUT refuse VM_LOCKED and VM_PFNMAP (trapped device) VMAs.
        bool lruRefused = vma.Locked || (vma.Flags & VmaFlags.Device) != 0;
        bool privateAnonymous = (vma.Flags & (VmaFlags.File | VmaFlags.Shared | VmaFlags.Device)) == 0;
        switch (advice)
        {
            case Advice.DontNeed:
                if (lruRefused) return -Errno.EINVAL;
                ZapRange(p, from, to, cpu);
                FlushTlbRange(p, from, to, cpu);
                return 0;
            case Advice.Free:
                // madvise_dontneed_free_valid_vma, then vma_is_anonymous: shmem and file mappings are refused.
                if (lruRefused || !privateAnonymous) return -Errno.EINVAL;
                FreeLazily(p, from, to, cpu);
                return 0;
            case Advice.Cold:
            case Advice.PageOut:
                if (lruRefused) return -Errno.EINVAL;
                ColdOrPageOut(p, from, to, advice == Advice.PageOut, cpu);
                return 0;
            case Advice.DontFork:
                foreach (var v in SplitFor(p, vma, from, to)) v.DontCopy = true;
                return 0;
            case Advice.DoFork:
                if ((vma.Flags & VmaFlags.Device) != 0) return -Errno.EINVAL; // VM_IO stays out of a child
                foreach (var v in SplitFor(p, vma, from, to)) v.DontCopy = false;
                return 0;
            case Advice.WipeOnFork:
                if (!privateAnonymous) return -Errno.EINVAL; // vma->vm_file || VM_SHARED
                foreach (var v in SplitFor(p, vma, from, to)) v.WipeOnFork = true;
                return 0;
            case Advice.KeepOnFork:
                foreach (var v in SplitFor(p, vma, from, to)) v.WipeOnFork = false;
                return 0;
            case Advice.Normal or Advice.Random or Advice.Sequential:
                // Any VMA takes them (madvise_update_vma sets VM_RAND_READ or VM_SEQ_READ, clearing the other).
                var hint = advice == Advice.Random ? ReadHint.Random : advice == Advice.Sequential ? ReadHint.Sequential : ReadHint.Normal;
                foreach (var v in SplitFor(p, vma, from, to)) v.ReadHint = hint;
                return 0;
            default:
                throw new ArgumentOutOfRangeException(nameof(advice), advice, "not an advice Madvise applies VMA by VMA");
        }
    }

    /// <summary>Splits <paramref name="vma"/> so [from, to) is a VMA of its own (Linux's madvise_update_vma); returns it.</summary>
    private static Vma[] SplitFor(Process p, Vma vma, ulong from, ulong to)
    {
        if (vma.Start == from && vma.End == to) return [vma];
        p.Mm.Remove(vma);
        if (vma.Start < from) p.Mm.Add(vma.Slice(vma.Start, from));
        if (vma.End > to) p.Mm.Add(vma.Slice(to, vma.End));
        var middle = vma.Slice(from, to);
        p.Mm.Add(middle);
        return [middle];
    }

    /// <summary>
    /// MADV_FREE (<c>madvise_free_pte_range</c>): a swap entry in the range is dropped (the next touch sees zeros); a
    /// present anonymous page mapped only here is made clean and old, and lazily freeable: while nothing writes it
    /// again, reclaim frees it without swapping it out (and the next touch sees zeros); a write makes it dirty and keeps
    /// it. Pages another process maps too (after fork) and the zero page are left alone.
    /// </summary>
    private void FreeLazily(Process p, ulong from, ulong to, int cpu)
    {
        var leaves = new List<(ulong Address, PageMapping Leaf)>();
        _k.PageTable.CollectLeaves(p.PageTableRoot, from, to, leaves);
        foreach (var (a, leaf) in leaves)
        {
            if (leaf.IsSwapped)
            {
                UnmapPage(p, a, flush: false, cpu);
                continue;
            }
            if (!leaf.IsPresent || leaf.Frame == FrameTable.ZeroPage || _k.Frames.MapCount(leaf.Frame) != 1) continue;
            var clean = leaf.Without(PageFlags.Dirty).Without(PageFlags.Accessed);
            _k.PageTable.Write(p.PageTableRoot, a, clean);
            _k.Stream?.Pte(cpu, p.Pid, a, leaf, clean);
            _k.Reclaim.MarkLazyFree(leaf.Frame);
        }
        FlushTlbRange(p, from, to, cpu);
    }

    /// <summary>
    /// MADV_COLD and MADV_PAGEOUT (<c>madvise_cold_or_pageout_pte_range</c>): each present page mapped only here (a
    /// page another process maps too is left alone, as is the zero page) is made old (<c>pte_mkold</c>: its Accessed bit
    /// cleared, the TLB flushed). PAGEOUT then reclaims each now (<c>reclaim_pages</c>, references ignored): a clean
    /// file page is dropped, a lazily freed clean page discarded, an anonymous page written to swap — when a slot is
    /// free; without swap it stays. A dirty file page stays too (only kswapd writes file pages back). A COLD page is
    /// not moved on any list: the replacement policy sees its cleared Accessed bit (Linux also moves it to the inactive
    /// list's tail, which VmLab's policies do not model).
    /// </summary>
    private void ColdOrPageOut(Process p, ulong from, ulong to, bool pageOut, int cpu)
    {
        var leaves = new List<(ulong Address, PageMapping Leaf)>();
        _k.PageTable.CollectLeaves(p.PageTableRoot, from, to, leaves);
        var victims = new List<ulong>();
        foreach (var (a, leaf) in leaves)
        {
            if (!leaf.IsPresent || leaf.Frame == FrameTable.ZeroPage || _k.Frames.MapCount(leaf.Frame) != 1) continue;
            if (leaf.Has(PageFlags.Accessed))
            {
                var old = leaf.Without(PageFlags.Accessed);
                _k.PageTable.Write(p.PageTableRoot, a, old);
                _k.Stream?.Pte(cpu, p.Pid, a, leaf, old);
            }
            victims.Add(leaf.Frame);
        }
        FlushTlbRange(p, from, to, cpu);
        if (!pageOut) return;
        foreach (ulong pfn in victims) _k.Reclaim.PageOut(pfn, cpu);
    }

    /// <summary>
    /// MADV_POPULATE_READ/WRITE (<c>madvise_populate</c> → <c>faultin_page_range</c>): faults the pages of [start, end)
    /// in, in order, as get_user_pages does (counted as minor or major faults, no signal). It stops at the first page it
    /// cannot fault in, keeping those before it: -ENOMEM where no VMA maps the page (or memory ran out), -EINVAL where
    /// the VMA does not allow the access (PROT_NONE; a write to a VMA without write permission), -EFAULT where it is
    /// device memory (VM_IO|VM_PFNMAP) or the fault failed (SIGBUS past a file's end).
    /// </summary>
    public long Populate(Process p, int cpu, ulong start, ulong end, bool write)
    {
        var kind = write ? AccessKind.Write : AccessKind.Read;
        for (ulong a = start; a < end; a += PageSize)
        {
            var vma = p.Mm.FindVma(a);
            if (vma is null || vma.Start > a) return -Errno.ENOMEM;
            if (vma.Protection == Protection.None || (write && (vma.Protection & Protection.Write) == 0)) return -Errno.EINVAL;
            if ((vma.Flags & VmaFlags.Device) != 0) return -Errno.EFAULT;
            long r = FaultIn(p, cpu, a, kind);
            if (r != 0) return r == Stuck ? -Errno.EFAULT : r;
        }
        return 0;
    }

    /// <summary><see cref="FaultIn"/>'s answer when a fault reported success without changing the entry or killing anyone.</summary>
    private const long Stuck = 1;

    /// <summary>
    /// Faults one page in for <paramref name="kind"/> on the task's behalf (get_user_pages' <c>faultin_page</c>): 0 when
    /// the page is mapped as the access needs; -EFAULT when the fault failed (its signal is not sent); -ENOMEM when the
    /// task was killed (the OOM killer); <see cref="Stuck"/> when a fault made no progress. A page whose fault killed another process is faulted again (the allocator
    /// retries after an OOM kill).
    /// </summary>
    private long FaultIn(Process p, int cpu, ulong a, AccessKind kind)
    {
        var entry = new KernelEntry(cpu, p, AccessMode.User);
        var previous = PageMapping.Empty;
        long killsBefore = -1;
        for (int attempt = 0; ; attempt++)
        {
            var leaf = _k.PageTable.Read(p.PageTableRoot, a);
            if (leaf.IsPresent && (kind == AccessKind.Read || leaf.Has(PageFlags.Writable))) return 0;
            // A fault that reported success without changing the entry or killing anyone will not do better again.
            if (attempt > 0 && leaf == previous && _k.Processes.OomKills == killsBefore) return Stuck;
            previous = leaf;
            killsBefore = _k.Processes.OomKills;
            var error = PageFaultErrorCode.For(kind, AccessMode.User, present: leaf.IsPresent);
            if (_k.Faults.HandleOnBehalf(entry, a, kind, error).Dispatch != FaultDispatch.Retry) return p.Alive ? -Errno.EFAULT : -Errno.ENOMEM;
            if (!p.Alive) return -Errno.ENOMEM;
        }
    }

    // ---- memory locks ------------------------------------------------------------------------------------

    /// <summary>
    /// <c>mlock2</c> (mm/mlock.c <c>do_mlock</c>): the start is rounded down to its page and the length up
    /// (<c>PAGE_ALIGN(len + offset_in_page(start))</c>), so an unaligned range is no error; unknown flags are -EINVAL.
    /// The VMAs are locked in order, split at the range's edges (device memory, VM_SPECIAL, is skipped); a hole stops
    /// it with -ENOMEM, the VMAs before it locked but not populated (<c>apply_vma_lock_flags</c>). Without
    /// MLOCK_ONFAULT the range is then populated as MAP_POPULATE populates (write faults for a private writable VMA):
    /// a page that cannot be faulted in (PROT_NONE, past a file's end) makes it -ENOMEM, an OOM kill -EAGAIN
    /// (<c>__mlock_posix_error_return</c>). RLIMIT_MEMLOCK is not modelled: every process may lock (as root can).
    /// </summary>
    public long Mlock(Process p, int cpu, ulong address, ulong length, int flags)
    {
        if ((flags & ~LockFlags.MlockOnFault) != 0) return -Errno.EINVAL;
        if (!LockRange(address, length, out ulong start, out ulong end)) return -Errno.EINVAL;
        if (start == end) return 0;
        bool onFault = (flags & LockFlags.MlockOnFault) != 0;
        long r = ApplyLock(p, start, end, locked: true, onFault);
        if (r != 0 || onFault) return r;
        return PopulateLocked(p, cpu, start, end);
    }

    /// <summary><c>munlock</c>: as <see cref="Mlock"/>'s range, the VMAs unlocked; a hole is -ENOMEM (those before it unlocked).</summary>
    public long Munlock(Process p, int cpu, ulong address, ulong length)
    {
        if (!LockRange(address, length, out ulong start, out ulong end)) return -Errno.EINVAL;
        return start == end ? 0 : ApplyLock(p, start, end, locked: false, onFault: false);
    }

    /// <summary>
    /// <c>mlockall</c> (<c>apply_mlockall_flags</c>): flags 0, unknown bits or MCL_ONFAULT alone are -EINVAL. MCL_FUTURE
    /// locks every later mapping (and heap growth), populated unless MCL_ONFAULT; MCL_CURRENT locks every VMA now (with
    /// MCL_ONFAULT: on fault) and populates them, ignoring what cannot be populated (<c>mm_populate</c>). A child of
    /// fork inherits no lock, nor the future flags; exec starts without them.
    /// </summary>
    public long Mlockall(Process p, int cpu, int flags)
    {
        const int all = LockFlags.Current | LockFlags.Future | LockFlags.OnFault;
        if (flags == 0 || (flags & ~all) != 0 || flags == LockFlags.OnFault) return -Errno.EINVAL;
        bool onFault = (flags & LockFlags.OnFault) != 0;
        p.Mm.LockFuture = (flags & LockFlags.Future) != 0;
        p.Mm.LockFutureOnFault = p.Mm.LockFuture && onFault;
        if ((flags & LockFlags.Current) == 0) return 0;
        foreach (var v in p.Mm.Vmas)
        {
            if ((v.Flags & VmaFlags.Device) != 0) continue;
            v.Locked = true;
            v.LockOnFault = onFault;
        }
        if (!onFault)
            foreach (var v in p.Mm.Vmas.ToList())
                PopulateVmaLocked(p, cpu, v, v.Start, v.End);
        return 0;
    }

    /// <summary><c>munlockall</c>: every VMA unlocked, the future flags cleared.</summary>
    public long Munlockall(Process p)
    {
        p.Mm.LockFuture = p.Mm.LockFutureOnFault = false;
        foreach (var v in p.Mm.Vmas) v.Locked = v.LockOnFault = false;
        return 0;
    }

    private bool LockRange(ulong address, ulong length, out ulong start, out ulong end)
    {
        start = address & ~PageMask;
        ulong len = PageAlign(length + (address & PageMask));
        end = start + len;
        return (length == 0 || len != 0) && end >= start && length + (address & PageMask) >= length;
    }

    /// <summary>Sets or clears the lock of the VMAs of [start, end), splitting at its edges; -ENOMEM at a hole.</summary>
    private long ApplyLock(Process p, ulong start, ulong end, bool locked, bool onFault)
    {
        ulong cursor = start;
        foreach (var whole in p.Mm.Overlapping(start, end))
        {
            if (whole.Start > cursor) return -Errno.ENOMEM;
            ulong from = Math.Max(whole.Start, start), to = Math.Min(whole.End, end);
            cursor = to;
            if ((whole.Flags & VmaFlags.Device) != 0) continue; // VM_SPECIAL: mlock_fixup leaves it
            if (whole.Locked == locked && whole.LockOnFault == (locked && onFault)) continue;
            foreach (var v in SplitFor(p, whole, from, to))
            {
                v.Locked = locked;
                v.LockOnFault = locked && onFault;
            }
        }
        return cursor < end ? -Errno.ENOMEM : 0;
    }

    /// <summary>mlock's <c>__mm_populate</c> without ignoring errors, its errno as mlock reports it.</summary>
    private long PopulateLocked(Process p, int cpu, ulong start, ulong end)
    {
        foreach (var v in p.Mm.Overlapping(start, end))
        {
            long r = PopulateVmaLocked(p, cpu, v, Math.Max(v.Start, start), Math.Min(v.End, end));
            if (r != 0) return r;
        }
        return 0;
    }

    /// <summary>
    /// <c>populate_vma_page_range</c> for a locked VMA: device memory and lock-on-fault VMAs are skipped; a PROT_NONE VMA
    /// cannot be populated (no FOLL_FORCE: -EFAULT, which mlock reports as -ENOMEM); a private writable VMA is
    /// write-faulted, every other read-faulted.
    /// </summary>
    private long PopulateVmaLocked(Process p, int cpu, Vma v, ulong from, ulong to)
    {
        if ((v.Flags & VmaFlags.Device) != 0 || v.LockOnFault) return 0;
        if (v.Protection == Protection.None) return -Errno.ENOMEM;
        bool write = (v.Protection & Protection.Write) != 0 && (v.Flags & VmaFlags.Shared) == 0;
        for (ulong a = from; a < to; a += PageSize)
        {
            long r = FaultIn(p, cpu, a, write ? AccessKind.Write : AccessKind.Read);
            if (r == -Errno.EFAULT) return -Errno.ENOMEM;
            if (r == -Errno.ENOMEM) return -Errno.EAGAIN;
        }
        return 0;
    }

    // ---- mremap ------------------------------------------------------------------------------------------

    /// <summary>
    /// <c>mremap</c> (mm/mremap.c). Checked first, in order: unknown flags or an unaligned address -EINVAL; FIXED or
    /// DONTUNMAP without MAYMOVE -EINVAL; a new length of 0 -EINVAL; DONTUNMAP with a new length -EINVAL; a FIXED target
    /// unaligned or overlapping the source -EINVAL, or past the user half -ENOMEM; an address no VMA maps, or an old range
    /// past its VMA's end, -EFAULT (so is device memory, VM_PFNMAP). An old length of 0 (which duplicates a shared
    /// mapping on Linux) is not modelled: -EINVAL.
    /// <para>
    /// Shrinking unmaps the tail and keeps the address. Growing extends the VMA in place when the old range ends at its
    /// VMA's end and the space after is free; otherwise MAYMOVE moves it to a free area (FIXED: to the target, after
    /// unmapping what was there), else -ENOMEM. A move carries the page-table entries to the new range (Linux's
    /// <c>move_page_tables</c>): frames, swap entries, reference and map counts and RSS are unchanged, so resident pages
    /// are accessed there with no fault; the old range is flushed from every TLB and unmapped — or, with DONTUNMAP, left
    /// mapped and empty (the next touch faults in a fresh page) and no longer locked. A locked VMA that grows is
    /// populated over its new part.
    /// </para>
    /// </summary>
    public long Mremap(Process p, int cpu, ulong address, ulong oldLength, ulong newLength, int flags, ulong newAddress)
    {
        long r = Remap(p, cpu, address, oldLength, newLength, flags, newAddress);
        if (r >= 0 && (r != (long)address || PageAlign(newLength) != PageAlign(oldLength))) VmaChanged();
        return r;
    }

    private long Remap(Process p, int cpu, ulong address, ulong oldLength, ulong newLength, int flags, ulong newAddress)
    {
        const int all = RemapFlags.MayMove | RemapFlags.Fixed | RemapFlags.DontUnmap;
        if ((flags & ~all) != 0 || (address & PageMask) != 0) return -Errno.EINVAL;
        bool mayMove = (flags & RemapFlags.MayMove) != 0, fixedTarget = (flags & RemapFlags.Fixed) != 0, dontUnmap = (flags & RemapFlags.DontUnmap) != 0;
        if ((fixedTarget || dontUnmap) && !mayMove) return -Errno.EINVAL;
        ulong oldLen = PageAlign(oldLength), newLen = PageAlign(newLength);
        if (newLen == 0 || (oldLength != 0 && oldLen == 0)) return -Errno.EINVAL;
        if (dontUnmap && oldLen != newLen) return -Errno.EINVAL;
        if (fixedTarget)
        {
            if ((newAddress & PageMask) != 0) return -Errno.EINVAL;
            if (newAddress < address + oldLen && address < newAddress + newLen) return -Errno.EINVAL;
            if (newAddress + newLen < newAddress || newAddress + newLen > _k.Geometry.UserTop) return -Errno.ENOMEM;
        }
        if (oldLen == 0) return -Errno.EINVAL;
        var vma = p.Mm.FindVma(address);
        if (vma is null || vma.Start > address || address + oldLen > vma.End || (vma.Flags & VmaFlags.Device) != 0) return -Errno.EFAULT;

        if (fixedTarget)
        {
            UnmapRange(p, newAddress, newAddress + newLen, cpu);
            if (newLen < oldLen)
            {
                UnmapRange(p, address + newLen, address + oldLen, cpu);
                oldLen = newLen;
            }
            vma = p.Mm.FindVma(address)!;
            return MoveVma(p, cpu, vma, address, oldLen, newAddress, newLen, dontUnmap);
        }
        if (newLen <= oldLen && !dontUnmap)
        {
            if (newLen < oldLen) UnmapRange(p, address + newLen, address + oldLen, cpu);
            return (long)address;
        }
        if (!dontUnmap && address + oldLen == vma.End && address + newLen <= _k.Geometry.UserTop
            && p.Mm.Overlapping(vma.End, address + newLen).Count == 0)
        {
            ulong oldEnd = vma.End;
            vma.End = address + newLen;
            if (vma.Locked && !vma.LockOnFault) PopulateVmaLocked(p, cpu, vma, oldEnd, vma.End);
            return (long)address;
        }
        if (!mayMove) return -Errno.ENOMEM;
        ulong? found = FindFreeArea(p.Mm, newLen, 0);
        if (found is null) return -Errno.ENOMEM;
        return MoveVma(p, cpu, vma, address, oldLen, found.Value, newLen, dontUnmap);
    }

    /// <summary>
    /// <c>move_vma</c>: [address, address+oldLen) of <paramref name="vma"/> becomes a VMA at <paramref name="to"/> of
    /// <paramref name="newLen"/>, its page-table entries moved; -ENOMEM, with everything moved back, when a page table
    /// for the new range cannot be allocated even after reclaim.
    /// </summary>
    private long MoveVma(Process p, int cpu, Vma vma, ulong address, ulong oldLen, ulong to, ulong newLen, bool dontUnmap)
    {
        var moving = SplitFor(p, vma, address, address + oldLen)[0];
        var moved = moving.Slice(moving.Start, moving.End);
        moved.Start = to;
        moved.End = to + newLen;
        p.Mm.Add(moved);
        var leaves = new List<(ulong Address, PageMapping Leaf)>();
        _k.PageTable.CollectLeaves(p.PageTableRoot, address, address + oldLen, leaves);
        for (int i = 0; i < leaves.Count; i++)
        {
            var (a, leaf) = leaves[i];
            if (MovePte(p, cpu, a, to + (a - address), leaf)) continue;
            for (int j = i - 1; j >= 0; j--) MovePte(p, cpu, to + (leaves[j].Address - address), leaves[j].Address, leaves[j].Leaf);
            p.Mm.Remove(moved);
            return -Errno.ENOMEM;
        }
        FlushTlbRange(p, address, address + oldLen, cpu);
        if (dontUnmap) moving.Locked = moving.LockOnFault = false; // the old VMA stays, empty and unlocked
        else p.Mm.Remove(moving);
        if (moved.Locked && !moved.LockOnFault && newLen > oldLen) PopulateVmaLocked(p, cpu, moved, to + oldLen, to + newLen);
        return (long)to;
    }

    /// <summary>Moves one entry from <paramref name="from"/> to <paramref name="to"/> (<c>move_ptes</c>); false when the new page table cannot be had.</summary>
    private bool MovePte(Process p, int cpu, ulong from, ulong to, PageMapping leaf)
    {
        var pageTable = _k.PageTable;
        while (!pageTable.Write(p.PageTableRoot, to, leaf))
            if (!_k.Reclaim.ReclaimOne(direct: true, cpu)) return false;
        _k.TlbMaintenance.NotePteChange(p, to, PageMapping.Empty, leaf, cpu);
        pageTable.Write(p.PageTableRoot, from, PageMapping.Empty with { PageShift = leaf.PageShift });
        _k.TlbMaintenance.NotePteChange(p, from, leaf, PageMapping.Empty, cpu);
        if (leaf.HoldsFrame && leaf.Frame != FrameTable.ZeroPage) _k.Reclaim.OnMoved(p, from, to, leaf.Frame);
        return true;
    }

    // ---- mincore -----------------------------------------------------------------------------------------

    /// <summary>
    /// <c>mincore</c> (mm/mincore.c): an unaligned start is -EINVAL, a range beyond the user half -ENOMEM; one byte per
    /// page, in order, until a page no VMA maps (-ENOMEM, the bytes before it filled). A page is resident when its
    /// entry holds a frame (PROT_NONE too: <c>pte_present</c>), when its swap entry's page is still in the swap cache,
    /// or — for a file or shmem VMA with no entry — when the file's page is in the page cache, mapped or not
    /// (<c>mincore_page</c>). Device memory reports 0.
    /// </summary>
    public long Mincore(Process p, ulong address, ulong length, Span<byte> vector)
    {
        if ((address & PageMask) != 0) return -Errno.EINVAL;
        if (address + length < address || address + length > _k.Geometry.UserTop) return -Errno.ENOMEM;
        ulong pages = (length + PageMask) / PageSize;
        if ((ulong)vector.Length < pages) throw new ArgumentException($"mincore of {pages} pages needs {pages} bytes of vector, not {vector.Length}", nameof(vector));
        for (ulong i = 0; i < pages; i++)
        {
            ulong a = address + i * PageSize;
            var vma = p.Mm.FindVma(a);
            if (vma is null || vma.Start > a) return -Errno.ENOMEM;
            vector[(int)i] = Resident(p, vma, a) ? (byte)1 : (byte)0;
        }
        return 0;
    }

    private bool Resident(Process p, Vma vma, ulong a)
    {
        if ((vma.Flags & VmaFlags.Device) != 0) return false;
        var leaf = _k.PageTable.Read(p.PageTableRoot, a);
        if (leaf.HoldsFrame) return true;
        if (leaf.IsSwapped)
        {
            foreach (ulong slot in _k.Swap.CacheSlots.Values)
                if (slot == leaf.Frame) return true;
            return false;
        }
        return vma.FileName is not null && _k.Files.IsCachedAt(vma.FileName, (vma.FileOffset + (a - vma.Start)) / PageSize);
    }

    /// <summary>
    /// The page's <c>/proc/PID/pagemap</c> entry (fs/proc/task_mmu.c <c>pte_to_pagemap_entry</c>): a leaf that holds a
    /// frame is present (PROT_NONE too: <c>pte_present</c>); exclusive when the frame is mapped once
    /// (<c>folio_precise_page_mapcount == 1</c>); file for a page-cache or shmem page (<c>!PageAnon</c>). The zero page
    /// is no normal page (<c>vm_normal_page</c> is NULL): present with its frame, nothing else.
    /// </summary>
    public PagemapEntry Pagemap(Process p, ulong address)
    {
        if (address >= _k.Geometry.UserTop) return default;
        var leaf = _k.PageTable.Read(p.PageTableRoot, address & ~PageMask);
        if (leaf.IsSwapped) return new PagemapEntry(false, true, false, false, leaf.Frame);
        if (!leaf.HoldsFrame) return default;
        if (leaf.Frame == FrameTable.ZeroPage) return new PagemapEntry(true, false, false, false, leaf.Frame);
        return new PagemapEntry(true, false, _k.Files.IsCached(leaf.Frame), _k.Frames.MapCount(leaf.Frame) == 1, leaf.Frame);
    }

    public long Brk(Process p, int cpu, ulong newBreak)
    {
        var mm = p.Mm;
        if (newBreak == 0 || newBreak < mm.BrkStart) return (long)mm.Brk;
        ulong oldEnd = PageAlign(mm.Brk), newEnd = PageAlign(newBreak);
        if (newEnd > oldEnd)
        {
            if (mm.Overlapping(oldEnd, newEnd).Count > 0) return (long)mm.Brk;
            var heap = mm.Vmas.FirstOrDefault(v => v.End == oldEnd && v.Start >= mm.BrkStart && (v.Flags & VmaFlags.File) == 0
                && v.Locked == mm.LockFuture && v.LockOnFault == (mm.LockFuture && mm.LockFutureOnFault));
            if (heap is not null) heap.End = newEnd;
            else
            {
                heap = new Vma(oldEnd, newEnd, Protection.ReadWrite, VmaFlags.None) { Locked = mm.LockFuture, LockOnFault = mm.LockFuture && mm.LockFutureOnFault };
                mm.Add(heap);
            }
            mm.Brk = newBreak;
            VmaChanged();
            // brk populates the new part when def_flags has VM_LOCKED (mlockall(MCL_FUTURE)), as mm_populate does.
            if (heap.Locked && !heap.LockOnFault)
                for (ulong a = oldEnd; a < newEnd && p.Alive; a += PageSize)
                    if (FaultIn(p, cpu, a, AccessKind.Write) < 0) break;
            return (long)newBreak;
        }
        else if (newEnd < oldEnd)
        {
            if (UnmapRange(p, newEnd, oldEnd, cpu)) VmaChanged();
        }
        mm.Brk = newBreak;
        return (long)newBreak;
    }

    // ---- fork ----------------------------------------------------------------------------------------------

    /// <summary>
    /// fork's <c>dup_mmap</c> → <c>copy_page_range</c>: copies the VMAs, and the page-table entries only of those
    /// <see cref="NeedsCopy"/> picks (VMAs with anonymous pages); the child faults every other page in when it touches
    /// it. Copied private writable pages are write-protected in parent and child and shared with one more reference
    /// (copy-on-write); swap entries are copied with one more reference on their slot; the parent's TLB entries are
    /// flushed on either outcome. No data is copied. False when a frame for the child's page tables cannot be found even
    /// after direct reclaim; the caller then releases the half-built child. As in Linux, parent entries already
    /// write-protected stay so: the parent's next write to such a page reuses it (one minor fault, no copy).
    /// </summary>
    internal bool CopyForFork(Process parent, Process child, int cpu)
    {
        child.Mm.BrkStart = parent.Mm.BrkStart;
        child.Mm.Brk = parent.Mm.Brk;
        bool copied = true;
        var leaves = new List<(ulong Address, PageMapping Leaf)>();
        foreach (var v in parent.Mm.Vmas)
        {
            if (v.DontCopy) continue; // MADV_DONTFORK: the child has no such VMA
            child.Mm.Add(v.CopyForFork()); // the child's VMA keeps the anon_vma state (anon_vma_fork)
            if (!NeedsCopy(v) || v.WipeOnFork) continue; // MADV_WIPEONFORK: the child's VMA starts empty
            leaves.Clear();
            _k.PageTable.CollectLeaves(parent.PageTableRoot, v.Start, v.End, leaves);
            foreach (var (a, _) in leaves)
            {
                if (!CopyPte(parent, child, v, a, cpu))
                {
                    copied = false;
                    break;
                }
            }
            if (!copied) break;
        }
        FlushTlbMm(parent, cpu); // dup_mmap flushes the parent on either outcome
        return copied;
    }

    /// <summary>
    /// Linux <c>vma_needs_copy</c> (mm/memory.c): fork copies a VMA's entries only when a page fault could not rebuild
    /// them. That is a VMA with an anon_vma (<see cref="Vma.HasAnonVma"/>: its anonymous pages and swap entries exist
    /// nowhere else), or a VM_PFNMAP/VM_MIXEDMAP one (<c>VM_COPY_ON_FORK</c>: no page cache behind it). Everything else —
    /// MAP_SHARED memory (shmem or file) and private file mappings never written — starts empty in the child, which
    /// faults its pages in from the page cache (minor faults; major for a page reclaim has dropped since) as it touches
    /// them: nothing is shared through the child's page tables, so no reference, map count or RSS moves at fork. Trapped
    /// device VMAs stand for VM_IO|VM_PFNMAP device memory and are marked for copying as Linux does; they never hold an
    /// entry (every access traps), so the child traps exactly as the parent does. Write-protect dirty tracking is the
    /// parent's alone (the child's address space is not tracked, as uffd-wp without UFFD_FEATURE_EVENT_FORK is cleared
    /// from the child's VMAs), so it forces no copy.
    /// </summary>
    private static bool NeedsCopy(Vma v) => v.HasAnonVma || (v.Flags & VmaFlags.Device) != 0;

    /// <summary>
    /// Copies the parent's entry for page <paramref name="a"/> into the child (copy_present_pte / copy_nonpresent_pte);
    /// false when the child's page tables cannot be allocated, with nothing of this page taken. Reclaim for the child's
    /// tables runs here, between attempts to write the child's entry, never inside the page-table format: the parent's
    /// entry is read again after each, and what is shared (the reference, the write protection) follows what the parent
    /// holds then.
    /// </summary>
    private bool CopyPte(Process parent, Process child, Vma v, ulong a, int cpu)
    {
        bool cow = (v.Flags & VmaFlags.Shared) == 0 && (v.Protection & Protection.Write) != 0;
        var pageTable = _k.PageTable;
        PageMapping leaf;
        for (;;)
        {
            leaf = pageTable.Read(parent.PageTableRoot, a);
            if (!leaf.IsSwapped && !leaf.HoldsFrame) return true;
            if (pageTable.Write(child.PageTableRoot, a, ChildEntry(leaf, v, cow)))
            {
                _k.Stream?.Pte(cpu, child.Pid, a, PageMapping.Empty, ChildEntry(leaf, v, cow));
                break;
            }
            if (!_k.Reclaim.ReclaimOne(direct: true, cpu)) return false;
        }
        if (leaf.IsSwapped)
        {
            // A swapped-out page is shared through its swap entry: one more reference on the slot.
            _k.Swap.DupEntry(leaf.Frame);
            return true;
        }
        if (cow && leaf.Has(PageFlags.Writable))
        {
            pageTable.Write(parent.PageTableRoot, a, leaf.Without(PageFlags.Writable));
            _k.Stream?.Pte(cpu, parent.Pid, a, leaf, leaf.Without(PageFlags.Writable));
        }
        if (leaf.Frame != FrameTable.ZeroPage)
        {
            _k.Frames.Get(leaf.Frame);
            _k.Frames.AddMap(leaf.Frame);
            child.ResidentPages++;
            _k.Reclaim.OnMapped(child, a, leaf.Frame);
        }
        return true;
    }

    /// <summary>The child's copy of a parent entry: write-protected for copy-on-write, old (pte_mkold), clean in a shared mapping.</summary>
    private static PageMapping ChildEntry(PageMapping leaf, Vma v, bool cow)
    {
        if (leaf.IsSwapped) return leaf;
        var childLeaf = cow && leaf.Has(PageFlags.Writable) ? leaf.Without(PageFlags.Writable) : leaf;
        childLeaf = childLeaf.Without(PageFlags.Accessed);
        if ((v.Flags & VmaFlags.Shared) != 0) childLeaf = childLeaf.Without(PageFlags.Dirty);
        return childLeaf;
    }

    // ---- leaf mappings -------------------------------------------------------------------------------------

    /// <summary>
    /// Maps <paramref name="pfn"/> at the page of <paramref name="vaddr"/>, taking over one reference the caller holds;
    /// updates RSS, map counts and the reverse map. A table page the format needs and cannot get is reclaimed for here,
    /// between attempts (never from inside the format). False when even reclaim finds none: the reference is dropped then
    /// too (a frame allocated for the fault is freed).
    /// </summary>
    public bool MapPage(Process p, ulong vaddr, ulong pfn, PageFlags flags, int cpu)
    {
        ulong page = vaddr & ~PageMask;
        var pageTable = _k.PageTable;
        var old = pageTable.Read(p.PageTableRoot, page);
        var vma = p.Mm.FindVma(page) is { } found && found.Contains(page) ? found : null;
        byte key = vma?.ProtectionKey ?? 0;
        if (vma is not null && (vma.Flags & VmaFlags.Shared) == 0 && pfn != FrameTable.ZeroPage && !_k.Files.IsCached(pfn))
            vma.HasAnonVma = true; // an anonymous page joins the VMA's anon_vma (folio_add_new_anon_rmap needs one)
        // A page the tracker watches is mapped read-only until its first write is logged, as a VMA with soft-dirty or
        // uffd-wp tracking gets a write-protected vm_page_prot: a read fault in shmem (writable page protection) too.
        // A page mapped for a write (a write fault on a page not present) is that first write: it is logged here, as a
        // newly faulted-in page is born soft-dirty and a KVM write fault on a missing page marks it in the dirty bitmap.
        if ((flags & PageFlags.Writable) != 0 && p.Mm.DirtyTracked.Contains(page) && !p.Mm.DirtyLog.Contains(page))
        {
            if ((flags & PageFlags.Dirty) != 0) _k.Devices.LogWrite(p, page);
            else flags &= ~PageFlags.Writable;
        }
        // A new mapping is made young, as Linux's mk_pte with vm_page_prot (which holds A on x86 and AF on arm64).
        var entry = new PageMapping(pfn, flags | PageFlags.Present | PageFlags.Accessed, ProtectionKey: key);
        while (!pageTable.Write(p.PageTableRoot, page, entry))
        {
            if (_k.Reclaim.ReclaimOne(direct: true, cpu)) continue;
            // The reference was handed over either way: dropped here, or a frame allocated for the fault would leak.
            _k.Frames.Put(pfn);
            return false;
        }
        _k.TlbMaintenance.NotePteChange(p, page, old, new PageMapping(pfn, flags | PageFlags.Present), cpu);
        if (pfn != FrameTable.ZeroPage)
        {
            _k.Frames.AddMap(pfn);
            p.ResidentPages++;
            _k.Reclaim.OnMapped(p, page, pfn);
        }
        if (old.HoldsFrame) DropMapping(p, page, old);
        return true;
    }

    /// <summary>Changes the flags of an existing leaf without changing its frame.</summary>
    public void UpdatePageFlags(Process p, ulong vaddr, PageFlags flags)
    {
        var leaf = _k.PageTable.Read(p.PageTableRoot, vaddr);
        if (!leaf.IsPresent) throw new InvalidOperationException($"no present page at 0x{vaddr:x} in pid {p.Pid}");
        var updated = leaf with { Flags = flags | PageFlags.Present };
        _k.PageTable.Write(p.PageTableRoot, vaddr, updated);
        _k.TlbMaintenance.NotePteChange(p, vaddr, leaf, updated, -1);
    }

    /// <summary>Removes the leaf at <paramref name="vaddr"/> and drops its frame reference (freeing the frame at zero) or its swap-slot reference.</summary>
    public void UnmapPage(Process p, ulong vaddr, bool flush, int cpu)
    {
        var leaf = _k.PageTable.Read(p.PageTableRoot, vaddr);
        if (leaf.IsEmpty) return;
        _k.PageTable.Write(p.PageTableRoot, vaddr, PageMapping.Empty with { PageShift = leaf.PageShift });
        _k.TlbMaintenance.NotePteChange(p, vaddr, leaf, PageMapping.Empty, cpu);
        if (leaf.HoldsFrame) DropMapping(p, vaddr, leaf);
        else if (leaf.IsSwapped) _k.Swap.ReleaseEntry(leaf.Frame);
        if (flush) FlushTlbPage(p, vaddr, cpu);
    }

    private void DropMapping(Process p, ulong vaddr, in PageMapping leaf)
    {
        ulong pfn = leaf.Frame;
        if (pfn == FrameTable.ZeroPage) return;
        _k.Reclaim.OnUnmapped(p, vaddr, leaf);
        _k.Frames.RemoveMap(pfn);
        p.ResidentPages--;
        _k.Frames.Put(pfn);
    }

    /// <summary>Invalidates one page on every CPU that may hold the address space (<c>flush_tlb_page</c>), initiated on <paramref name="cpu"/>.</summary>
    public void FlushTlbPage(Process p, ulong vaddr, int cpu)
    {
        _k.PageTable.InvalidateWalkCaches(p.PageTableRoot, vaddr);
        _k.TlbMaintenance.FlushPage(p, vaddr, cpu);
    }

    /// <summary>
    /// Invalidates [<paramref name="start"/>, <paramref name="end"/>) on every CPU that may hold the address space
    /// (<c>flush_tlb_mm_range</c>: per page up to 33 pages, the whole address space above), as munmap and mprotect do.
    /// </summary>
    public void FlushTlbRange(Process p, ulong start, ulong end, int cpu)
    {
        _k.PageTable.InvalidateWalkCaches(p.PageTableRoot, start);
        _k.TlbMaintenance.FlushRange(p, start, end, cpu);
    }

    /// <summary>Invalidates every non-global entry of the address space on every CPU that may hold it (<c>flush_tlb_mm</c>).</summary>
    public void FlushTlbMm(Process p, int cpu)
    {
        _k.PageTable.InvalidateWalkCaches(p.PageTableRoot, 0);
        _k.TlbMaintenance.FlushAddressSpace(p, cpu);
    }

    /// <summary>
    /// The VMA's page protection (<c>vm_page_prot</c>) plus write permission when <paramref name="writable"/> and the VMA
    /// allows it (<c>maybe_mkwrite</c>). A shared writable mapping is writable by its page protection alone unless it
    /// wants write notification (<c>vma_wants_writenotify</c>): a file with dirty accounting does (its first write to a
    /// page faults, <c>wp_page_shared</c>); shmem does not (no writeback, no <c>page_mkwrite</c>), so a read fault maps a
    /// shmem page writable and clean.
    /// </summary>
    public PageFlags FlagsFor(in VmaInfo vma, bool writable)
    {
        var flags = PageFlags.Present | PageFlags.User;
        if ((writable || (vma.IsShared && _k.Files.IsShmem(vma.FileName))) && vma.Allows(Protection.Write)) flags |= PageFlags.Writable;
        if (!vma.Allows(Protection.Exec)) flags |= PageFlags.NoExecute;
        return flags;
    }

    public (ulong End, bool GrowsDown) PreviousVma(Process p, ulong vmaStart)
    {
        Vma? prev = null;
        foreach (var v in p.Mm.Vmas)
        {
            if (v.Start >= vmaStart) break;
            prev = v;
        }
        return prev is null ? (0, false) : (prev.End, (prev.Flags & VmaFlags.GrowsDown) != 0);
    }

    public void ExpandStack(Process p, ulong vmaStart, ulong newStart)
    {
        var vma = p.Mm.FindVma(vmaStart) ?? throw new InvalidOperationException($"no VMA at 0x{vmaStart:x}");
        if (vma.Start != vmaStart || (vma.Flags & VmaFlags.GrowsDown) == 0 || newStart >= vma.Start)
            throw new InvalidOperationException($"cannot grow {vma} down to 0x{newStart:x}");
        vma.Start = newStart;
        vma.HasAnonVma = true; // expand_downwards prepares the anon_vma before it grows the stack, even for a read
    }
}
