using VmLab.Abstractions;
using VmLab.Abstractions.Faults;
using VmLab.Abstractions.Signals;
using VmLab.Abstractions.Workloads;
using VmLab.Core.Events;

namespace VmLab.Core.Kernel;

/// <summary>
/// The process table: tasks by pid, their creation (spawn, fork, threads, kernel threads, exec), their end (exit,
/// signals, oopses, the OOM killer) and reaping (wait), and signal delivery through the configured plugin.
/// </summary>
public sealed class ProcessTable
{
    /// <summary>The start of the heap (brk) without randomisation.</summary>
    public const ulong BrkBase = 0x5555_5555_9000;

    private readonly KernelModel _k;
    private readonly ISignalDelivery _signals;
    private readonly Dictionary<int, Process> _processes = [];
    private readonly Counter _sigsegv, _sigbus, _sigkill;
    private int _nextPid = 100;

    internal ProcessTable(KernelModel kernel, ISignalDelivery signals)
    {
        _k = kernel;
        _signals = signals;
        _sigsegv = kernel.Metrics.Counter(MetricNames.SignalsSigsegv);
        _sigbus = kernel.Metrics.Counter(MetricNames.SignalsSigbus);
        _sigkill = kernel.Metrics.Counter(MetricNames.SignalsSigkill);
    }

    public IReadOnlyCollection<Process> All => _processes.Values;

    /// <summary>OOM kills so far (a fault on the caller's behalf that killed another process is worth retrying).</summary>
    public long OomKills { get; private set; }

    public Process? Find(int pid) => _processes.GetValueOrDefault(pid);

    internal Process Require(int pid) =>
        _processes.GetValueOrDefault(pid) ?? throw new InvalidOperationException($"no process {pid}");

    public int NextPid() => _nextPid++;

    /// <summary>
    /// Creates a process with an empty address space; null when no frame can be found for its top-level table, even
    /// after direct reclaim on <paramref name="cpu"/> (fork and exec return -ENOMEM then).
    /// </summary>
    public Process? Create(int pid, int cpu)
    {
        if (_processes.ContainsKey(pid)) throw new InvalidOperationException($"pid {pid} exists");
        if (!_k.AddressSpaces.TryCreate(cpu, out var mm)) return null;
        var p = new Process(pid, mm);
        _processes.Add(pid, p);
        return p;
    }

    /// <summary>
    /// The process a raw trace names: created on first use with one VMA over the whole user half, anonymous,
    /// private, readable, writable and executable. When no frame can be found for its top-level table it never runs,
    /// like a fork that returned -ENOMEM: it is recorded dead from the start and its accesses are dropped.
    /// </summary>
    public Process GetOrCreateImplicit(int pid, int cpu)
    {
        if (_processes.TryGetValue(pid, out var p)) return p;
        p = Create(pid, cpu);
        if (p is null)
        {
            p = new Process(pid, new AddressSpace(0, 0) { Users = 0 });
            p.Exit(0);
            _processes.Add(pid, p);
            _k.Events.Record("fork-failed", pid, $"process {pid} could not be created: no frame for its page tables (-ENOMEM); its accesses are dropped");
            return p;
        }
        p.Mm.Add(new Vma(0, _k.Geometry.UserTop, Protection.All, VmaFlags.None));
        return p;
    }

    /// <summary>A new process with an empty address space; null when no frame is left for its top-level table (no pid is used).</summary>
    public Process? Spawn(int cpu)
    {
        var p = Create(_nextPid, cpu);
        if (p is null) return null;
        _nextPid++;
        p.Mm.BrkStart = p.Mm.Brk = BrkBase;
        return p;
    }

