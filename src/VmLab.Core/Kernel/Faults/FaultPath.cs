using VmLab.Abstractions;
using VmLab.Abstractions.Faults;
using VmLab.Core.Events;
using VmLab.Core.Mmu;

namespace VmLab.Core.Kernel;

/// <summary>What became of a page fault.</summary>
public enum FaultDispatch : byte
{
    /// <summary>Fixed: the access is retried.</summary>
    Retry = 0,
    /// <summary>Not fixed: a signal was raised (the process may be dead, or its handler runs), the fixup ran, or the kernel oopsed.</summary>
    Failed = 1,
    /// <summary>A handler performed the access itself (a trapped device page): it is complete.</summary>
    Emulated = 2,
}

/// <summary>
/// The kernel's answer to a fault: what the MMU does next, the signal forced on the task when one was (a default value
/// otherwise), and the handler that decided (null when the kernel's own checks did).
/// </summary>
public readonly record struct FaultDisposition(FaultDispatch Dispatch, SignalInfo Signal = default, string? DecidedBy = null)
{
    public static readonly FaultDisposition Failed = new(FaultDispatch.Failed);
}

/// <summary>A fault handler with the name it was configured by (the catalog's plugin name).</summary>
public readonly record struct NamedFaultHandler(string Name, IFaultHandler Handler)
{
    /// <summary>The handler's stage, asked once when the chain is built (not an interface call per fault and handler).</summary>
    public FaultStage Stage { get; } = Handler.Stage;
}

/// <summary>
/// The fault path: Linux's <c>do_user_addr_fault</c> / <c>do_kern_addr_fault</c> as an open, staged pipeline. One chain
/// of handlers serves user and kernel faults. Stage by stage:
/// <list type="number">
/// <item>kernel-mode rules (kernel threads, SMEP, SMAP, the uaccess window) and reserved-bit faults;</item>
/// <item><see cref="FaultStage.BeforeVmaCheck"/> handlers (no VMA; the only stage, with the others, a kernel-half fault
/// sees: it has no VMA at any stage);</item>
/// <item><c>find_vma</c>: none, or below a VMA that does not grow down, is <c>SEGV_MAPERR</c>;</item>
/// <item><see cref="FaultStage.BeforeAccessCheck"/> handlers;</item>
/// <item>the access check (<c>access_error</c>, protection keys, the architecture's exec rule);</item>
/// <item><see cref="FaultStage.Resolve"/> handlers; nothing resolving is <c>SIGBUS</c> (or <c>SEGV_MAPERR</c> below a stack).</item>
/// </list>
/// Within a stage handlers run in configured order; the first that does not decline decides. The built-in handlers
/// (<see cref="BuiltInFaultHandlers"/>) not named in the configuration take their default places. A failed user fault
/// forces a signal; a failed kernel fault inside a uaccess routine is fixed up; any other failed kernel fault oopses.
/// </summary>
public sealed class FaultPath
{
    /// <summary>Passes of the pipeline one exception may take when handlers answer <see cref="FaultOutcome.Deferred"/>.</summary>
    public const int MaxDeferrals = 16;

    private readonly KernelModel _k;
    private readonly NamedFaultHandler[] _chain;
    private readonly CpuMemoryManager[] _views;
    private readonly Counter _faultsTotal, _faultsMinor, _faultsMajor, _oops, _uaccessFixups, _panics;

    internal FaultPath(KernelModel kernel, IReadOnlyList<NamedFaultHandler> configured)
    {
        _k = kernel;
        _chain = Compose(configured);
        _views = [.. Enumerable.Range(0, Math.Max(1, kernel.Options.Cpus)).Select(cpu => new CpuMemoryManager(kernel, cpu))];
        var m = kernel.Metrics;
        _faultsTotal = m.Counter(MetricNames.FaultsTotal);
        _faultsMinor = m.Counter(MetricNames.FaultsMinor);
        _faultsMajor = m.Counter(MetricNames.FaultsMajor);
        _oops = m.Counter(MetricNames.KernelOops);
        _uaccessFixups = m.Counter(MetricNames.FaultsUaccessFixup);
        _panics = m.Counter(MetricNames.KernelPanics);
    }

