using VmLab.Abstractions;
using VmLab.Abstractions.Faults;
using VmLab.Abstractions.PageTables;
using VmLab.Abstractions.Signals;
using VmLab.Abstractions.Tlb;
using VmLab.Core.Memory;
using VmLab.Core.Mmu;

namespace VmLab.Core.Kernel;

/// <summary>What became of a page fault.</summary>
public enum FaultDispatch : byte
{
    /// <summary>Fixed: the access is retried.</summary>
    Retry = 0,
    /// <summary>Not fixed: a signal was raised (the process may be dead, or its handler runs), or the kernel oopsed.</summary>
    Failed = 1,
    /// <summary>A trapped device page: the access was emulated, not mapped; it is complete.</summary>
    Emulated = 2,
}

/// <summary>A notable kernel event (signal, oops, OOM kill), kept for the run's record.</summary>
public sealed record KernelEvent(string Kind, int Pid, string Message);

/// <summary>
/// The kernel's memory management: processes and VMAs, the page-fault path (the checks of Linux's
/// <c>do_user_addr_fault</c>, then the configured handler chain), signals forced by faults, and the services fault
/// handlers build on.
/// </summary>
public sealed partial class Kernel : IMemoryManager
{
    private const int MaxEvents = 1000;

    private readonly FrameTable _frames;
    private readonly IPageTable _pageTable;
    private readonly IFaultHandler[] _handlers;
    private readonly ISignalDelivery _signals;
    private readonly Dictionary<int, Process> _processes = [];
    private readonly List<KernelEvent> _events = [];
    private ITlb[] _tlbs = [];
    private ushort _nextAsid = 1;

    private readonly Counter _faultsTotal, _faultsMinor, _faultsMajor;
    private readonly Counter _sigsegv, _sigbus, _sigkill, _oops, _flushes, _shootdowns, _uaccessFixups;

    public Kernel(PhysicalMemory memory, FrameTable frames, IMetrics metrics, IPageTable pageTable, IReadOnlyList<IFaultHandler> handlers, ISignalDelivery signals)
    {
        Memory = memory;
        _frames = frames;
        Metrics = metrics;
        _pageTable = pageTable;
        _handlers = [new SwapFaultHandler(this), .. handlers];
        _signals = signals;
        Geometry = pageTable.Geometry;
        _faultsTotal = metrics.Counter(MetricNames.FaultsTotal);
        _faultsMinor = metrics.Counter(MetricNames.FaultsMinor);
        _faultsMajor = metrics.Counter(MetricNames.FaultsMajor);
        _sigsegv = metrics.Counter(MetricNames.SignalsSigsegv);
        _sigbus = metrics.Counter(MetricNames.SignalsSigbus);
        _sigkill = metrics.Counter(MetricNames.SignalsSigkill);
        _oops = metrics.Counter(MetricNames.KernelOops);
        _flushes = metrics.Counter(MetricNames.TlbFlushes);
        _shootdowns = metrics.Counter(MetricNames.TlbShootdowns);
        _uaccessFixups = metrics.Counter(MetricNames.FaultsUaccessFixup);
        _panics = metrics.Counter("kernel.panics");
        TlbMaintenance = new TlbMaintenance([], new MachineOptions(), metrics);
    }

    public IMetrics Metrics { get; }
    public PhysicalMemory Memory { get; }
    public FrameTable Frames => _frames;
    public PageTableGeometry Geometry { get; }
    /// <summary>The page-table format, for software reads and updates (no memory references counted).</summary>
    public IPageTable PageTable => _pageTable;
    public ulong ZeroPageFrame => FrameTable.ZeroPage;
    public IReadOnlyCollection<Process> Processes => _processes.Values;
    public IReadOnlyList<KernelEvent> Events => _events;

    internal void AttachTlbs(ITlb[] tlbs) => AttachTlbs(tlbs, new MachineOptions { Cpus = tlbs.Length });

    internal void AttachTlbs(ITlb[] tlbs, MachineOptions options)
    {
        _tlbs = tlbs;
        TlbMaintenance = new TlbMaintenance(tlbs, options, Metrics);
    }

