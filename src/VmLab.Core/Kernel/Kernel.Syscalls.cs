using VmLab.Abstractions;
using VmLab.Abstractions.Faults;
using VmLab.Abstractions.Signals;
using VmLab.Abstractions.Workloads;
using VmLab.Core.Memory;

namespace VmLab.Core.Kernel;

/// <summary>A simulated file: a size and the byte every position holds. A shmem file backs shared anonymous memory (no I/O).</summary>
public sealed record SimFile(string Name, ulong Size, byte Fill, bool Shmem = false);

/// <summary>System calls: the address-space and process operations scenarios drive.</summary>
public sealed partial class Kernel
{
    /// <summary>Where non-fixed mmap places mappings, top-down, without randomisation (x86-64 mmap_base with ASLR off).</summary>
    public const ulong MmapBase = 0x7fff_f7ff_f000;
    /// <summary>The start of the heap (brk) without randomisation.</summary>
    public const ulong BrkBase = 0x5555_5555_9000;

    private const ulong PageSize = VirtualAddress.PageSize;
    private const ulong PageMask = PageSize - 1;
    /// <summary>Above this many pages a range flush is a full flush of the address space (Linux tlb_single_page_flush_ceiling).</summary>
    public const int FlushCeilingPages = 33;

    private readonly Dictionary<string, SimFile> _files = new(StringComparer.Ordinal);
    private readonly Dictionary<(string File, ulong Index), ulong> _pageCache = [];
    private int _nextPid = 100;

    private Process Require(int pid) =>
        _processes.GetValueOrDefault(pid) ?? throw new InvalidOperationException($"no process {pid}");

    public int NextPid() => _nextPid++;

    /// <summary>A new process with an empty address space; null when no frame is left for its top-level table (no pid is used).</summary>
    public Process? Spawn()
    {
        var p = CreateProcess(_nextPid);
        if (p is null) return null;
        _nextPid++;
        p.Mm.BrkStart = p.Mm.Brk = BrkBase;
        return p;
    }

    // ---- files and the page cache ------------------------------------------------------------------------

    public void CreateFile(string name, ulong size, byte fill) => _files[name] = new SimFile(name, size, fill);

    public SimFile? FindFile(string name) => _files.GetValueOrDefault(name);

    /// <summary>The frames the page cache holds a reference on (read by the invariant checker).</summary>
    internal IEnumerable<ulong> PageCacheFrames => _pageCache.Values;

    /// <summary>The page-cache frame of one page of a file, read in from the file (major) when not cached.</summary>
    public bool TryGetFilePage(string file, ulong index, out ulong pfn, out bool readFromDisk)
    {
        readFromDisk = false;
        if (_pageCache.TryGetValue((file, index), out pfn))
        {
            PinFile(pfn);
            return true;
        }
        var f = _files[file];
        if (!AllocateUserFrame(FileKey(file, index), out pfn)) return false;
        readFromDisk = !f.Shmem;
        ulong start = index * PageSize;
        ulong valid = Math.Min(PageSize, f.Size - start);
        if (!TryReadWrittenBack(file, index, pfn) && f.Fill != 0)
            for (ulong i = 0; i < valid; i++) Memory.WriteByte((pfn << 12) + i, f.Fill);
        _pageCache[(file, index)] = pfn; // the page cache holds the allocation reference
        OnPageCacheInsert(file, index, pfn, f.Shmem);
        return true;
    }

    // ---- mmap family -------------------------------------------------------------------------------------