    /// <summary>The handler chain as it runs: ordered by stage, configured order within a stage, built-ins in their places.</summary>
    public IReadOnlyList<NamedFaultHandler> Chain => _chain;

    /// <summary>True once the machine has panicked: nothing more runs.</summary>
    public bool Panicked { get; private set; }

    /// <summary>The name a handler is listed by when none was configured: a built-in's registered name, else its type's.</summary>
    public static string DefaultName(IFaultHandler handler) => BuiltInFaultHandlers.NameOf(handler) ?? handler.GetType().Name;

    /// <summary>
    /// The configured handlers with every built-in that is not among them inserted at its default place (the head of its
    /// stage, in <see cref="BuiltInFaultHandlers.Defaults"/> order), then ordered by stage, stably.
    /// </summary>
    /// <remarks>
    /// Loops over arrays, not LINQ or <c>List&lt;T&gt;</c>: their code over this value type cannot be compiled ahead of
    /// time (ReadyToRun), and the JIT compiling it was a visible part of a short run's start.
    /// </remarks>
    private static NamedFaultHandler[] Compose(IReadOnlyList<NamedFaultHandler> configured)
    {
        var builtIns = BuiltInFaultHandlers.Defaults();
        var chain = new NamedFaultHandler[builtIns.Length + configured.Count];
        int n = 0;
        foreach (var builtIn in builtIns)
        {
            bool named = false;
            for (int i = 0; i < configured.Count && !named; i++)
                named = configured[i].Handler.GetType() == builtIn.Handler.GetType();
            if (!named) chain[n++] = builtIn;
        }
        for (int i = 0; i < configured.Count; i++) chain[n++] = configured[i];
        // Stable insertion sort by stage: the built-ins first within their stage, then configured order.
        for (int i = 1; i < n; i++)
        {
            var h = chain[i];
            int j = i - 1;
            for (; j >= 0 && chain[j].Stage > h.Stage; j--) chain[j + 1] = chain[j];
            chain[j + 1] = h;
        }
        if (n == chain.Length) return chain;
        var exact = new NamedFaultHandler[n];
        for (int i = 0; i < n; i++) exact[i] = chain[i];
        return exact;
    }

    /// <summary>The services as a handler on <paramref name="cpu"/> sees them (one object per CPU).</summary>
    internal IMemoryManager MemoryManager(int cpu) => _views[cpu];

    // ---- entries ---------------------------------------------------------------------------------------------

    /// <summary>A page-fault exception raised by the MMU: counted in <c>faults.total</c> and the task's page faults.</summary>
    internal FaultDisposition HandleException(in KernelEntry entry, ulong address, AccessKind kind, PageFaultErrorCode error, in CpuState cpu)
    {
        _faultsTotal.Increment();
        entry.Task.PageFaults++;
        var d = _k.Stream is null ? Handle(entry, address, kind, error, cpu, onBehalf: false) : Traced(entry, address, kind, error, cpu, onBehalf: false);
        _k.Reclaim.UnpinFaultPages();
        _k.Invariants?.After("fault", entry.Task.Pid, address & ~PageMask, (address & ~PageMask) + VirtualAddress.PageSize, $"{kind} {entry.Mode} cpu {entry.Cpu} -> {d.Dispatch}");
        return d;
    }

    /// <summary>
    /// A fault the kernel takes on the task's behalf (MAP_POPULATE, get_user_pages): counted in minor/major, not a page-fault
    /// exception, and never a signal — the error goes back to the caller.
    /// </summary>
    internal FaultDisposition HandleOnBehalf(in KernelEntry entry, ulong address, AccessKind kind, PageFaultErrorCode error) =>
        _k.Stream is null
            ? Handle(entry, address, kind, error, _k.Options.CpuState, onBehalf: true)
            : Traced(entry, address, kind, error, _k.Options.CpuState, onBehalf: true);

    /// <summary>A general-protection fault (non-canonical address): no page-fault counter moves.</summary>
    internal FaultDisposition GeneralProtection(in KernelEntry entry, ulong address)
    {
        _k.Stream?.Emit(EventKinds.GeneralProtection, entry.Cpu, entry.Task.Pid, address,
            new EventField("mode", entry.Mode == AccessMode.Kernel ? "kernel" : "user"));
        if (entry.Mode == AccessMode.Kernel)
            return Oops(entry, address, AccessKind.Read, default, "general protection fault, probably for non-canonical address");
        return _k.Processes.ForceSignal(entry, SignalInfo.GeneralProtection());
    }

