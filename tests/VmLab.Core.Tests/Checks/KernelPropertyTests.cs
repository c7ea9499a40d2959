using CsCheck;
using VmLab.Abstractions;
using VmLab.Abstractions.Workloads;
using VmLab.Core.Memory;

namespace VmLab.Core.Tests.Checks;

/// <summary>
/// Random programs of mmap (some with MAP_POPULATE), munmap, mprotect, fork, exit, reads and writes (with values) against <see cref="IKernelApi"/>
/// on a machine too small for them (memory pressure: OOM kills), with the invariant checker on after every call and fault.
/// A small reference model predicts every access: the value a read returns (what the process last wrote there, through
/// copy-on-write and shared mappings) and whether it is refused (SIGSEGV).
/// </summary>
public sealed class KernelPropertyTests
{
    private const ulong Page = 4096;
    private const long Frames = 40;
    private const int MaxTasks = 6;

    public enum OpKind { Mmap, Munmap, Mprotect, Fork, Exit, Read, Write }

    /// <summary>One step; the integers pick a task, a region, pages and protections modulo what exists when it runs.</summary>
    public sealed record Op(OpKind Kind, int Task, int Region, int Offset, int Pages, int Prot, ulong Value)
    {
        public override string ToString() => $"{Kind}(t{Task} r{Region} +{Offset} n{Pages} p{Prot} v{Value:x})";
    }

    public sealed record Program(Op[] Ops)
    {
        public bool UsesShared => Ops.Any(o => o.Kind == OpKind.Mmap && o.Prot >= 4);
        public override string ToString() => string.Join(", ", Ops.Select(o => o.ToString()));
    }

    private static readonly Gen<Op> GenOp = Gen.Select(
        Gen.Int[0, 23].Select(k => k switch { <= 3 => OpKind.Mmap, <= 5 => OpKind.Munmap, <= 7 => OpKind.Mprotect, <= 10 => OpKind.Fork, 11 => OpKind.Exit, <= 16 => OpKind.Read, _ => OpKind.Write }),
        Gen.Int[0, 7], Gen.Int[0, 7], Gen.Int[0, 15], Gen.Int[1, 16], Gen.Int[0, 7], Gen.ULong,
        (k, t, r, o, n, p, v) => new Op(k, t, r, o, n, p, v));

    private static readonly Gen<Program> GenProgram = GenOp.Array[1, 120].Select(ops => new Program(ops));

    private static readonly Gen<Program> GenPrivateProgram = GenOp.Array[1, 120].Select(ops =>
        new Program([.. ops.Select(o => o.Kind == OpKind.Mmap ? o with { Prot = o.Prot & 3 } : o)]));

    /// <summary>The model of one page as a task sees it: its protection and the cell holding its first 8 bytes.</summary>
    private sealed class Cell
    {
        public ulong Value;
    }

    private sealed record PageModel(Protection Prot, bool Shared, Cell Cell);

    private sealed class TaskModel(int pid)
    {
        public int Pid { get; } = pid;
        public SortedDictionary<ulong, PageModel> Pages { get; } = [];
        public List<(ulong Start, int Pages)> Regions { get; } = [];
    }

    private static readonly Protection[] Prots = [Protection.ReadWrite, Protection.Read, Protection.ReadWrite, Protection.None];