    public long Mmap(int pid, ulong address, ulong length, Protection prot, MapFlags flags, string? file, ulong offset)
    {
        var p = Require(pid);
        if (length == 0 || (offset & PageMask) != 0) return -Errno.EINVAL;
        ulong len = PageAlign(length);
        if (len < length) return -Errno.ENOMEM;
        bool anonymous = (flags & MapFlags.Anonymous) != 0 || file is null;
        SimFile? f = null;
        if (!anonymous && (flags & MapFlags.Device) == 0 && (f = FindFile(file!)) is null) return -Errno.EBADF;
        if ((flags & MapFlags.Device) != 0)
        {
            if (file is null || FindDevice(file) is null) return -Errno.ENOENT;
            anonymous = false;
        }
        else if (anonymous && (flags & MapFlags.Shared) != 0)
        {
            // Shared anonymous memory is a shmem object, like Linux's "/dev/zero (deleted)": one set of pages for every mapper.
            f = new SimFile($"shmem:{_files.Count}", PageAlign(length), 0, Shmem: true);
            _files[f.Name] = f;
            anonymous = false;
        }

        ulong start;
        if ((flags & MapFlags.Fixed) != 0)
        {
            if ((address & PageMask) != 0) return -Errno.EINVAL;
            if (address + len > Geometry.UserTop || address + len < address) return -Errno.ENOMEM;
            start = address;
            UnmapRange(p, start, start + len);
        }
        else
        {
            ulong? found = FindFreeArea(p.Mm, len, address);
            if (found is null) return -Errno.ENOMEM;
            start = found.Value;
        }

        var vflags = VmaFlags.None;
        if ((flags & MapFlags.Shared) != 0) vflags |= VmaFlags.Shared;
        if (!anonymous) vflags |= VmaFlags.File;
        if ((flags & MapFlags.GrowsDown) != 0) vflags |= VmaFlags.GrowsDown;
        if ((flags & MapFlags.Device) != 0) vflags = (vflags & ~VmaFlags.File) | VmaFlags.Device | VmaFlags.Shared;
        var vma = new Vma(start, start + len, prot, vflags)
        {
            FileName = (flags & MapFlags.Device) != 0 ? file : f?.Name,
            FileOffset = offset,
            FileSize = f?.Size ?? 0,
        };
        p.Mm.Add(vma);

        // Device pages are never populated (VM_IO): every access to them traps.
        if ((flags & MapFlags.Populate) != 0 && (vflags & VmaFlags.Device) == 0) Populate(p, vma);
        return (long)start;
    }

    /// <summary>
    /// MAP_POPULATE: faults every page in as the kernel's get_user_pages does (counted in the caller's minor or major
    /// faults, as getrusage counts them; not page-fault exceptions). Like
    /// Linux's mm_populate its errors are ignored: mmap has returned the address already. When memory runs out the
    /// fault takes the OOM-killer path; a page whose fault killed another process is faulted again (the allocator
    /// retries after an OOM kill), and population stops when the caller itself is killed.
    /// </summary>
    private void Populate(Process p, Vma vma)
    {
        // populate_vma_page_range (mm/gup.c) sets FOLL_WRITE only for (vm_flags & (VM_WRITE | VM_SHARED)) == VM_WRITE:
        // a private writable mapping is written to break COW now; a shared one is read, "because these don't COW and we
        // would not want to dirty them for nothing". The read fault leaves a shmem page writable and clean, a file page
        // of a shared mapping read-only (its first write is then a write-notify fault), as the fault handlers map them.
        bool write = (vma.Protection & Protection.Write) != 0 && (vma.Flags & VmaFlags.Shared) == 0;
        var kind = write ? AccessKind.Write : AccessKind.Read;
        for (ulong a = vma.Start; a < vma.End && p.Alive; a += PageSize)
        {
            var previous = PageMapping.Empty;
            long killsBefore = -1;
            for (int attempt = 0; ; attempt++)
            {
                var leaf = _pageTable.Read(p.PageTableRoot, a);
                if (leaf.IsPresent && (kind == AccessKind.Read || leaf.Has(PageFlags.Writable))) break;
                // A fault that reported success without changing the entry or killing anyone will not do better again.
                if (attempt > 0 && leaf == previous && _oomKills == killsBefore) break;
                previous = leaf;
                killsBefore = _oomKills;
                var error = PageFaultErrorCode.For(kind, AccessMode.User, present: leaf.IsPresent);
                if (HandlePageFault(p, a, kind, AccessMode.User, error, CpuState.LinuxDefault, exception: false) != FaultDispatch.Retry || !p.Alive) return;
            }
        }
    }