    private const ulong PageMask = VirtualAddress.PageSize - 1;

    // ---- the event stream ------------------------------------------------------------------------------------

    /// <summary>What one fault's pass through the pipeline found, filled in only while events are on.</summary>
    private sealed class FaultTrace
    {
        public VmaInfo? Vma;
        public string Check = "not reached";
        public readonly List<string> Asked = [];
        public FaultOutcome Outcome;
        public string? Resolution;

        public void Reset()
        {
            Vma = null;
            Check = "not reached";
            Asked.Clear();
            Outcome = FaultOutcome.Declined;
            Resolution = null;
        }
    }

    private FaultTrace? _trace;

    /// <summary>
    /// <see cref="Handle"/> with its story recorded: a <c>fault</c> event as it begins (the address, the decoded error
    /// code, the PTE and the page's sharers), a <c>fault-end</c> event with the VMA, the access check, each handler asked
    /// and its answer, the resolution, the PTE after and the outcome. Events the handling caused fall between them.
    /// </summary>
    private FaultDisposition Traced(in KernelEntry entry, ulong address, AccessKind kind, PageFaultErrorCode error, in CpuState cpu, bool onBehalf)
    {
        var stream = _k.Stream!;
        var process = entry.Task;
        bool kernelHalf = address >= _k.Geometry.KernelBase;
        var before = kernelHalf || process.IsKernelThread ? default : _k.PageTable.Read(process.PageTableRoot, address);
        long sharers = before.HoldsFrame && before.Frame != Memory.FrameTable.ZeroPage ? _k.Frames.RefCount(before.Frame) : 0;
        long begin = stream.Emit(EventKinds.Fault, entry.Cpu, process.Pid, address,
            new EventField("accessType", EventText.Name(kind)),
            new EventField("mode", entry.Mode == AccessMode.Kernel ? "kernel" : "user"),
            new EventField("error", error.Bits),
            new EventField("errorCode", (long)error.Value),
            new EventField("onBehalf", onBehalf),
            new EventField("pte", EventText.Pte(before)),
            new EventField("sharers", sharers));
        var trace = _trace ??= new FaultTrace();
        trace.Reset();
        var d = Handle(entry, address, kind, error, cpu, onBehalf);
        var after = kernelHalf || process.IsKernelThread || !process.Alive ? default : _k.PageTable.Read(process.PageTableRoot, address);
        string outcome = d.Dispatch switch
        {
            FaultDispatch.Retry => trace.Outcome == FaultOutcome.Major ? "major" : trace.Outcome == FaultOutcome.OutOfMemory ? "oom-retry" : "minor",
            FaultDispatch.Emulated => "emulated",
            _ => d.Signal.Signo != 0 ? "signal" : trace.Resolution == FaultResolutions.UaccessFixup ? "fixup" : process.Oopsed ? "oops" : "failed",
        };
        stream.Emit(EventKinds.FaultEnd, entry.Cpu, process.Pid, address,
            new EventField("begin", begin),
            new EventField("accessType", EventText.Name(kind)),
            new EventField("error", error.Bits),
            new EventField("sharers", sharers),
            new EventField("vma", trace.Vma is { } v ? EventText.Vma(v) : null),
            new EventField("check", trace.Check),
            new EventField("handlers", trace.Asked.ToArray()),
            new EventField("resolution", trace.Resolution),
            new EventField("decidedBy", d.DecidedBy),
            new EventField("outcome", outcome),
            new EventField("frameBefore", before.HoldsFrame ? Hex(before.Frame) : null),
            new EventField("frameAfter", after.HoldsFrame ? Hex(after.Frame) : null),
            new EventField("pteBefore", EventText.Pte(before)),
            new EventField("pteAfter", EventText.Pte(after)),
            new EventField("signal", d.Signal.Signo != 0 ? $"{Abstractions.Signal.Name(d.Signal.Signo)} {Abstractions.Signal.CodeName(d.Signal.Signo, d.Signal.Code)}" : null),
            new EventField("alive", process.Alive));
        return d;
    }