    /// <summary>
    /// fork (<c>copy_process</c>): a new address space with the parent's VMAs and the entries fork's copy rule picks
    /// (<see cref="AddressSpaces.CopyForFork"/>), signal state and open files. Returns the child's pid, or -ENOMEM when a
    /// frame for the child's page tables cannot be found even after direct reclaim: then everything the half-built child
    /// took is given back, no child exists and no pid is used.
    /// </summary>
    public int Fork(int pid, int cpu)
    {
        var parent = Require(pid);
        if (!_k.AddressSpaces.TryCreate(cpu, out var mm)) return ForkFailed(parent);
        // The pid is taken only once the copy succeeded (alloc_pid comes after copy_mm).
        var child = new Process(_nextPid, mm, parent.Pid);
        if (!_k.AddressSpaces.CopyForFork(parent, child, cpu))
        {
            _k.AddressSpaces.Release(child, cpu);
            _k.AddressSpaces.ForgetAsid(mm);
            return ForkFailed(parent);
        }
        _nextPid++;
        child.CopySignalStateFrom(parent, resetHandlers: false);
        foreach (var (fd, file) in parent.Files)
        {
            file.References++;
            child.Files[fd] = file;
        }
        _processes.Add(child.Pid, child);
        return child.Pid;
    }

    private int ForkFailed(Process parent)
    {
        _k.Events.Record("fork-failed", parent.Pid, "fork: no frame for the child's page tables and nothing left to reclaim; returned -ENOMEM");
        return -Errno.ENOMEM;
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
    public int Exec(int pid, int cpu)
    {
        var p = Require(pid);
        if (!_k.AddressSpaces.TryCreate(cpu, out var mm)) return -Errno.ENOMEM;
        var old = p.Mm;
        var holder = new Process(p.Pid, old);
        // The old address space's reverse-map entries must keep naming it, not the task that now has a new one.
        _k.Reclaim.Rehome(p, holder);
        p.Mm = mm;
        p.Mm.BrkStart = p.Mm.Brk = BrkBase;
        // activate_mm: a CPU running the task loads the new root and tag now, before the old address space is released.
        foreach (var c in _k.Cpus)
            if (ReferenceEquals(c.Current, p)) c.SwitchTo(p);
        if (--old.Users == 0) _k.AddressSpaces.Release(holder, cpu);
        p.ResidentPages = 0;
        p.ResetHandlers();
        return 0;
    }

    public void Exit(int pid, int cpu, int code)
    {
        var p = Require(pid);
        if (!p.Alive) return;
        p.Exit(code);
        _k.AddressSpaces.Drop(p, cpu);
    }

    public long Wait(int pid, int child)
    {
        var c = _processes.GetValueOrDefault(child);
        if (c is null || c.ParentPid != pid || c.Reaped) return -Errno.ECHILD;
        if (c.Alive) return 0; // WNOHANG: still running
        c.Reaped = true;
        return child;
    }

    /// <summary>A kernel thread: no user address space; it runs on the reference kernel table.</summary>
    public Process SpawnKernelThread(int cpu)
    {
        _k.KernelHalf.Ensure(cpu);
        var mm = _k.AddressSpaces.KernelThreadSpace();
        var p = new Process(NextPid(), mm) { IsKernelThread = true };
        _processes.Add(p.Pid, p);
        return p;
    }

    // ---- signals -------------------------------------------------------------------------------------------

    /// <summary><c>kill</c> from <paramref name="pid"/> running on <paramref name="cpu"/> (not forced).</summary>
    public SignalAction Kill(int pid, int cpu, int target, int signo)
    {
        var t = _processes.GetValueOrDefault(target);
        if (t is null || !t.Alive) return SignalAction.None;
        CountSignal(signo);
        var info = new SignalInfo(signo, Signal.SI_USER, 0);
        t.LastSignal = info;
        var action = _signals.Deliver(t, info, forced: false);
        RecordSignal(t, info, action, forced: false, cpu, $"{info} from pid {pid}", sender: pid);
        if (action is SignalAction.Terminate or SignalAction.TerminateWithCore)
            Terminate(t, signo, action == SignalAction.TerminateWithCore, cpu);
        return action;
    }

    /// <summary>Forces a synchronous signal on the task of <paramref name="entry"/> (<c>force_sig_fault</c>).</summary>
    internal FaultDisposition ForceSignal(in KernelEntry entry, SignalInfo info)
    {
        var process = entry.Task;
        CountSignal(info.Signo);
        process.LastSignal = info;
        var action = _signals.Deliver(process, info, forced: true);
        RecordSignal(process, info, action, forced: true, entry.Cpu, info.ToString(), sender: 0);
        switch (action)
        {
            case SignalAction.Terminate:
                Terminate(process, info.Signo, core: false, entry.Cpu);
                break;
            case SignalAction.TerminateWithCore:
                Terminate(process, info.Signo, core: true, entry.Cpu);
                break;
        }
        return new FaultDisposition(FaultDispatch.Failed, info);
    }

    /// <summary>
    /// A signal's record: the run's notable events, and the event stream with what became of it — the handler ran, the
    /// signal was ignored or left pending, or the default action killed the task (with a core dump or not).
    /// </summary>
    private void RecordSignal(Process target, SignalInfo info, SignalAction action, bool forced, int cpu, string message, int sender)
    {
        _k.Events.Keep("signal", target.Pid, message);
        if (_k.Stream is not { } stream) return;
        string outcome = action switch
        {
            SignalAction.RunHandler => "handler",
            SignalAction.Terminate => "killed",
            SignalAction.TerminateWithCore => "killed-core",
            _ => target.IsBlocked(info.Signo) ? "pending" : "ignored",
        };
        stream.Emit(EventKinds.Signal, cpu, target.Pid, info.Address,
            new EventField("signal", Signal.Name(info.Signo)),
            new EventField("code", Signal.CodeName(info.Signo, info.Code)),
            new EventField("siAddr", Hex(info.Address)),
            new EventField("forced", forced),
            new EventField("sender", sender),
            new EventField("outcome", outcome));
    }

    private static string Hex(ulong v) => $"0x{v:x}";

    /// <summary>An oops kills the current task (SIGKILL); a task the OOM killer has just killed is not counted twice.</summary>
    internal void KillForOops(in KernelEntry entry)
    {
        if (entry.Task.Alive) CountSignal(Signal.SIGKILL);
        Terminate(entry.Task, Signal.SIGKILL, core: false, entry.Cpu);
    }

    /// <summary>The OOM killer: SIGKILL to the process with the largest resident set (lowest pid on a tie).</summary>
    internal FaultDisposition OutOfMemory(in KernelEntry entry)
    {
        OomKills++;
        Process? victim = null;
        foreach (var p in _processes.Values)
        {
            if (!p.Alive) continue;
            if (victim is null || p.ResidentPages > victim.ResidentPages || (p.ResidentPages == victim.ResidentPages && p.Pid < victim.Pid))
                victim = p;
        }
        victim ??= entry.Task;
        _k.Events.Record("oom-kill", victim.Pid, $"Out of memory: killed process {victim.Pid} (rss {victim.ResidentPages} pages)", entry.Cpu);
        CountSignal(Signal.SIGKILL);
        Terminate(victim, Signal.SIGKILL, core: false, entry.Cpu);
        return victim == entry.Task ? FaultDisposition.Failed : new FaultDisposition(FaultDispatch.Retry);
    }

    /// <summary>Terminates a process by a signal and releases its memory (the flushes initiated on <paramref name="cpu"/>).</summary>
    public void Terminate(Process process, int signal, bool core, int cpu)
    {
        if (!process.Alive) return;
        process.Terminate(signal, core);
        _k.AddressSpaces.Drop(process, cpu);
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

    public static ProcessStatus Status(Process p) => new(p.Pid, p.Alive, p.Reaped, p.ExitCode, p.TerminatingSignal, p.CoreDumped,
        p.LastSignal, p.MinorFaults, p.MajorFaults, p.PageFaults, p.ResidentPages);
}
