using VmLab.Abstractions;
using VmLab.Abstractions.Plugins;
using VmLab.Abstractions.Workloads;

namespace VmLab.Plugins.Scenarios;

/// <summary>How one access a scenario performs ended (<see cref="ScenarioRun.Perform"/>).</summary>
public enum AccessOutcome { Done, Skipped, Stopped }

/// <summary>The running state of one scenario: its tasks, regions, and the access/handler loop.</summary>
public sealed class ScenarioRun(string file, ISimulation simulation)
{
    private const int MaxHandlerDepth = 8;

    private readonly Dictionary<string, TaskState> _tasks = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long> _baseline = new(StringComparer.Ordinal);
    private int _handlerDepth;

    public IKernelApi Api { get; } = simulation.Kernel;

    /// <summary>The run's metric registry, to tell a counter nothing on this machine counts from one that is 0.</summary>
    public IMetrics? Metrics { get; init; }

    public bool IsRegistered(string metric) => Metrics?.IsRegistered(metric) ?? true;
    public string File => file;
    public Dictionary<string, (ulong Start, ulong Length)> Regions { get; } = new(StringComparer.Ordinal);
    public List<string> Events { get; } = [];

    /// <summary>The line of the statement running now (for errors raised while it runs).</summary>
    public int Line { get; set; }

    /// <summary>Regions named by kmalloc and not yet freed, with the address kmalloc returned (0 for NULL).</summary>
    public Dictionary<string, ulong> Kmalloced { get; } = new(StringComparer.Ordinal);

    public TaskState Define(string name, int pid, int cpu)
    {
        var t = new TaskState(name, pid, cpu);
        _tasks[name] = t;
        return t;
    }

    /// <summary>A process the scenario names could not be created (its fork or spawn returned an error).</summary>
    public void Stillborn(string name, int line, long error) => _stillborn[name] = (line, error);

    public TaskState Task(string name)
    {
        if (_tasks.TryGetValue(name, out var t)) return t;
        if (_stillborn.TryGetValue(name, out var s))
            throw new VmLabInputException($"{file}:{Line}", $"process '{name}' does not exist: the statement at line {s.Line} that would have created it failed ({Errno.Name(s.Error)})");
        throw new VmLabInputException($"{file}:{Line}", $"process '{name}' does not exist yet");
    }

    private readonly Dictionary<string, (int Line, long Error)> _stillborn = new(StringComparer.Ordinal);

    /// <summary>
    /// The task a statement makes act (a system call, an access): it must be alive. A process that has exited or was
    /// killed makes no system calls and no accesses, so naming it as the actor is an error at the statement's line.
    /// Expectations, a <c>wait</c>'s child and a <c>kill</c>'s target may name it.
    /// </summary>
    public TaskState Actor(string name)
    {
        var t = Task(name);
        var status = Api.Status(t.Pid);
        if (status.Alive) return t;
        string how = status.TerminatingSignal != 0
            ? $"was killed by {TokenCursor.SignalName(status.TerminatingSignal)}"
            : $"has exited with code {status.ExitCode}";
        throw new VmLabInputException($"{file}:{Line}", $"process '{name}' {how}: a process that no longer runs makes no system calls and no accesses");
    }

    public int CheckCpu(int cpu, int line) =>
        cpu < Api.CpuCount ? cpu : throw new VmLabInputException($"{file}:{line}", $"cpu {cpu} does not exist: the machine has {Api.CpuCount} (set machine:cpus)");

    public ulong Resolve(AddressExpr a, int line)
    {
        if (a.Region is null) return (ulong)a.Offset;
        if (!Regions.TryGetValue(a.Region, out var r))
            throw new VmLabInputException($"{file}:{line}", $"region '{a.Region}' was never mapped (its mmap failed earlier)");
        return (ulong)((long)r.Start + a.Offset);
    }

    public (ulong Start, ulong Length) Resolve(RangeExpr range, int line)
    {
        ulong start = Resolve(range.Start, line);
        ulong length = range.Length ?? Regions[range.Start.Region!].Length;
        return (start, length);
    }

    public void Event(int line, string message)
    {
        Events.Add($"{file}:{line}: {message}");
        simulation.Event($"{file}:{line}", message);
    }

    public void Report(int line, string text, bool passed, string actual) =>
        simulation.Report(new Expectation($"{file}:{line}", text, passed, actual));

    public long MetricBaseline(string name) => _baseline.GetValueOrDefault(name);

    public void ResetMetrics()
    {
        _baseline.Clear();
        foreach (var (name, value) in Api.MetricSnapshot())
            if (!MetricNames.IsLevel(name)) _baseline[name] = value;
        foreach (var name in KnownMetrics) _baseline[name] = Api.Metric(name);
    }