    /// <summary>PCIDs, CPU masks, flushes and shootdowns (set when the machine attaches its TLBs).</summary>
    public TlbMaintenance TlbMaintenance { get; private set; }

    public Process? FindProcess(int pid) => _processes.GetValueOrDefault(pid);

    /// <summary>
    /// Creates a process with an empty address space; null when no frame can be found for its top-level table, even
    /// after direct reclaim (fork and exec return -ENOMEM then).
    /// </summary>
    public Process? CreateProcess(int pid)
    {
        if (_processes.ContainsKey(pid)) throw new InvalidOperationException($"pid {pid} exists");
        if (!TryNewAddressSpace(out var mm)) return null;
        var p = new Process(pid, mm);
        _processes.Add(pid, p);
        return p;
    }

    /// <summary>
    /// The process a raw trace names: created on first use with one VMA over the whole user half, anonymous,
    /// private, readable, writable and executable. When no frame can be found for its top-level table it never runs,
    /// like a fork that returned -ENOMEM: it is recorded dead from the start and its accesses are dropped.
    /// </summary>
    public Process GetOrCreateImplicitProcess(int pid)
    {
        if (_processes.TryGetValue(pid, out var p)) return p;
        p = CreateProcess(pid);
        if (p is null)
        {
            p = new Process(pid, new AddressSpace(0, 0) { Users = 0 });
            p.Exit(0);
            _processes.Add(pid, p);
            Record("fork-failed", pid, $"process {pid} could not be created: no frame for its page tables (-ENOMEM); its accesses are dropped");
            return p;
        }
        p.Mm.Add(new Vma(0, Geometry.UserTop, Protection.All, VmaFlags.None));
        return p;
    }

    // ---- the page-fault path -------------------------------------------------------------------------------

    /// <summary>A new address space (<c>mm_alloc</c> / <c>pgd_alloc</c>): false, with nothing allocated, when no frame is left for its top-level table.</summary>
    private bool TryNewAddressSpace(out AddressSpace mm)
    {
        if (!_pageTable.TryCreateRoot(out ulong root))
        {
            mm = null!;
            return false;
        }
        mm = new AddressSpace(root, _nextAsid++);
        ShareKernelHalf(mm);
        return true;
    }

    /// <summary>Handles one page-fault exception raised by the MMU for <paramref name="process"/>.</summary>
    public FaultDispatch HandlePageFault(Process process, ulong address, AccessKind kind, AccessMode mode, PageFaultErrorCode error, in CpuState cpu)
    {
        var outcome = HandlePageFault(process, address, kind, mode, error, cpu, exception: true);
        UnpinFaultPages();
        Invariants?.After("fault", process.Pid, address & ~PageMask, (address & ~PageMask) + PageSize, $"{kind} {mode} -> {outcome}");
        return outcome;
    }

    /// <summary>A user-mode fault on a CPU in the default state (for tests and kernel-side callers).</summary>
    public FaultDispatch HandlePageFault(Process process, ulong address, AccessKind kind, AccessMode mode, PageFaultErrorCode error)
        => HandlePageFault(process, address, kind, mode, error, CpuState.LinuxDefault);

    /// <summary>The invariant checker run after every handled fault (<c>machine:checks:invariants</c>), or null.</summary>
    internal Checks.InvariantChecker? Invariants { get; set; }

