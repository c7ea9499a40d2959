namespace VmLab.Abstractions.Faults;

/// <summary>What a VMA is.</summary>
[Flags]
public enum VmaFlags : ushort
{
    None = 0,
    /// <summary>MAP_SHARED (never copied on write); otherwise private.</summary>
    Shared = 1 << 0,
    /// <summary>Backed by a file rather than anonymous memory.</summary>
    File = 1 << 1,
    /// <summary>A stack that grows down on faults below it.</summary>
    GrowsDown = 1 << 2,
    /// <summary>Trapped device memory: never mapped; every access faults and is emulated by the device.</summary>
    Device = 1 << 3,
}

/// <summary>A snapshot of one VMA, as fault handlers see it: [Start, End) page-aligned.</summary>
public readonly record struct VmaInfo(ulong Start, ulong End, Protection Protection, VmaFlags Flags, string? FileName = null, ulong FileOffset = 0, ulong FileSize = 0, byte ProtectionKey = 0)
{
    public bool Contains(ulong address) => address >= Start && address < End;
    public bool IsShared => (Flags & VmaFlags.Shared) != 0;
    public bool IsAnonymous => (Flags & VmaFlags.File) == 0;
    public bool Allows(Protection p) => (Protection & p) == p;
}

/// <summary>A process as the fault path sees it.</summary>
public interface IProcess
{
    int Pid { get; }
    ushort Asid { get; }
    ulong PageTableRoot { get; }
}

/// <summary>
/// One page fault as the handler chain sees it. <see cref="Vma"/> is the VMA <c>find_vma</c> returned — the first one
/// ending above the address, which may start above it (a fault below a grows-down stack) — and is absent
/// (<see cref="HasVma"/> false, a default value) before the VMA check and for faults in the kernel half.
/// <see cref="Pte"/> is the leaf entry at the address when the fault was taken.
/// </summary>
public readonly record struct PageFault(ulong Address, AccessKind Kind, AccessMode Mode, PageFaultErrorCode ErrorCode, IProcess Process, VmaInfo Vma, PageMapping Pte)
{
    public ulong PageAddress => Address & ~(VirtualAddress.PageSize - 1);
    public bool IsWrite => Kind == AccessKind.Write;
    /// <summary>A VMA was found for the fault (false before the VMA check and in the kernel half).</summary>
    public bool HasVma => Vma.End > Vma.Start;
    /// <summary>The VMA exists and contains the address (false below a grows-down stack).</summary>
    public bool InVma => HasVma && Vma.Contains(Address);
    /// <summary>The CPU that took the fault.</summary>
    public int Cpu { get; init; }
    /// <summary>Taken by the kernel on the process's behalf (MAP_POPULATE, get_user_pages): no exception, no signal.</summary>
    public bool OnBehalf { get; init; }
}

/// <summary>
/// Where in the fault path a handler is asked, following the order of Linux's <c>do_user_addr_fault</c>. Handlers run
/// stage by stage; within a stage in configured order; the first that does not decline decides.
/// </summary>
public enum FaultStage : byte
{
    /// <summary>Before the VMA is looked up: every fault, user or kernel, with <see cref="PageFault.Vma"/> absent (Linux: <c>vmalloc_fault</c>, spurious-fault checks).</summary>
    BeforeVmaCheck = 0,
    /// <summary>The VMA is known (it may start above the address: a fault below a stack), its permissions not yet checked (Linux: software Accessed/Dirty updates).</summary>
    BeforeAccessCheck = 1,
    /// <summary>The VMA allows the access: the fault is resolved (Linux <c>handle_mm_fault</c>: swap-in, copy-on-write, demand paging, stack growth).</summary>
    Resolve = 2,
}

/// <summary>How a handler disposed of a fault.</summary>
public enum FaultOutcome : byte
{
    /// <summary>Not this handler's kind of fault; the next handler in the chain is asked.</summary>
    Declined = 0,
    /// <summary>Fixed without I/O; the access is retried. Counts as a minor fault.</summary>
    Minor = 1,
    /// <summary>Fixed with I/O; the access is retried. Counts as a major fault.</summary>
    Major = 2,
    /// <summary>Cannot be fixed; <see cref="FaultResult.Signal"/> is raised (user) or the fixup/oops path runs (kernel).</summary>
    Signal = 3,
    /// <summary>No memory could be found for the fault: the OOM path runs.</summary>
    OutOfMemory = 4,
    /// <summary>The handler performed the access itself (a trapped device page): nothing is mapped and the access is complete.</summary>
    Emulated = 5,
    /// <summary>
    /// The handler arranged for the fault to be resolved and asks the kernel to run the fault path again within the same
    /// exception (Linux <c>VM_FAULT_RETRY</c>): this pass counts as neither minor nor major.
    /// </summary>
    Deferred = 6,
}