    private static string Hex(ulong v) => $"0x{v:x}";

    // ---- the pipeline ----------------------------------------------------------------------------------------

    private FaultDisposition Handle(in KernelEntry entry, ulong address, AccessKind kind, PageFaultErrorCode error, in CpuState cpu, bool onBehalf)
    {
        if (Panicked) return FaultDisposition.Failed;
        var process = entry.Task;
        var geometry = _k.Geometry;

        bool uaccess = false;
        if (entry.Mode == AccessMode.Kernel)
        {
            if (address >= geometry.KernelBase) return KernelHalfFault(entry, address, kind, error);
            if (process.IsKernelThread)
                return Oops(entry, address, kind, error, "unable to handle page fault (a kernel thread has no user address space)");
            if (kind == AccessKind.Fetch) return Oops(entry, address, kind, error, "kernel tried to execute user page (SMEP)");
            if (cpu.Smap && !cpu.UaccessOpen)
                return Oops(entry, address, kind, error, "supervisor access to user memory outside a uaccess window (SMAP)");
            uaccess = cpu.UaccessOpen;
        }
        if (error.Reserved) return Oops(entry, address, kind, error, "corrupted page table (reserved bit set)");
        if (address >= geometry.UserTop) return Fail(entry, address, kind, error, uaccess, onBehalf, SignalInfo.SegvMapErr(address));

        var mm = MemoryManager(entry.Cpu);
        string? deferredBy = null;
        for (int pass = 0; pass < MaxDeferrals; pass++)
        {
            var fault = new PageFault(address, kind, entry.Mode, error, process, default, _k.PageTable.Read(process.PageTableRoot, address))
            {
                Cpu = entry.Cpu,
                OnBehalf = onBehalf,
            };
            var result = RunStage(FaultStage.BeforeVmaCheck, fault, mm, out string? by);
            if (result.Outcome == FaultOutcome.Declined)
            {
                var vma = process.Mm.FindVma(address);
                if (vma is null) return Fail(entry, address, kind, error, uaccess, onBehalf, SignalInfo.SegvMapErr(address));
                bool below = address < vma.Start;
                if (below && (vma.Flags & VmaFlags.GrowsDown) == 0) return Fail(entry, address, kind, error, uaccess, onBehalf, SignalInfo.SegvMapErr(address));
                fault = fault with { Vma = vma.Info };
                if (_trace is { } t) t.Vma = vma.Info;

                result = RunStage(FaultStage.BeforeAccessCheck, fault, mm, out by);
                if (result.Outcome == FaultOutcome.Declined)
                {
                    if (!below && AccessDenied(process, vma, address, kind, error) is { } denied)
                    {
                        if (_trace is { } td) td.Check = $"denied ({Abstractions.Signal.CodeName(denied.Signo, denied.Code)})";
                        return Fail(entry, address, kind, error, uaccess, onBehalf, denied);
                    }
                    if (_trace is { } ta) ta.Check = below ? "below a stack VMA" : "allowed";
                    _k.Reclaim.PinFault(fault.Pte);
                    _views[entry.Cpu].FaultVma = vma;
                    result = RunStage(FaultStage.Resolve, fault, mm, out by);
                    _views[entry.Cpu].FaultVma = null;
                    if (result.Outcome == FaultOutcome.Declined)
                    {
                        // Below a stack that no handler grew, or a fault nothing in the chain resolves.
                        return Fail(entry, address, kind, error, uaccess, onBehalf, below ? SignalInfo.SegvMapErr(address) : SignalInfo.BusAdrErr(address));
                    }
                }
            }
            if (_trace is { } tr)
            {
                tr.Outcome = result.Outcome;
                tr.Resolution = result.Resolution ?? by;
            }
            switch (result.Outcome)
            {
                case FaultOutcome.Minor:
                    _faultsMinor.Increment();
                    process.MinorFaults++;
                    return new FaultDisposition(FaultDispatch.Retry, default, by);
                case FaultOutcome.Major:
                    _faultsMajor.Increment();
                    process.MajorFaults++;
                    return new FaultDisposition(FaultDispatch.Retry, default, by);
                case FaultOutcome.Emulated:
                    return new FaultDisposition(FaultDispatch.Emulated, default, by);
                case FaultOutcome.Signal:
                    return Fail(entry, address, kind, error, uaccess, onBehalf, result.Signal) with { DecidedBy = by };
                case FaultOutcome.OutOfMemory:
                {
                    // VM_FAULT_OOM. In kernel mode, once the OOM killer has chosen the faulting task, the access ends as
                    // any failed kernel fault does (kernelmode_fixup_or_oops): a uaccess routine's fixup, else an oops.
                    var outcome = _k.Processes.OutOfMemory(entry);
                    if (outcome.Dispatch == FaultDispatch.Failed && entry.Mode == AccessMode.Kernel)
                        return uaccess ? Fixup(entry, address) : Oops(entry, address, kind, error, "unable to handle page fault (out of memory)");
                    return outcome with { DecidedBy = by };
                }
                case FaultOutcome.Deferred:
                    deferredBy = by;
                    continue;
                default:
                    throw new InvalidOperationException($"fault handler {by} answered {result.Outcome}, which is not a fault outcome");
            }
        }
        throw new InvalidOperationException(
            $"fault handler {deferredBy} deferred the fault at 0x{address:x} ({kind}, pid {process.Pid}) {MaxDeferrals} times in one exception without anything resolving it");
    }