    /// <summary>
    /// The fault path. <paramref name="exception"/> is false for faults the kernel takes on a process's behalf
    /// (MAP_POPULATE, get_user_pages): they count in minor/major but are not page-fault exceptions.
    /// </summary>
    private FaultDispatch HandlePageFault(Process process, ulong address, AccessKind kind, AccessMode mode, PageFaultErrorCode error, in CpuState cpu, bool exception)
    {
        if (exception)
        {
            _faultsTotal.Increment();
            process.PageFaults++;
        }
        if (Panicked) return FaultDispatch.Failed;

        bool uaccess = false;
        if (mode == AccessMode.Kernel && KernelModeFault(process, address, kind, error, cpu, out uaccess) is { } kernelOutcome)
            return kernelOutcome;
        if (error.Reserved)
            return Oops(process, address, kind, error, "corrupted page table (reserved bit set)");

        // A fault that would end in a signal ends, inside a uaccess routine, in its exception-table fixup;
        // a kernel access outside one (SMAP off) has no fixup: an oops.
        // A fault taken on the process's behalf (get_user_pages) reports the error to its caller instead: no signal.
        FaultDispatch Fail(in SignalInfo info) =>
            !exception ? FaultDispatch.Failed
            : mode == AccessMode.User ? ForceSignal(process, info)
            : uaccess ? Fixup(process, address)
            : Oops(process, address, kind, error, "unable to handle page fault");

        if (address >= Geometry.UserTop)
            return Fail(SignalInfo.SegvMapErr(address));

        var vma = process.Mm.FindVma(address);
        if (vma is null) return Fail(SignalInfo.SegvMapErr(address));

        bool below = address < vma.Start;
        if (below && (vma.Flags & VmaFlags.GrowsDown) == 0)
            return Fail(SignalInfo.SegvMapErr(address));

        if (Geometry.SoftwareAccessDirty && !below && FixAccessDirty(process, address, kind, vma))
        {
            _faultsMinor.Increment();
            process.MinorFaults++;
            return FaultDispatch.Retry;
        }

        if (!below && AccessError(error, vma))
        {
            return error.ProtectionKey
                ? Fail(SignalInfo.SegvPkuErr(address, vma.ProtectionKey))
                : Fail(SignalInfo.SegvAccErr(address));
        }
        if (!below && !KeyPermits(process, vma, kind))
            return Fail(SignalInfo.SegvPkuErr(address, vma.ProtectionKey));
        if (!below && (vma.Flags & VmaFlags.Device) != 0) return TrapDevice(vma, kind);
        if (!below && LogFirstWrite(process, address, vma, error))
        {
            _faultsMinor.Increment();
            process.MinorFaults++;
            return FaultDispatch.Retry;
        }
        // arm64: an instruction abort needs VM_EXEC on its first fault (no read-style mapping first).
        if (!below && kind == AccessKind.Fetch && Geometry.ExecCheckedOnFirstFault && (vma.Protection & Protection.Exec) == 0)
            return Fail(SignalInfo.SegvAccErr(address));

        var pte = _pageTable.Read(process.PageTableRoot, address);
        var fault = new PageFault(address, kind, mode, error, process, vma.Info, pte);
        foreach (var handler in _handlers)
        {
            var result = handler.Handle(fault, this);
            switch (result.Outcome)
            {
                case FaultOutcome.Declined:
                    continue;
                case FaultOutcome.Minor:
                    _faultsMinor.Increment();
                    process.MinorFaults++;
                    return FaultDispatch.Retry;
                case FaultOutcome.Major:
                    _faultsMajor.Increment();
                    process.MajorFaults++;
                    return FaultDispatch.Retry;
                case FaultOutcome.Signal:
                    return Fail(result.Signal);
                case FaultOutcome.OutOfMemory:
                {
                    // VM_FAULT_OOM. In kernel mode, once the OOM killer has chosen the faulting task, the access ends as
                    // any failed kernel fault does (kernelmode_fixup_or_oops): a uaccess routine's fixup, else an oops.
                    var outcome = OutOfMemory(process);
                    if (outcome == FaultDispatch.Failed && mode == AccessMode.Kernel)
                        return uaccess ? Fixup(process, address) : Oops(process, address, kind, error, "unable to handle page fault (out of memory)");
                    return outcome;
                }
            }
        }

        // Below a stack that no handler grew, or a fault nothing in the chain resolves.
        return below
            ? Fail(SignalInfo.SegvMapErr(address))
            : Fail(SignalInfo.BusAdrErr(address));
    }