    /// <summary>Runs a program with the model; returns the machine (every task still alive at the end has exited).</summary>
    private static Machine Execute(Program program)
    {
        var m = TestMachine.Create(frames: Frames, tlbEntries: 8, invariants: true, fileHandler: true);
        var api = m.KernelApi;
        var tasks = new List<TaskModel> { new(api.Spawn()) };

        void Reap()
        {
            // OOM kills (and SIGSEGV) end tasks: the model forgets their pages.
            tasks.RemoveAll(t => !api.Status(t.Pid).Alive);
        }

        foreach (var op in program.Ops)
        {
            if (tasks.Count == 0)
            {
                int pid = api.Spawn();
                if (pid == -Errno.ENOMEM) continue; // no frame for its page tables: the op is skipped
                tasks.Add(new TaskModel(pid));
            }
            var t = tasks[op.Task % tasks.Count];
            (ulong Start, int Pages)? region = t.Regions.Count == 0 ? null : t.Regions[op.Region % t.Regions.Count];
            ulong Addr(int page) => region!.Value.Start + (ulong)(page % region.Value.Pages) * Page;
            switch (op.Kind)
            {
                case OpKind.Mmap:
                {
                    bool shared = op.Prot >= 4;
                    var prot = Prots[op.Prot & 3];
                    // One mmap in four pre-faults (MAP_POPULATE: write faults when private and writable, read faults
                    // otherwise), which may OOM-kill; mmap returns the address even then.
                    var populate = (op.Value & 0x30) == 0 ? MapFlags.Populate : default;
                    long r = api.Mmap(t.Pid, 0, (ulong)op.Pages * Page, prot, (shared ? MapFlags.Shared : MapFlags.Private) | MapFlags.Anonymous | populate);
                    Assert.True(r > 0, $"mmap returned {r}");
                    t.Regions.Add(((ulong)r, op.Pages));
                    for (int i = 0; i < op.Pages; i++) t.Pages[(ulong)r + (ulong)i * Page] = new PageModel(prot, shared, new Cell());
                    break;
                }
                case OpKind.Munmap when region is not null:
                {
                    ulong start = Addr(op.Offset);
                    int n = Math.Min(op.Pages, 4);
                    Assert.Equal(0, api.Munmap(t.Pid, start, (ulong)n * Page));
                    for (int i = 0; i < n; i++) t.Pages.Remove(start + (ulong)i * Page);
                    break;
                }
                case OpKind.Mprotect when region is not null:
                {
                    ulong start = Addr(op.Offset);
                    int n = Math.Min(op.Pages, 4);
                    var prot = Prots[op.Prot & 3];
                    bool whole = Enumerable.Range(0, n).All(i => t.Pages.ContainsKey(start + (ulong)i * Page));
                    long r = api.Mprotect(t.Pid, start, (ulong)n * Page, prot);
                    Assert.Equal(whole ? 0 : -Errno.ENOMEM, r);
                    // As Linux: the pages from the start up to the first hole change, the rest do not.
                    for (int i = 0; i < n && t.Pages.ContainsKey(start + (ulong)i * Page); i++)
                    {
                        ulong a = start + (ulong)i * Page;
                        t.Pages[a] = t.Pages[a] with { Prot = prot };
                    }
                    break;
                }
                case OpKind.Fork:
                {
                    // Under memory pressure the child's page tables may not fit: fork returns -ENOMEM, no child exists,
                    // and the parent's pages read as before (the checker verifies nothing of the child is left).
                    if (tasks.Count >= MaxTasks) break;
                    int pid = api.Fork(t.Pid);
                    if (pid == -Errno.ENOMEM) break;
                    Assert.True(pid > 0, $"fork returned {pid}");
                    var child = new TaskModel(pid);
                    child.Regions.AddRange(t.Regions);
                    foreach (var (a, pm) in t.Pages)
                        child.Pages[a] = pm.Shared ? pm : pm with { Cell = new Cell { Value = pm.Cell.Value } };
                    tasks.Add(child);
                    break;
                }
                case OpKind.Exit:
                    api.Exit(t.Pid, 0);
                    tasks.Remove(t);
                    break;
                case OpKind.Read or OpKind.Write when region is not null:
                {
                    ulong a = Addr(op.Offset);
                    bool write = op.Kind == OpKind.Write;
                    bool allowed = t.Pages.TryGetValue(a, out var pm) && (pm.Prot & (write ? Protection.Write : Protection.Read)) != 0;
                    // A refused access kills the task: only one in eight is made, so that programs live long enough to fill memory.
                    if (!allowed && (op.Value & 7) != 0) break;
                    int eventsBefore = m.Kernel.Events.Count;
                    var r = api.Access(t.Pid, 0, a, write ? AccessKind.Write : AccessKind.Read, 8, op.Value);
                    if (!allowed)
                    {
                        // Unmapped or forbidden: SIGSEGV, whose default action ends the task.
                        Assert.NotEqual(AccessStatus.Ok, r.Status);
                        Assert.False(api.Status(t.Pid).Alive);
                        break;
                    }
                    if (r.Status == AccessStatus.Terminated)
                    {
                        // An allowed access ends the task only when the OOM killer chose it: SIGKILL and its oom-kill event.
                        var st = api.Status(t.Pid);
                        Assert.False(st.Alive);
                        Assert.Equal(Signal.SIGKILL, st.TerminatingSignal);
                        Assert.Contains(m.Kernel.Events.Skip(eventsBefore), e => e.Kind == "oom-kill" && e.Pid == t.Pid);
                        break;
                    }
                    Assert.Equal(AccessStatus.Ok, r.Status);
                    if (write) pm!.Cell.Value = op.Value;
                    else Assert.Equal(pm!.Cell.Value, r.Value);
                    break;
                }
            }
            Reap();
        }
        foreach (var t in tasks) api.Exit(t.Pid, 0);
        return m;
    }