    /// <summary>A kernel-mode fault in the kernel half: the chain with no VMA; a fix is retried uncounted, anything else oopses.</summary>
    private FaultDisposition KernelHalfFault(in KernelEntry entry, ulong address, AccessKind kind, PageFaultErrorCode error)
    {
        if (!error.Protection && !error.Reserved)
        {
            var mm = MemoryManager(entry.Cpu);
            for (int pass = 0; pass < MaxDeferrals; pass++)
            {
                var fault = new PageFault(address, kind, AccessMode.Kernel, error, entry.Task, default, default) { Cpu = entry.Cpu };
                _k.Reclaim.PinFault(default);
                var r = RunStage(default, fault, mm, out string? by, everyStage: true);
                if (_trace is { } t)
                {
                    t.Outcome = r.Outcome;
                    t.Resolution = r.Resolution ?? by;
                }
                if (r.Outcome is FaultOutcome.Minor or FaultOutcome.Major) return new FaultDisposition(FaultDispatch.Retry, default, by);
                if (r.Outcome == FaultOutcome.Emulated) return new FaultDisposition(FaultDispatch.Emulated, default, by);
                if (r.Outcome != FaultOutcome.Deferred) break;
            }
        }
        return Oops(entry, address, kind, error, "unable to handle page fault");
    }

    /// <summary>Asks the handlers of <paramref name="stage"/> (every handler, in chain order, with <paramref name="everyStage"/>) until one does not decline.</summary>
    private FaultResult RunStage(FaultStage stage, in PageFault fault, IMemoryManager mm, out string? by, bool everyStage = false)
    {
        var chain = _chain;
        for (int i = 0; i < chain.Length; i++)
        {
            ref readonly var h = ref chain[i];
            if (!everyStage && h.Stage != stage) continue;
            var r = h.Handler.Handle(fault, mm);
            if (_trace is not null) NoteAnswer(h.Name, r.Outcome);
            if (r.Outcome != FaultOutcome.Declined)
            {
                by = h.Name;
                return r;
            }
        }
        by = null;
        return FaultResult.Declined;
    }

    /// <summary>Events on: the handler asked and its answer, for the fault's <c>fault-end</c> event (kept out of <see cref="RunStage"/>'s body).</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private void NoteAnswer(string handler, FaultOutcome outcome) => _trace!.Asked.Add($"{handler}: {Answer(outcome)}");

    private static string Answer(FaultOutcome o) => o switch
    {
        FaultOutcome.Declined => "declined",
        FaultOutcome.Minor => "minor",
        FaultOutcome.Major => "major",
        FaultOutcome.Signal => "signal",
        FaultOutcome.OutOfMemory => "out-of-memory",
        FaultOutcome.Emulated => "emulated",
        _ => "deferred",
    };

