using System.Globalization;
using VmLab.Abstractions;
using VmLab.Abstractions.Plugins;
using VmLab.Abstractions.Signals;
using VmLab.Abstractions.Workloads;

namespace VmLab.Plugins.Scenarios;

/// <summary>One executable statement of a scenario.</summary>
public abstract record Step(int Line)
{
    public abstract void Execute(ScenarioRun run);
}

public sealed record FileStep(int Line, string Name, ulong Size, byte Fill) : Step(Line)
{
    public override void Execute(ScenarioRun run) => run.Api.CreateFile(Name, Size, Fill);
}

public sealed record ProcessStep(int Line, string Name, int Cpu) : Step(Line)
{
    public override void Execute(ScenarioRun run)
    {
        int cpu = run.CheckCpu(Cpu, Line);
        int pid = run.Api.Spawn();
        if (pid >= 0)
        {
            run.Define(Name, pid, cpu);
            return;
        }
        run.Stillborn(Name, Line, pid);
        run.Event(Line, $"process {Name} could not be created: {Errno.Name(pid)}");
    }
}

public sealed record MmapStep(int Line, string Process, string Region, ulong Length, Protection Prot, MapFlags Flags, string? File, ulong Offset, AddressExpr? At) : Step(Line)
{
    /// <summary>The descriptor mapped (mmap of an fd: a file, a memfd, /dev/zero), instead of <see cref="File"/>.</summary>
    public string? Fd { get; init; }

    public override void Execute(ScenarioRun run)
    {
        var p = run.Actor(Process);
        ulong at = At is null ? 0 : run.Resolve(At, Line);
        long r = Fd is not null
            ? run.Api.MmapFd(p.Pid, p.Cpu, at, Length, Prot, Flags, SyscallStep.Descriptor(run, p, Process, Fd, Line), Offset)
            : run.Api.Mmap(p.Pid, p.Cpu, at, Length, Prot, Flags | (File is null ? MapFlags.Anonymous : 0), File, Offset);
        p.LastReturn = r;
        if (r >= 0) run.Regions[Region] = ((ulong)r, Length);
        else if ((Flags & MapFlags.Device) != 0 && r == -Errno.ENOENT)
            throw new VmLabInputException($"{run.File}:{Line}", $"no device named '{File}' on this machine; add it under machine:devices (e.g. --set machine:devices:0:plugin=framebuffer)");
        else run.Event(Line, $"mmap of region {Region} failed: {Errno.Name(r)}");
    }
}

public sealed record SbrkStep(int Line, string Process, string Region, ulong Length) : Step(Line)
{
    public override void Execute(ScenarioRun run)
    {
        var p = run.Actor(Process);
        long old = run.Api.Brk(p.Pid, p.Cpu, 0);
        long r = run.Api.Brk(p.Pid, p.Cpu, (ulong)old + Length);
        p.LastReturn = r;
        if (r == old + (long)Length) run.Regions[Region] = ((ulong)old, Length);
        else run.Event(Line, $"sbrk of region {Region} failed");
    }
}

public enum RangeCall { Munmap, Mprotect, PkeyMprotect }

public sealed record RangeStep(int Line, string Process, RangeCall Call, RangeExpr Range, Protection Prot, int Key = 0) : Step(Line)
{
    public override void Execute(ScenarioRun run)
    {
        var p = run.Actor(Process);
        var (start, len) = run.Resolve(Range, Line);
        p.LastReturn = Call switch
        {
            RangeCall.Munmap => run.Api.Munmap(p.Pid, p.Cpu, start, len),
            RangeCall.Mprotect => run.Api.Mprotect(p.Pid, p.Cpu, start, len, Prot),
            _ => run.Api.PkeyMprotect(p.Pid, p.Cpu, start, len, Prot, Key),
        };
    }
}

public enum LockCall { Mlock, Munlock, Mlockall, Munlockall }

/// <summary>mlock / mlock2 / munlock RANGE, mlockall FLAGS, munlockall: <c>ret</c> is 0 or Linux's errno.</summary>
public sealed record LockStep(int Line, string Process, LockCall Call, RangeExpr? Range, int Flags) : Step(Line)
{
    public override void Execute(ScenarioRun run)
    {
        var p = run.Actor(Process);
        var (start, len) = Range is null ? (0UL, 0UL) : run.Resolve(Range, Line);
        p.LastReturn = Call switch
        {
            LockCall.Mlock => run.Api.Mlock(p.Pid, p.Cpu, start, len, Flags),
            LockCall.Munlock => run.Api.Munlock(p.Pid, p.Cpu, start, len),
            LockCall.Mlockall => run.Api.Mlockall(p.Pid, p.Cpu, Flags),
            _ => run.Api.Munlockall(p.Pid, p.Cpu),
        };
    }
}