    /// <summary>
    /// Counter names built-in components register besides the contract's <see cref="MetricNames"/>: with those, the
    /// names an <c>expect metric</c> is checked against when it is parsed (a plugin's own counters are checked when
    /// the scenario runs).
    /// </summary>
    public static readonly string[] BuiltInCounters =
    [
        "accesses.dropped", "context_switches", "faults.file", "faults.trapped", "kernel.panics", "memory.fragmentation",
        "memory.free_frames", "pagecache.dropped", "pagecache.writebacks", "reclaim.direct", "reclaim.kswapd",
        "reclaim.kswapd_wakeups", "swap.cache_hits", "swap.slots_allocated", "swap.slots_peak", "walk.dirty_updates",
        .. Enumerable.Range(0, 11).Select(o => $"memory.free_blocks.order{o}"),
        .. Enumerable.Range(1, 5).Select(l => $"walk.memrefs.l{l}"),
    ];

    public static readonly string[] KnownMetrics =
    [
        MetricNames.Accesses, MetricNames.TlbHits, MetricNames.TlbMisses, MetricNames.WalkCount, MetricNames.WalkMemrefs,
        MetricNames.FaultsTotal, MetricNames.FaultsMinor, MetricNames.FaultsMajor, MetricNames.FaultsDemandZero,
        MetricNames.FaultsZeroPage, MetricNames.FaultsCowCopy, MetricNames.FaultsCowReuse, MetricNames.FaultsSwapIn,
        MetricNames.FaultsStackGrowth, MetricNames.FaultsVmallocSync, MetricNames.FaultsUaccessFixup, MetricNames.PagesAllocated,
        MetricNames.PagesResidentPeak, MetricNames.PageTablePages, MetricNames.SwapOuts, MetricNames.SwapIns, MetricNames.TlbFlushes,
        MetricNames.TlbShootdowns, MetricNames.SignalsSigsegv, MetricNames.SignalsSigbus, MetricNames.SignalsSigkill, MetricNames.KernelOops,
        "faults.file",
    ];

    /// <summary>
    /// Performs one access as the task's CPU would execute the instruction: a fault fixed by the kernel is invisible;
    /// a signal with a handler runs the handler, after which the instruction re-executes (up to the handler's limit),
    /// is skipped, or the task exits. Returns false when the task can no longer run.
    /// </summary>
    public bool Access(TaskState task, AccessKind kind, ulong address, int size, ulong value, int line)
    {
        var outcome = Perform(task, kind, address, size, value, line, out ulong read);
        if (outcome == AccessOutcome.Done && kind != AccessKind.Write) task.LastValue = read;
        return outcome != AccessOutcome.Stopped;
    }

    /// <summary>
    /// One access as <see cref="Access"/> performs it, telling how it ended: done (<paramref name="read"/> holds what a
    /// read or fetch returned), skipped (a handler ended with skip, no handler the scenario defines ran, or the handler's
    /// re-execution limit was reached), or stopped (the task no longer runs). The task's last value is left alone.
    /// </summary>
    public AccessOutcome Perform(TaskState task, AccessKind kind, ulong address, int size, ulong value, int line, out ulong read)
    {
        read = 0;
        int reexecutions = 0;
        while (true)
        {
            var r = Api.Access(task.Pid, task.Cpu, address, kind, size, value);
            switch (r.Status)
            {
                case AccessStatus.Ok:
                    read = r.Value;
                    return AccessOutcome.Done;
                case AccessStatus.Terminated:
                    return AccessOutcome.Stopped;
            }
            var handler = task.Handlers.Get(r.Signal.Signo);
            if (handler is null)
            {
                Event(line, $"{task.Name}: {r.Signal} was delivered to a handler the scenario does not define; the access is skipped");
                return AccessOutcome.Skipped;
            }
            var end = RunHandler(task, r.Signal.Signo, line, handler);
            if (end != HandlerEnd.Return)
                return end == HandlerEnd.Skip && Api.Status(task.Pid).Alive ? AccessOutcome.Skipped : AccessOutcome.Stopped;
            if (!Api.Status(task.Pid).Alive) return AccessOutcome.Stopped;
            if (++reexecutions > handler.Limit)
            {
                Event(line, $"{task.Name}: the access at 0x{address:x} faulted again after {handler.Limit} re-executions; the scenario stops retrying it");
                return AccessOutcome.Skipped;
            }
        }
    }

    /// <summary>Runs a task's handler for a signal (the signal is blocked while it runs); returns how it ended.</summary>
    public HandlerEnd RunHandler(TaskState task, int signo, int line, Handler? access)
    {
        var handler = access ?? task.Handlers.Get(signo);
        if (handler is null) return HandlerEnd.Return;
        if (++_handlerDepth > MaxHandlerDepth)
            throw new VmLabInputException($"{file}:{line}", $"signal handlers nested more than {MaxHandlerDepth} deep");
        try
        {
            task.HandlerRuns++;
            Api.BeginSignalHandler(task.Pid, signo);
            foreach (var action in handler.Actions)
            {
                action.Run(this, task);
                if (!Api.Status(task.Pid).Alive) return HandlerEnd.Exit;
            }
            switch (handler.End)
            {
                case HandlerEnd.Exit:
                    Api.Exit(task.Pid, task.Cpu, handler.ExitCode);
                    return HandlerEnd.Exit;
                default:
                    Api.EndSignalHandler(task.Pid, signo);
                    return handler.End;
            }
        }
        finally
        {
            _handlerDepth--;
        }
    }
}