    /// <summary>
    /// x86 <c>arch_vma_access_permitted()</c>: the VMA's protection key checked against the task's PKRU, so that a
    /// not-present page under a denying key is refused before anything is mapped. Instruction fetches are not checked.
    /// </summary>
    private static bool KeyPermits(Process process, Vma vma, AccessKind kind)
    {
        if (vma.ProtectionKey == 0 || kind == AccessKind.Fetch) return true;
        uint bits = process.Pkru >> (2 * vma.ProtectionKey);
        if ((bits & 1) != 0) return false;
        return kind != AccessKind.Write || (bits & 2) == 0;
    }

    /// <summary>
    /// Hardware that leaves Accessed/Dirty to software (arm64 without FEAT_HAFDBS, RISC-V Svade) faults on an old
    /// entry and on a write to a clean writable entry. When the VMA allows the access, the kernel marks the entry
    /// young (and dirty on a write) and the access is retried: <c>handle_pte_fault</c>'s <c>pte_mkyoung</c> /
    /// <c>pte_mkdirty</c>, one minor fault.
    /// </summary>
    private bool FixAccessDirty(Process process, ulong address, AccessKind kind, Vma vma)
    {
        var pte = _pageTable.Read(process.PageTableRoot, address);
        if (!pte.IsPresent) return false;
        var needed = kind switch { AccessKind.Write => Protection.Write, AccessKind.Fetch => Protection.Exec, _ => Protection.Read };
        if ((vma.Protection & needed) == 0) return false;
        var add = PageFlags.Accessed;
        if (kind == AccessKind.Write)
        {
            if (!pte.Has(PageFlags.Writable)) return false;
            add |= PageFlags.Dirty;
        }
        if (pte.Has(add)) return false;
        _pageTable.Write(process.PageTableRoot, address, pte.With(add));
        return true;
    }

    /// <summary>x86 <c>access_error()</c>: whether the VMA forbids the access the error code describes.</summary>
    private static bool AccessError(PageFaultErrorCode error, Vma vma)
    {
        if (error.ProtectionKey) return true;
        if (error.Write) return (vma.Protection & Protection.Write) == 0;
        if (error.Protection) return true;
        return (vma.Protection & (Protection.Read | Protection.Write | Protection.Exec)) == 0;
    }

    /// <summary>A general-protection fault (non-canonical address): no page-fault counter moves.</summary>
    public FaultDispatch GeneralProtection(Process process, ulong address, AccessMode mode)
    {
        if (mode == AccessMode.Kernel)
            return Oops(process, address, AccessKind.Read, default, "general protection fault, probably for non-canonical address");
        return ForceSignal(process, SignalInfo.GeneralProtection());
    }

    /// <summary>Forces a synchronous signal on the process (<c>force_sig_fault</c>).</summary>
    public FaultDispatch ForceSignal(Process process, SignalInfo info)
    {
        CountSignal(info.Signo);
        process.LastSignal = info;
        var action = _signals.Deliver(process, info, forced: true);
        Record("signal", process.Pid, info.ToString());
        switch (action)
        {
            case SignalAction.Terminate:
                Kill(process, info.Signo, core: false);
                break;
            case SignalAction.TerminateWithCore:
                Kill(process, info.Signo, core: true);
                break;
        }
        return FaultDispatch.Failed;
    }

    /// <summary>An oops: the message is recorded, the current task is killed (SIGKILL); with panic_on_oops the machine stops.</summary>
    private FaultDispatch Oops(Process process, ulong address, AccessKind kind, PageFaultErrorCode error, string what)
    {
        _oops.Increment();
        process.Oopsed = true;
        Record("oops", process.Pid, OopsText(address, kind, error, what));
        if (PanicOnOops)
        {
            Panic("Fatal exception (panic_on_oops)");
            return FaultDispatch.Failed;
        }
        if (process.Alive) CountSignal(Signal.SIGKILL); // a task the OOM killer has just killed is not killed twice
        Kill(process, Signal.SIGKILL, core: false);
        return FaultDispatch.Failed;
    }

    /// <summary>OOM kills so far (a fault on the caller's behalf that killed another process is worth retrying).</summary>
    private long _oomKills;