/// <summary>
/// A handler's answer. <see cref="Resolution"/> names how a fixed fault was resolved (one of <see cref="FaultResolutions"/>
/// or a handler's own word); the event stream and narration report it, and a handler that names none is reported by
/// its configured name.
/// </summary>
public readonly record struct FaultResult(FaultOutcome Outcome, SignalInfo Signal = default)
{
    /// <summary>How the fault was resolved (contract 1.4; null: the handler's configured name is reported).</summary>
    public string? Resolution { get; init; }

    /// <summary>This answer, naming how the fault was resolved.</summary>
    public FaultResult As(string resolution) => this with { Resolution = resolution };

    public static readonly FaultResult Declined = new(FaultOutcome.Declined);
    public static readonly FaultResult Minor = new(FaultOutcome.Minor);
    public static readonly FaultResult Major = new(FaultOutcome.Major);
    public static readonly FaultResult OutOfMemory = new(FaultOutcome.OutOfMemory);
    public static readonly FaultResult Emulated = new(FaultOutcome.Emulated);
    public static readonly FaultResult Deferred = new(FaultOutcome.Deferred);
    public static FaultResult Raise(in SignalInfo signal) => new(FaultOutcome.Signal, signal);
}

/// <summary>The resolutions the built-in handlers name (<see cref="FaultResult.Resolution"/>).</summary>
public static class FaultResolutions
{
    /// <summary>A fresh zeroed frame mapped for an anonymous page never touched.</summary>
    public const string DemandZero = "demand-zero";
    /// <summary>The shared zero page mapped read-only for a first read.</summary>
    public const string ZeroPage = "zero-page";
    /// <summary>A write to a shared page: the page copied into a new frame (<c>wp_page_copy</c>).</summary>
    public const string CowCopy = "cow-copy";
    /// <summary>A write to a page the process holds alone: made writable in place (<c>wp_page_reuse</c>).</summary>
    public const string CowReuse = "cow-reuse";
    /// <summary>A write-protected page of a shared mapping made writable (<c>wp_page_shared</c>).</summary>
    public const string WriteShared = "write-shared";
    /// <summary>A page brought back from the swap cache or the swap device.</summary>
    public const string SwapIn = "swap-in";
    /// <summary>A stack VMA grown down to the address, and the page mapped.</summary>
    public const string StackGrowth = "stack-growth";
    /// <summary>A file page mapped from the page cache (read from disk when it was not cached: a major fault).</summary>
    public const string FilePage = "file-page";
    /// <summary>A private file page copied on its first write.</summary>
    public const string FileCopy = "file-cow";
    /// <summary>A kernel-half fault fixed by copying the reference table's top-level entry (<c>vmalloc_fault</c>).</summary>
    public const string VmallocSync = "vmalloc-sync";
    /// <summary>A kernel fault inside a uaccess routine: the exception-table fixup returned -EFAULT.</summary>
    public const string UaccessFixup = "uaccess-fixup";
    /// <summary>Accessed/Dirty set by software on hardware that does not set them.</summary>
    public const string AccessedDirty = "accessed-dirty";
    /// <summary>An access to a trapped device page, emulated by the device.</summary>
    public const string DeviceTrap = "device-trap";
    /// <summary>The first write to a dirty-tracked page, logged.</summary>
    public const string DirtyLog = "dirty-log";
}

/// <summary>
/// One link of the fault-handler chain. The kernel asks the handlers stage by stage (<see cref="Stage"/>), in configured
/// order within a stage, until one does not decline. Faults are results, not exceptions. A handler is asked for user
/// and kernel faults alike; one that resolves user memory only declines when <see cref="PageFault.InVma"/> is false.
/// </summary>
public interface IFaultHandler
{
    /// <summary>Where in the fault path the handler is asked (default: <see cref="FaultStage.Resolve"/>, after the access check).</summary>
    FaultStage Stage => FaultStage.Resolve;

    FaultResult Handle(in PageFault fault, IMemoryManager mm);
}

/// <summary>
/// The kernel memory-management services a fault handler may use. The instance a handler receives belongs to the CPU
/// handling the fault: TLB flushes it asks for are initiated there (every other CPU that may hold the page costs a
/// shootdown IPI), and reclaim an allocation triggers runs there.
/// </summary>
public interface IMemoryManager
{
    IMetrics Metrics { get; }

    PhysicalMemory Memory { get; }

    /// <summary>The shared zero page (never freed, never counted as allocated).</summary>
    ulong ZeroPageFrame { get; }

    /// <summary>Allocates a zero-filled user frame with one reference, reclaiming if the policy allows; false when none can be had.</summary>
    bool TryAllocateUserFrame(out ulong pfn);