    [Fact]
    public void RandomProgramsNeverBreakAnInvariantAndReadWhatTheModelPredicts()
    {
        GenProgram.Sample(p => Execute(p), iter: 300, threads: 1);
    }

    [Fact]
    public void AfterEveryProcessExitsOnlyThePageCacheHoldsFrames()
    {
        GenProgram.Sample(p =>
        {
            var m = Execute(p);
            m.Invariants!.Check(); // every resident frame is held by what the checker accounts for
            int cached = m.Kernel.Files.Frames.Count();
            Assert.Equal(0, m.Frames.PageTableFrames);
            Assert.Equal(cached, m.Frames.ResidentUserFrames);
            Assert.Equal(Frames - 1 - cached, m.Frames.FreeFrames); // frame 0 is the zero page, never free
            if (!p.UsesShared) Assert.Equal(0, cached);
        }, iter: 200, threads: 1);
    }

    [Fact]
    public void PrivateOnlyProgramsGiveBackEveryFrame()
    {
        GenPrivateProgram.Sample(p =>
        {
            var m = Execute(p);
            Assert.Equal(Frames - 1, m.Frames.FreeFrames);
            Assert.Equal(0, m.Frames.ResidentUserFrames);
        }, iter: 200, threads: 1);
    }

    [Fact]
    public void SameProgramGivesIdenticalMetrics()
    {
        GenProgram.Sample(p =>
        {
            var a = Execute(p).Metrics.Snapshot();
            var b = Execute(p).Metrics.Snapshot();
            Assert.Equal(a, b);
            Assert.True(a[MetricNames.PagesAllocated] >= 0);
        }, iter: 100, threads: 1);
    }

    [Fact]
    public void ProgramsHitMemoryPressure()
    {
        // The properties above are only as strong as the programs: some must run out of memory (OOM kills).
        long kills = 0, faults = 0, segv = 0, peak = 0, forkFailures = 0;
        var pcg = new PCG(1, 12345);
        for (int i = 0; i < 200; i++)
        {
            var m = Execute(GenProgram.Generate(pcg, null, out _));
            kills += m.Kernel.Events.Count(e => e.Kind == "oom-kill");
            forkFailures += m.Kernel.Events.Count(e => e.Kind == "fork-failed");
            faults += m.M(MetricNames.FaultsTotal);
            segv += m.M(MetricNames.SignalsSigsegv);
            peak = Math.Max(peak, m.M(MetricNames.PagesResidentPeak));
        }
        Assert.True(kills > 0, $"no program was OOM-killed ({faults} faults, {segv} SIGSEGV, resident peak {peak} pages)");
        Assert.True(forkFailures > 0, "no fork ran out of memory for the child's page tables");
        Assert.True(faults > 1000, $"only {faults} faults");
        Assert.True(peak >= Frames / 2, $"resident peak {peak} pages of {Frames} frames");
    }
}