    /// <summary>The OOM killer: SIGKILL to the process with the largest resident set (lowest pid on a tie).</summary>
    private FaultDispatch OutOfMemory(Process faulting)
    {
        _oomKills++;
        Process? victim = null;
        foreach (var p in _processes.Values)
        {
            if (!p.Alive) continue;
            if (victim is null || p.ResidentPages > victim.ResidentPages || (p.ResidentPages == victim.ResidentPages && p.Pid < victim.Pid))
                victim = p;
        }
        victim ??= faulting;
        Record("oom-kill", victim.Pid, $"Out of memory: killed process {victim.Pid} (rss {victim.ResidentPages} pages)");
        CountSignal(Signal.SIGKILL);
        Kill(victim, Signal.SIGKILL, core: false);
        return victim == faulting ? FaultDispatch.Failed : FaultDispatch.Retry;
    }

    private void CountSignal(int signo)
    {
        switch (signo)
        {
            case Signal.SIGSEGV: _sigsegv.Increment(); break;
            case Signal.SIGBUS: _sigbus.Increment(); break;
            case Signal.SIGKILL: _sigkill.Increment(); break;
        }
    }

    private void Record(string kind, int pid, string message)
    {
        if (_events.Count < MaxEvents) _events.Add(new KernelEvent(kind, pid, message));
    }

    /// <summary>Terminates a process by a signal and releases its memory.</summary>
    public void Kill(Process process, int signal, bool core)
    {
        if (!process.Alive) return;
        process.Terminate(signal, core);
        DropAddressSpace(process);
    }

    /// <summary>The task stops using its address space; the last user releases it.</summary>
    private void DropAddressSpace(Process process)
    {
        if (--process.Mm.Users == 0) ReleaseAddressSpace(process);
    }

    /// <summary>Unmaps every page of the process, frees its page tables and flushes its ASID everywhere.</summary>
    private void ReleaseAddressSpace(Process process)
    {
        var leaves = new List<(ulong Address, PageMapping Leaf)>();
        foreach (var vma in process.Mm.Vmas) CollectLeaves(process, vma.Start, vma.End, leaves);
        foreach (var (address, _) in leaves) UnmapPage(process, address, flush: false);
        UnshareKernelHalf(process.Mm);
        _pageTable.DestroyRoot(process.PageTableRoot);
        TlbMaintenance.Release(process);
    }

    private void CollectLeaves(Process process, ulong start, ulong end, List<(ulong, PageMapping)> into)
    {
        _pageTable.CollectLeaves(process.PageTableRoot, start, end, into);
    }

    // ---- IMemoryManager --------------------------------------------------------------------------------------

    public bool TryAllocateUserFrame(out ulong pfn) => AllocateUserFrame(out pfn);

    public int RefCount(ulong pfn) => MappingRefCount(pfn);

    public bool MapPage(IProcess process, ulong vaddr, ulong pfn, PageFlags flags)
    {
        var p = (Process)process;
        ulong page = vaddr & ~(VirtualAddress.PageSize - 1);
        var old = _pageTable.Read(p.PageTableRoot, page);
        var vma = p.Mm.FindVma(page) is { } found && found.Contains(page) ? found : null;
        byte key = vma?.ProtectionKey ?? 0;
        if (vma is not null && (vma.Flags & VmaFlags.Shared) == 0 && pfn != FrameTable.ZeroPage && !_pageCacheOwner.ContainsKey(pfn))
            vma.HasAnonVma = true; // an anonymous page joins the VMA's anon_vma (folio_add_new_anon_rmap needs one)
        // A page the tracker watches is mapped read-only until its first write is logged, as a VMA with soft-dirty or
        // uffd-wp tracking gets a write-protected vm_page_prot: a read fault in shmem (writable page protection) too.
        if ((flags & (PageFlags.Writable | PageFlags.Dirty)) == PageFlags.Writable && p.Mm.DirtyTracked.Contains(page) && !p.Mm.DirtyLog.Contains(page))
            flags &= ~PageFlags.Writable;
        // A new mapping is made young, as Linux's mk_pte with vm_page_prot (which holds A on x86 and AF on arm64).
        if (!_pageTable.Write(p.PageTableRoot, page, new PageMapping(pfn, flags | PageFlags.Present | PageFlags.Accessed, ProtectionKey: key)))
        {
            // The reference was handed over either way: dropped here, or a frame allocated for the fault would leak.
            _frames.Put(pfn);
            return false;
        }
        TlbMaintenance.NotePteChange(p, page, old, new PageMapping(pfn, flags | PageFlags.Present));
        if (pfn != FrameTable.ZeroPage)
        {
            _frames.AddMap(pfn);
            p.ResidentPages++;
            OnMapped(p, page, pfn);
        }
        if (old.HoldsFrame) DropMapping(p, page, old);
        return true;
    }