    /// <summary>
    /// References held on a frame as copy-on-write counts them (Linux do_wp_page): mappings plus other holders; the swap
    /// cache's own reference is left out when no swap entry still refers to the page, so such a page can be reused.
    /// </summary>
    int RefCount(ulong pfn);

    /// <summary>Maps <paramref name="pfn"/> at the page of <paramref name="vaddr"/>, taking over one reference the caller holds; updates RSS, map counts and reclaim lists. False on out-of-memory for a table page; the reference is dropped then too (a frame allocated for the fault is freed).</summary>
    bool MapPage(IProcess process, ulong vaddr, ulong pfn, PageFlags flags);

    /// <summary>Changes the flags of an existing leaf without changing its frame.</summary>
    void UpdatePageFlags(IProcess process, ulong vaddr, PageFlags flags);

    /// <summary>Removes the leaf at <paramref name="vaddr"/> and drops its frame reference (frees the frame at zero).</summary>
    void UnmapPage(IProcess process, ulong vaddr);

    /// <summary>Invalidates one page of one address space in every TLB that may hold it.</summary>
    void FlushTlbPage(IProcess process, ulong vaddr);

    /// <summary>
    /// The leaf flags a fresh mapping in this VMA gets: its page protection (Linux <c>vm_page_prot</c>), made writable
    /// when <paramref name="writable"/> and the VMA allows writes. A shared writable shmem mapping (shared anonymous
    /// memory) is writable by its page protection alone, as it needs no write notification; every other mapping is
    /// writable only when asked.
    /// </summary>
    PageFlags FlagsFor(in VmaInfo vma, bool writable);

    /// <summary>Takes one more reference on a frame, for a new mapping of it the caller is about to make.</summary>
    void GetPage(ulong pfn);

    /// <summary>
    /// The page-cache frame holding page <paramref name="index"/> of a file (the cache keeps its own reference);
    /// <paramref name="readFromDisk"/> when it had to be read in (a major fault). False when no frame could be had.
    /// </summary>
    bool TryGetFilePage(string file, ulong index, out ulong pfn, out bool readFromDisk);

    /// <summary>The end of the VMA just below the one starting at <paramref name="vmaStart"/> (0 when none), and whether that VMA grows down too.</summary>
    (ulong End, bool GrowsDown) PreviousVma(IProcess process, ulong vmaStart);

    /// <summary>
    /// A kernel fault in the vmalloc range: copies the reference kernel table's top-level entry into the process's
    /// table when the reference maps the address (x86-32 <c>vmalloc_fault</c>).
    /// </summary>
    VmallocSync SyncVmalloc(IProcess process, ulong address);

    /// <summary>Moves the start of the grows-down VMA at <paramref name="vmaStart"/> down to <paramref name="newStart"/>.</summary>
    void ExpandStack(IProcess process, ulong vmaStart, ulong newStart);

    /// <summary>The state of type <typeparamref name="T"/> a handler attached to the VMA containing <paramref name="address"/>, or null.</summary>
    T? GetVmaState<T>(IProcess process, ulong address) where T : class, IVmaState;

    /// <summary>
    /// Attaches handler-owned state to the VMA containing <paramref name="address"/> (null removes it); false when no VMA
    /// contains the address. A handler keeps what it needs to know about a mapping here, as Linux keeps
    /// <c>vm_userfaultfd_ctx</c> or <c>anon_vma</c> in the VMA, instead of a flag the kernel would have to know of.
    /// </summary>
    bool SetVmaState<T>(IProcess process, ulong address, T? state) where T : class, IVmaState;
}

/// <summary>
/// Handler-owned state kept in a VMA (<see cref="IMemoryManager.SetVmaState{T}"/>). The kernel carries it along when the
/// VMA changes shape: each part of a split VMA (munmap, mprotect inside it) and the child's copy at fork ask the state.
/// </summary>
public interface IVmaState
{
    /// <summary>The state of one part of a split VMA (default: this same object, shared).</summary>
    IVmaState OnSplit() => this;

    /// <summary>The state of the child's copy at fork, or null when it is not inherited (the default, as a userfaultfd registration without <c>UFFD_FEATURE_EVENT_FORK</c>).</summary>
    IVmaState? OnFork() => null;
}

/// <summary>How a vmalloc-range fault relates to the reference kernel table.</summary>
public enum VmallocSync : byte
{
    /// <summary>Not a vmalloc address, or nothing to sync in this kernel layout.</summary>
    NotVmalloc,
    /// <summary>The top-level entry was copied from the reference table: retry.</summary>
    Synced,
    /// <summary>The reference table does not map the address either: an oops.</summary>
    Unmapped,
}