/// <summary>madvise RANGE ADVICE: <c>ret</c> is 0 or Linux's errno.</summary>
public sealed record MadviseStep(int Line, string Process, RangeExpr Range, Advice Advice) : Step(Line)
{
    public override void Execute(ScenarioRun run)
    {
        var p = run.Actor(Process);
        var (start, len) = run.Resolve(Range, Line);
        p.LastReturn = run.Api.Madvise(p.Pid, p.Cpu, start, len, Advice);
    }
}

public sealed record ForkStep(int Line, string Parent, string Child) : Step(Line)
{
    public override void Execute(ScenarioRun run)
    {
        var p = run.Actor(Parent);
        int pid = run.Api.Fork(p.Pid, p.Cpu);
        p.LastReturn = pid;
        if (pid < 0)
        {
            // No child exists: statements naming it are an error, expectations on the parent's ret see the errno.
            run.Stillborn(Child, Line, pid);
            run.Event(Line, $"fork of {Child} failed: {Errno.Name(pid)}");
            return;
        }
        var child = run.Define(Child, pid, p.Cpu);
        child.Handlers.CopyFrom(p.Handlers);
        foreach (var (name, fd) in p.Fds) child.Fds[name] = fd;
    }
}

public sealed record ThreadStep(int Line, string Process, string Thread, int? Cpu) : Step(Line)
{
    public override void Execute(ScenarioRun run)
    {
        var p = run.Actor(Process);
        int tid = run.Api.CloneThread(p.Pid);
        p.LastReturn = tid;
        run.Define(Thread, tid, Cpu is null ? p.Cpu : run.CheckCpu(Cpu.Value, Line)).Handlers.CopyFrom(p.Handlers);
    }
}

public sealed record ExecStep(int Line, string Process) : Step(Line)
{
    public override void Execute(ScenarioRun run)
    {
        var p = run.Actor(Process);
        long r = run.Api.Execve(p.Pid, p.Cpu);
        p.LastReturn = r;
        if (r == 0) p.Handlers.ResetOnExec();
        else run.Event(Line, $"exec of {Process} failed: {Errno.Name(r)}; it keeps its old image");
    }
}

public sealed record ExitStep(int Line, string Process, int Code) : Step(Line)
{
    public override void Execute(ScenarioRun run)
    {
        var p = run.Actor(Process);
        run.Api.Exit(p.Pid, p.Cpu, Code);
    }
}

public sealed record WaitStep(int Line, string Process, string Child) : Step(Line)
{
    public override void Execute(ScenarioRun run)
    {
        var p = run.Actor(Process);
        p.LastReturn = run.Api.Wait(p.Pid, run.Task(Child).Pid);
    }
}

public sealed record CpuStep(int Line, string Process, int Cpu) : Step(Line)
{
    public override void Execute(ScenarioRun run) => run.Actor(Process).Cpu = run.CheckCpu(Cpu, Line);
}

public sealed record SigactionStep(int Line, string Process, int Signo, SignalDisposition Disposition, Handler? Handler) : Step(Line)
{
    public override void Execute(ScenarioRun run)
    {
        var p = run.Actor(Process);
        run.Api.SetSignalDisposition(p.Pid, Signo, Disposition);
        if (Handler is null) p.Handlers.Remove(Signo);
        else p.Handlers.Set(Signo, Handler);
    }
}

/// <summary>Sets the rights of one protection key in the task's PKRU register.</summary>
public sealed record PkruStep(int Line, string Process, int Key, bool DenyAccess, bool DenyWrite) : Step(Line)
{
    public override void Execute(ScenarioRun run)
    {
        var t = run.Actor(Process);
        uint bits = (DenyAccess ? 1u : 0u) | (DenyWrite ? 2u : 0u);
        t.Pkru = (t.Pkru & ~(3u << (2 * Key))) | (bits << (2 * Key));
        run.Api.SetPkru(t.Pid, t.Pkru);
    }
}

public sealed record MaskStep(int Line, string Process, int Signo, bool Block) : Step(Line)
{
    public override void Execute(ScenarioRun run) => run.Api.SetSignalBlocked(run.Actor(Process).Pid, Signo, Block);
}