    public void UpdatePageFlags(IProcess process, ulong vaddr, PageFlags flags)
    {
        var leaf = _pageTable.Read(process.PageTableRoot, vaddr);
        if (!leaf.IsPresent) throw new InvalidOperationException($"no present page at 0x{vaddr:x} in pid {process.Pid}");
        _pageTable.Write(process.PageTableRoot, vaddr, leaf with { Flags = flags | PageFlags.Present });
        TlbMaintenance.NotePteChange((Process)process, vaddr, leaf, leaf with { Flags = flags | PageFlags.Present });
    }

    public void UnmapPage(IProcess process, ulong vaddr) => UnmapPage((Process)process, vaddr, flush: true);

    private void UnmapPage(Process p, ulong vaddr, bool flush)
    {
        var leaf = _pageTable.Read(p.PageTableRoot, vaddr);
        if (leaf.IsEmpty) return;
        _pageTable.Write(p.PageTableRoot, vaddr, PageMapping.Empty with { PageShift = leaf.PageShift });
        TlbMaintenance.NotePteChange(p, vaddr, leaf, PageMapping.Empty);
        if (leaf.HoldsFrame) DropMapping(p, vaddr, leaf);
        else if (leaf.IsSwapped) ReleaseSwapEntry(leaf.Frame);
        if (flush) FlushTlbPage(p, vaddr);
    }

    private void DropMapping(Process p, ulong vaddr, in PageMapping leaf)
    {
        ulong pfn = leaf.Frame;
        if (pfn == FrameTable.ZeroPage) return;
        OnUnmapped(p, vaddr, leaf);
        _frames.RemoveMap(pfn);
        p.ResidentPages--;
        _frames.Put(pfn);
    }

    /// <summary>Invalidates one page on every CPU that may hold the address space (<c>flush_tlb_page</c>).</summary>
    public void FlushTlbPage(IProcess process, ulong vaddr)
    {
        _pageTable.InvalidateWalkCaches(process.PageTableRoot, vaddr);
        TlbMaintenance.FlushPage((Process)process, vaddr);
    }

    /// <summary>
    /// Invalidates [<paramref name="start"/>, <paramref name="end"/>) on every CPU that may hold the address space
    /// (<c>flush_tlb_mm_range</c>: per page up to 33 pages, the whole address space above), as munmap and mprotect do.
    /// </summary>
    public void FlushTlbRange(Process process, ulong start, ulong end)
    {
        _pageTable.InvalidateWalkCaches(process.PageTableRoot, start);
        TlbMaintenance.FlushRange(process, start, end);
    }

    /// <summary>Invalidates every non-global entry of the address space on every CPU that may hold it (<c>flush_tlb_mm</c>).</summary>
    public void FlushTlbMm(Process process)
    {
        _pageTable.InvalidateWalkCaches(process.PageTableRoot, 0);
        TlbMaintenance.FlushAddressSpace(process);
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
        if ((writable || (vma.IsShared && IsShmem(vma.FileName))) && vma.Allows(Protection.Write)) flags |= PageFlags.Writable;
        if (!vma.Allows(Protection.Exec)) flags |= PageFlags.NoExecute;
        return flags;
    }

    private bool IsShmem(string? file) => file is not null && _files.TryGetValue(file, out var f) && f.Shmem;

    /// <summary>Takes one more reference on a frame (a new mapping of it will be made by the caller).</summary>
    public void GetPage(ulong pfn)
    {
        if (pfn != FrameTable.ZeroPage) _frames.Get(pfn);
    }
}