    /// <summary>
    /// The access check of a fault inside its VMA: x86 <c>access_error()</c>, the protection key against the task's PKRU
    /// (<c>arch_vma_access_permitted</c>), and the architecture's rule for instruction fetches (arm64 needs VM_EXEC on the
    /// first fault). Null when allowed, else the signal.
    /// </summary>
    private SignalInfo? AccessDenied(Process process, Vma vma, ulong address, AccessKind kind, PageFaultErrorCode error)
    {
        if (AccessError(error, vma))
            return error.ProtectionKey ? SignalInfo.SegvPkuErr(address, vma.ProtectionKey) : SignalInfo.SegvAccErr(address);
        if (!KeyPermits(process, vma, kind)) return SignalInfo.SegvPkuErr(address, vma.ProtectionKey);
        if (kind == AccessKind.Fetch && _k.Geometry.ExecCheckedOnFirstFault && (vma.Protection & Protection.Exec) == 0)
            return SignalInfo.SegvAccErr(address);
        return null;
    }

    private static bool KeyPermits(Process process, Vma vma, AccessKind kind)
    {
        if (vma.ProtectionKey == 0 || kind == AccessKind.Fetch) return true;
        uint bits = process.Pkru >> (2 * vma.ProtectionKey);
        if ((bits & 1) != 0) return false;
        return kind != AccessKind.Write || (bits & 2) == 0;
    }

    private static bool AccessError(PageFaultErrorCode error, Vma vma)
    {
        if (error.ProtectionKey) return true;
        if (error.Write) return (vma.Protection & Protection.Write) == 0;
        if (error.Protection) return true;
        return (vma.Protection & (Protection.Read | Protection.Write | Protection.Exec)) == 0;
    }

    // ---- failure -------------------------------------------------------------------------------------------

    /// <summary>
    /// A fault that cannot be fixed: a user fault forces the signal; inside a uaccess routine the exception-table fixup
    /// runs; any other kernel fault oopses. A fault taken on the task's behalf reports the error to its caller instead.
    /// </summary>
    private FaultDisposition Fail(in KernelEntry entry, ulong address, AccessKind kind, PageFaultErrorCode error, bool uaccess, bool onBehalf, SignalInfo info)
    {
        if (onBehalf) return new FaultDisposition(FaultDispatch.Failed, info);
        if (entry.Mode == AccessMode.User) return _k.Processes.ForceSignal(entry, info);
        return uaccess ? Fixup(entry, address) : Oops(entry, address, kind, error, "unable to handle page fault");
    }

    /// <summary>The exception-table fixup of a uaccess routine: the copy stops, no signal.</summary>
    private FaultDisposition Fixup(in KernelEntry entry, ulong address)
    {
        _uaccessFixups.Increment();
        if (_trace is { } t) t.Resolution = FaultResolutions.UaccessFixup;
        _k.Events.Record("fixup", entry.Task.Pid, $"uaccess fault at 0x{address:x} fixed up (-EFAULT)", entry.Cpu, address);
        return FaultDisposition.Failed;
    }

    /// <summary>An oops: the message is recorded, the current task is killed (SIGKILL); with panic_on_oops the machine stops.</summary>
    internal FaultDisposition Oops(in KernelEntry entry, ulong address, AccessKind kind, PageFaultErrorCode error, string what)
    {
        var process = entry.Task;
        _oops.Increment();
        process.Oopsed = true;
        _k.Events.Record("oops", process.Pid, OopsText(address, kind, error, what), entry.Cpu, address);
        if (_k.PanicOnOops)
        {
            Panic("Fatal exception (panic_on_oops)");
            return FaultDisposition.Failed;
        }
        _k.Processes.KillForOops(entry);
        return FaultDisposition.Failed;
    }

    private static string OopsText(ulong address, AccessKind kind, PageFaultErrorCode error, string what)
    {
        string access = kind switch { AccessKind.Write => "write access", AccessKind.Fetch => "instruction fetch", _ => "read access" };
        string reason = error.Reserved ? "reserved bit violation" : error.ProtectionKey ? "protection keys violation" : error.Protection ? "permissions violation" : "not-present page";
        return $"BUG: {what} for address: 0x{address:x}; #PF: supervisor {access} in {(error.User ? "user" : "kernel")} mode; #PF: error_code(0x{error.Value:x4}) - {reason}";
    }

    private void Panic(string message)
    {
        Panicked = true;
        _panics.Increment();
        _k.Events.Record("panic", 0, $"Kernel panic - not syncing: {message}");
    }
}