public sealed record KillStep(int Line, string Process, string Target, int Signo) : Step(Line)
{
    public override void Execute(ScenarioRun run)
    {
        var p = run.Actor(Process);
        var t = run.Task(Target);
        var action = run.Api.Kill(p.Pid, p.Cpu, t.Pid, Signo);
        if (action == SignalAction.RunHandler) run.RunHandler(t, Signo, Line, access: null);
    }
}

public sealed record AccessStep(int Line, string Process, AccessKind Kind, AddressExpr Address, int Size, ulong Value) : Step(Line)
{
    public override void Execute(ScenarioRun run) => run.Access(run.Actor(Process), Kind, run.Resolve(Address, Line), Size, Value, Line);
}

/// <summary>"every page of RANGE": one access at the start of each page.</summary>
public sealed record EveryPageStep(int Line, string Process, AccessKind Kind, RangeExpr Range, ulong Value) : Step(Line)
{
    public override void Execute(ScenarioRun run)
    {
        var p = run.Actor(Process);
        var (start, len) = run.Resolve(Range, Line);
        for (ulong a = start & ~(VirtualAddress.PageSize - 1); a < start + len; a += VirtualAddress.PageSize)
        {
            if (!run.Access(p, Kind, a, 1, Value, Line)) break;
        }
    }
}

/// <summary>A handler's actions, run when a signal with a handler is delivered, and how often the faulting access may re-execute.</summary>
public sealed record Handler(IReadOnlyList<HandlerAction> Actions, HandlerEnd End, int ExitCode, int Limit);

public enum HandlerEnd { Return, Skip, Exit }

public abstract record HandlerAction(int Line)
{
    public abstract void Run(ScenarioRun run, TaskState task);
}

public sealed record RecordAction(int Line) : HandlerAction(Line)
{
    public override void Run(ScenarioRun run, TaskState task) { }
}

public sealed record MprotectAction(int Line, RangeExpr Range, Protection Prot) : HandlerAction(Line)
{
    public override void Run(ScenarioRun run, TaskState task)
    {
        var (start, len) = run.Resolve(Range, Line);
        run.Api.Mprotect(task.Pid, task.Cpu, start, len, Prot);
    }
}

public sealed record AccessAction(int Line, AccessKind Kind, AddressExpr Address, ulong Value) : HandlerAction(Line)
{
    public override void Run(ScenarioRun run, TaskState task) => run.Access(task, Kind, run.Resolve(Address, Line), 1, Value, Line);
}

/// <summary>Per-task handler table (a handler's actions live in the scenario, the disposition in the kernel).</summary>
public sealed class HandlerTable
{
    private readonly Dictionary<int, Handler> _handlers = [];

    public Handler? Get(int signo) => _handlers.GetValueOrDefault(signo);
    public void Set(int signo, Handler h) => _handlers[signo] = h;
    public void Remove(int signo) => _handlers.Remove(signo);
    public void ResetOnExec() => _handlers.Clear();

    public void CopyFrom(HandlerTable other)
    {
        foreach (var (s, h) in other._handlers) _handlers[s] = h;
    }
}

/// <summary>A scenario's view of one task: pid, CPU, handlers, and what its last call returned.</summary>
public sealed class TaskState(string name, int pid, int cpu)
{
    public string Name { get; } = name;
    public int Pid { get; } = pid;
    public int Cpu { get; set; } = cpu;
    public HandlerTable Handlers { get; } = new();
    public long LastReturn { get; set; }
    public ulong LastValue { get; set; }
    /// <summary>The residency vector of the last mincore, one '0' or '1' per page (null before any).</summary>
    public string? LastVector { get; set; }
    public long HandlerRuns { get; set; }
    public uint Pkru { get; set; }
    /// <summary>Descriptor names the scenario gave, to fd numbers.</summary>
    public Dictionary<string, int> Fds { get; } = new(StringComparer.Ordinal);
}

// ---- expectations -----------------------------------------------------------------------------------------

public abstract record ExpectStep(int Line, string Text) : Step(Line)
{
    public override void Execute(ScenarioRun run)
    {
        var (passed, actual) = Check(run);
        run.Report(Line, Text, passed, actual);
    }

    protected abstract (bool Passed, string Actual) Check(ScenarioRun run);

    protected static string N(long v) => v.ToString(CultureInfo.InvariantCulture);
}

public enum TaskCounter { Minflt, Majflt, Faults, Rss, Handled, Value, Ret }

public sealed record ExpectCounter(int Line, string Text, string Process, TaskCounter Counter, Comparison Op, long Expected, AddressExpr? ExpectedAddress = null) : ExpectStep(Line, Text)
{
    /// <summary>MAX_ERRNO: returns from -1 to -4095 are errors, anything below is a pointer.</summary>
    private const long MaxErrno = 4095;