    private ulong? FindFreeArea(AddressSpace mm, ulong len, ulong hint)
    {
        if (hint != 0 && (hint & PageMask) == 0 && hint + len <= Geometry.UserTop && mm.Overlapping(hint, hint + len).Count == 0)
            return hint;
        ulong top = Math.Min(MmapBase, Geometry.UserTop);
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

    private static ulong PageAlign(ulong v) => (v + PageMask) & ~PageMask;

    public long Munmap(int pid, ulong address, ulong length)
    {
        var p = Require(pid);
        if ((address & PageMask) != 0 || length == 0) return -Errno.EINVAL;
        ulong end = address + PageAlign(length);
        if (end < address || end > Geometry.UserTop) return -Errno.EINVAL;
        UnmapRange(p, address, end);
        return 0;
    }

    /// <summary>Removes pages and VMA parts in [start, end), splitting VMAs at the edges, then flushes the range.</summary>
    private void UnmapRange(Process p, ulong start, ulong end)
    {
        var overlapping = p.Mm.Overlapping(start, end);
        if (overlapping.Count == 0) return;
        ZapRange(p, start, end);
        foreach (var v in overlapping)
        {
            p.Mm.Remove(v);
            if (v.Start < start) p.Mm.Add(Slice(v, v.Start, start));
            if (v.End > end) p.Mm.Add(Slice(v, end, v.End));
        }
        FlushTlbRange(p, start, end);
    }

    private static Vma Slice(Vma v, ulong start, ulong end) => new(start, end, v.Protection, v.Flags)
    {
        FileName = v.FileName,
        FileOffset = v.FileOffset + (start - v.Start),
        FileSize = v.FileSize,
        ProtectionKey = v.ProtectionKey,
        HasAnonVma = v.HasAnonVma,
    };

    /// <summary>Unmaps every page in [start, end) without touching VMAs or flushing.</summary>
    private void ZapRange(Process p, ulong start, ulong end)
    {
        var leaves = new List<(ulong Address, PageMapping Leaf)>();
        _pageTable.CollectLeaves(p.PageTableRoot, start, end, leaves);
        foreach (var (a, _) in leaves) UnmapPage(p, a, flush: false);
    }

    public long PkeyMprotect(int pid, ulong address, ulong length, Protection prot, int key)
    {
        if (key is < 0 or > 15) return -Errno.EINVAL;
        return Mprotect(pid, address, length, prot, (byte)key);
    }

    public long Mprotect(int pid, ulong address, ulong length, Protection prot) => Mprotect(pid, address, length, prot, null);

    private long Mprotect(int pid, ulong address, ulong length, Protection prot, byte? key)
    {
        var p = Require(pid);
        if ((address & PageMask) != 0) return -Errno.EINVAL;
        if (length == 0) return 0;
        ulong end = address + PageAlign(length);
        // The whole range must be mapped.
        ulong cursor = address;
        foreach (var v in p.Mm.Overlapping(address, end))
        {
            if (v.Start > cursor) return -Errno.ENOMEM;
            cursor = v.End;
        }
        if (cursor < end) return -Errno.ENOMEM;

        foreach (var v in p.Mm.Overlapping(address, end))
        {
            p.Mm.Remove(v);
            if (v.Start < address) p.Mm.Add(Slice(v, v.Start, address));
            if (v.End > end) p.Mm.Add(Slice(v, end, v.End));
            var middle = Slice(v, Math.Max(v.Start, address), Math.Min(v.End, end));
            middle.Protection = prot;
            if (key is not null) middle.ProtectionKey = key.Value;
            p.Mm.Add(middle);
        }

        var leaves = new List<(ulong Address, PageMapping Leaf)>();
        _pageTable.CollectLeaves(p.PageTableRoot, address, end, leaves);
        foreach (var (a, leaf) in leaves)
        {
            if (!leaf.HoldsFrame) continue;
            var vma = p.Mm.FindVma(a)!;
            _pageTable.Write(p.PageTableRoot, a, Reprotect(leaf, vma));
        }
        FlushTlbRange(p, address, end);
        return 0;
    }

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
            bool exclusive = leaf.Frame != FrameTable.ZeroPage && _frames.RefCount(leaf.Frame) == 1 && !IsPageCacheFrame(vma, leaf.Frame);
            if (shared || exclusive) flags |= PageFlags.Writable;
        }
        return leaf with { Flags = flags, ProtectionKey = vma.ProtectionKey };
    }

    private bool IsPageCacheFrame(Vma vma, ulong pfn) =>
        vma.FileName is not null && (vma.Flags & VmaFlags.Shared) == 0 && _pageCache.ContainsValue(pfn);

    public long MadviseDontNeed(int pid, ulong address, ulong length)
    {
        var p = Require(pid);
        if ((address & PageMask) != 0) return -Errno.EINVAL;
        ulong end = address + PageAlign(length);
        ZapRange(p, address, end);
        FlushTlbRange(p, address, end);
        return 0;
    }

    public long Brk(int pid, ulong newBreak)
    {
        var p = Require(pid);
        var mm = p.Mm;
        if (newBreak == 0 || newBreak < mm.BrkStart) return (long)mm.Brk;
        ulong oldEnd = PageAlign(mm.Brk), newEnd = PageAlign(newBreak);
        if (newEnd > oldEnd)
        {
            if (mm.Overlapping(oldEnd, newEnd).Count > 0) return (long)mm.Brk;
            var heap = mm.Vmas.FirstOrDefault(v => v.End == oldEnd && v.Start >= mm.BrkStart && (v.Flags & VmaFlags.File) == 0);
            if (heap is not null) heap.End = newEnd;
            else mm.Add(new Vma(oldEnd, newEnd, Protection.ReadWrite, VmaFlags.None));
        }
        else if (newEnd < oldEnd)
        {
            UnmapRange(p, newEnd, oldEnd);
        }
        mm.Brk = newBreak;
        return (long)newBreak;
    }

    // ---- processes ---------------------------------------------------------------------------------------

    /// <summary>
    /// fork (<c>copy_process</c> → <c>dup_mmap</c> → <c>copy_page_range</c>): copies the VMAs, and the page-table entries
    /// only of those <see cref="NeedsCopy"/> picks (VMAs with anonymous pages); the child faults every other page in
    /// when it touches it. Copied private writable pages are write-protected in parent and child and shared with one
    /// more reference (copy-on-write); swap entries are copied with one more reference on their slot; the parent's TLB
    /// entries are flushed. No data is copied. Returns the child's pid, or -ENOMEM when a frame for the child's page
    /// tables cannot be found even after direct reclaim (the allocator's own, as for any allocation): then everything the half-built child took is
    /// given back (its page tables, the references and map counts on the pages it shared, its swap-entry references),
    /// no child exists and no pid is used. As in Linux, parent entries already write-protected stay so: the parent's
    /// next write to such a page reuses it (one minor fault, no copy).
    /// </summary>
    public int Fork(int pid)
    {
        var parent = Require(pid);
        if (!TryNewAddressSpace(out var mm)) return ForkFailed(parent);
        // The pid is taken only once the copy succeeded (alloc_pid comes after copy_mm).
        var child = new Process(_nextPid, mm, parent.Pid);
        child.Mm.BrkStart = parent.Mm.BrkStart;
        child.Mm.Brk = parent.Mm.Brk;

        bool copied = true;
        var leaves = new List<(ulong Address, PageMapping Leaf)>();
        foreach (var v in parent.Mm.Vmas)
        {
            child.Mm.Add(Slice(v, v.Start, v.End)); // the child's VMA keeps the anon_vma state (anon_vma_fork)
            if (!NeedsCopy(v)) continue;
            leaves.Clear();
            _pageTable.CollectLeaves(parent.PageTableRoot, v.Start, v.End, leaves);
            foreach (var (a, _) in leaves)
            {
                if (!CopyPte(parent, child, v, a))
                {
                    copied = false;
                    break;
                }
            }
            if (!copied) break;
        }
        FlushTlbMm(parent); // dup_mmap flushes the parent on either outcome

        if (!copied)
        {
            // mmput of the half-built mm: every entry copied so far is zapped (references, map counts, swap slots), then
            // its page tables are freed.
            ReleaseAddressSpace(child);
            if (_nextAsid == (ushort)(mm.Asid + 1)) _nextAsid = mm.Asid;
            return ForkFailed(parent);
        }
        _nextPid++;
        child.CopySignalStateFrom(parent, resetHandlers: false);
        foreach (var (fd, file) in parent.Files) child.Files[fd] = file;
        _processes.Add(child.Pid, child);
        return child.Pid;
    }

    /// <summary>
    /// Linux <c>vma_needs_copy</c> (mm/memory.c): fork copies a VMA's entries only when a page fault could not rebuild
    /// them. That is a VMA with an anon_vma (<see cref="Vma.HasAnonVma"/>: its anonymous pages and swap entries exist
    /// nowhere else), or a VM_PFNMAP/VM_MIXEDMAP one (<c>VM_COPY_ON_FORK</c>: no page cache behind it). Everything else —
    /// MAP_SHARED memory (shmem or file) and private file mappings never written — starts empty in the child, which
    /// faults its pages in from the page cache (minor faults; major for a page reclaim has dropped since) as it touches them: nothing is shared through the child's
    /// page tables, so no reference, map count or RSS moves at fork. Trapped device VMAs stand for VM_IO|VM_PFNMAP
    /// device memory and are marked for copying as Linux does; they never hold an entry (every access traps), so the
    /// child traps exactly as the parent does. Write-protect dirty tracking is the parent's alone (the child's address
    /// space is not tracked, as uffd-wp without UFFD_FEATURE_EVENT_FORK is cleared from the child's VMAs), so it
    /// forces no copy.
    /// </summary>
    private static bool NeedsCopy(Vma v) => v.HasAnonVma || (v.Flags & VmaFlags.Device) != 0;

    private int ForkFailed(Process parent)
    {
        Record("fork-failed", parent.Pid, "fork: no frame for the child's page tables and nothing left to reclaim; returned -ENOMEM");
        return -Errno.ENOMEM;
    }

    /// <summary>
    /// Copies the parent's entry for page <paramref name="a"/> into the child (copy_present_pte / copy_nonpresent_pte);
    /// false when the child's page tables cannot be allocated, with nothing of this page taken. The child's entry is
    /// written first, since allocating its tables may reclaim: the parent's entry is read again afterwards, and what
    /// is shared (the reference, the write protection) follows what the parent holds then.
    /// </summary>
    private bool CopyPte(Process parent, Process child, Vma v, ulong a)
    {
        bool cow = (v.Flags & VmaFlags.Shared) == 0 && (v.Protection & Protection.Write) != 0;
        var leaf = _pageTable.Read(parent.PageTableRoot, a);
        if (!leaf.IsSwapped && !leaf.HoldsFrame) return true;
        if (!_pageTable.Write(child.PageTableRoot, a, ChildEntry(leaf, v, cow))) return false;
        var now = _pageTable.Read(parent.PageTableRoot, a);
        if (now != leaf)
        {
            // Reclaim took the page while the child's tables were allocated: copy what the parent holds now.
            leaf = now;
            if (!leaf.IsSwapped && !leaf.HoldsFrame)
            {
                _pageTable.Write(child.PageTableRoot, a, PageMapping.Empty with { PageShift = leaf.PageShift });
                return true;
            }
            _pageTable.Write(child.PageTableRoot, a, ChildEntry(leaf, v, cow));
        }
        if (leaf.IsSwapped)
        {
            // A swapped-out page is shared through its swap entry: one more reference on the slot.
            DupSwapEntry(leaf.Frame);
            return true;
        }
        if (cow && leaf.Has(PageFlags.Writable)) _pageTable.Write(parent.PageTableRoot, a, leaf.Without(PageFlags.Writable));
        if (leaf.Frame != FrameTable.ZeroPage)
        {
            _frames.Get(leaf.Frame);
            _frames.AddMap(leaf.Frame);
            child.ResidentPages++;
            OnMapped(child, a, leaf.Frame);
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

    public Process CloneThread(int pid)
    {
        var p = Require(pid);
        var t = new Process(NextPid(), p.Mm, p.ParentPid);
        p.Mm.Users++;
        t.CopySignalStateFrom(p, resetHandlers: false);
        _processes.Add(t.Pid, t);
        return t;
    }

    /// <summary>
    /// exec: a new, empty address space; handled signals return to their default action. Returns 0, or -ENOMEM when no
    /// frame can be found for the new top-level table (bprm_mm_init, before the point of no return): the process keeps
    /// its old image and its handlers.
    /// </summary>
    public int Exec(int pid)
    {
        var p = Require(pid);
        if (!TryNewAddressSpace(out var mm)) return -Errno.ENOMEM;
        var old = p.Mm;
        p.Mm = mm;
        p.Mm.BrkStart = p.Mm.Brk = BrkBase;
        var holder = new Process(p.Pid, old);
        if (--old.Users == 0) ReleaseAddressSpace(holder);
        p.ResidentPages = 0;
        p.ResetHandlers();
        return 0;
    }

    public void Exit(int pid, int code)
    {
        var p = Require(pid);
        if (!p.Alive) return;
        p.Exit(code);
        DropAddressSpace(p);
    }

    public long Wait(int pid, int child)
    {
        var c = _processes.GetValueOrDefault(child);
        if (c is null || c.ParentPid != pid || c.Reaped) return -Errno.ECHILD;
        if (c.Alive) return 0; // WNOHANG: still running
        c.Reaped = true;
        return child;
    }

    public SignalAction Kill(int pid, int target, int signo)
    {
        var t = _processes.GetValueOrDefault(target);
        if (t is null || !t.Alive) return SignalAction.None;
        CountSignal(signo);
        var info = new SignalInfo(signo, Signal.SI_USER, 0);
        t.LastSignal = info;
        var action = _signals.Deliver(t, info, forced: false);
        Record("signal", t.Pid, $"{info} from pid {pid}");
        if (action is SignalAction.Terminate or SignalAction.TerminateWithCore)
            Kill(t, signo, action == SignalAction.TerminateWithCore);
        return action;
    }

    public void BeginSignalHandler(int pid, int signo)
    {
        var p = Require(pid);
        p.HandlerFrames.Push((signo, p.IsBlocked(signo)));
        p.SetBlocked(signo, true);
    }

    public void EndSignalHandler(int pid, int signo)
    {
        var p = Require(pid);
        if (p.HandlerFrames.Count == 0) return;
        var (s, wasBlocked) = p.HandlerFrames.Pop();
        p.SetBlocked(s, wasBlocked);
    }

    public (ulong End, bool GrowsDown) PreviousVma(IProcess process, ulong vmaStart)
    {
        var p = (Process)process;
        Vma? prev = null;
        foreach (var v in p.Mm.Vmas)
        {
            if (v.Start >= vmaStart) break;
            prev = v;
        }
        return prev is null ? (0, false) : (prev.End, (prev.Flags & VmaFlags.GrowsDown) != 0);
    }

    public void ExpandStack(IProcess process, ulong vmaStart, ulong newStart)
    {
        var p = (Process)process;
        var vma = p.Mm.FindVma(vmaStart) ?? throw new InvalidOperationException($"no VMA at 0x{vmaStart:x}");
        if (vma.Start != vmaStart || (vma.Flags & VmaFlags.GrowsDown) == 0 || newStart >= vma.Start)
            throw new InvalidOperationException($"cannot grow {vma} down to 0x{newStart:x}");
        vma.Start = newStart;
        vma.HasAnonVma = true; // expand_downwards prepares the anon_vma before it grows the stack, even for a read
    }

    public ProcessStatus Status(Process p) => new(p.Pid, p.Alive, p.Reaped, p.ExitCode, p.TerminatingSignal, p.CoreDumped,
        p.LastSignal, p.MinorFaults, p.MajorFaults, p.PageFaults, p.ResidentPages);
}