    protected override (bool, string) Check(ScenarioRun run)
    {
        var t = run.Task(Process);
        var s = run.Api.Status(t.Pid);
        long actual = Counter switch
        {
            TaskCounter.Minflt => s.MinorFaults,
            TaskCounter.Majflt => s.MajorFaults,
            TaskCounter.Faults => s.PageFaults,
            TaskCounter.Rss => s.ResidentPages,
            TaskCounter.Handled => t.HandlerRuns,
            TaskCounter.Value => (long)t.LastValue,
            _ => t.LastReturn,
        };
        string shown = Counter switch
        {
            // Linux's IS_ERR_VALUE range: -1..-4095 is an errno; a more negative return is a kernel address (kmalloc, vmalloc).
            TaskCounter.Ret when actual is < 0 and >= -MaxErrno => $"-{Errno.Name(actual)} ({N(actual)})".Replace("--", "-", StringComparison.Ordinal),
            TaskCounter.Ret when actual < 0 => $"0x{(ulong)actual:x}",
            TaskCounter.Value => $"0x{actual:x}",
            _ => N(actual),
        };
        long expected = ExpectedAddress is null ? Expected : (long)run.Resolve(ExpectedAddress, Line);
        return (Op.Holds(actual, expected), shown);
    }
}

public sealed record ExpectMetric(int Line, string Text, string Metric, Comparison Op, long Expected) : ExpectStep(Line, Text)
{
    protected override (bool, string) Check(ScenarioRun run)
    {
        if (!run.IsRegistered(Metric))
            return (false, $"nothing: metric {Metric} is not registered on this machine (no component of this configuration counts it)");
        long actual = run.Api.Metric(Metric) - run.MetricBaseline(Metric);
        return (Op.Holds(actual, Expected), N(actual));
    }
}

/// <summary>"expect metric NAME unregistered": nothing on this machine counts the metric (it is not 0: it does not exist here).</summary>
public sealed record ExpectMetricUnregistered(int Line, string Text, string Metric) : ExpectStep(Line, Text)
{
    protected override (bool, string) Check(ScenarioRun run) =>
        run.IsRegistered(Metric) ? (false, $"registered, {N(run.Api.Metric(Metric))}") : (true, "unregistered");
}

public sealed record ExpectSignal(int Line, string Text, string Process, int? Signo, int? Code, AddressExpr? Address, int? Pkey = null) : ExpectStep(Line, Text)
{
    protected override (bool, string) Check(ScenarioRun run)
    {
        var s = run.Api.Status(run.Task(Process).Pid).LastSignal;
        string actual = s is null ? "no signal" : $"{TokenCursor.SignalName(s.Value.Signo)} code {s.Value.Code} addr 0x{s.Value.Address:x}" + (s.Value.Pkey >= 0 ? $" pkey {s.Value.Pkey}" : "");
        if (Signo is null) return (s is null, actual);
        if (s is null) return (false, actual);
        bool ok = s.Value.Signo == Signo && (Code is null || s.Value.Code == Code) && (Address is null || s.Value.Address == run.Resolve(Address, Line))
                  && (Pkey is null || s.Value.Pkey == Pkey);
        return (ok, actual);
    }
}

public enum LifeState { Alive, Dead, Killed, Exited }

public sealed record ExpectLife(int Line, string Text, string Process, LifeState State, int? Signo, bool? Core, int? Code) : ExpectStep(Line, Text)
{
    protected override (bool, string) Check(ScenarioRun run)
    {
        var s = run.Api.Status(run.Task(Process).Pid);
        string actual = s.Alive ? "alive"
            : s.TerminatingSignal != 0 ? $"killed by {TokenCursor.SignalName(s.TerminatingSignal)}{(s.CoreDumped ? " (core dumped)" : "")}"
            : $"exited with {s.ExitCode}";
        bool ok = State switch
        {
            LifeState.Alive => s.Alive,
            LifeState.Dead => !s.Alive,
            LifeState.Killed => !s.Alive && s.TerminatingSignal != 0 && (Signo is null || s.TerminatingSignal == Signo) && (Core is null || s.CoreDumped == Core),
            _ => !s.Alive && s.TerminatingSignal == 0 && (Code is null || s.ExitCode == Code),
        };
        return (ok, actual);
    }
}

/// <summary>"reset": later metric expectations count from here.</summary>
public sealed record ResetStep(int Line) : Step(Line)
{
    public override void Execute(ScenarioRun run) => run.ResetMetrics();
}
