using CsCheck;
using VmLab.Abstractions;
using VmLab.Abstractions.Signals;
using VmLab.Abstractions.Workloads;
using VmLab.Core.Kernel;
using VmLab.Core.Tests.Fakes;

namespace VmLab.Core.Tests.Checks;

/// <summary>
/// Random programs over the whole <see cref="IKernelApi"/> surface — spawn, fork, threads, exec, exit, wait, kill with
/// handled, ignored and default signals, the OOM killer, kmalloc/kfree/vmalloc and kernel accesses, get_user/put_user,
/// read and write through pipes, /dev/zero and files, every mmap kind (anonymous and file, private and shared,
/// MAP_POPULATE, MAP_FIXED), munmap, mprotect, pkey_mprotect, madvise on user and kernel addresses, brk, dirty
/// tracking, accesses of 1 to 8 bytes at any offset (page-straddling too), swap, and calls naming tasks that are gone —
/// driven through <see cref="Machine.KernelApi"/> with the invariant checker on after every call and every fault.
/// Besides the invariants, every death must have its reason (an exit call, the signal it received with its kernel
/// event, an OOM kill or an oops naming it), and a byte-level model predicts what reads return where it can tell.
/// </summary>
public sealed class KernelProgramPropertyTests
{
    private const ulong Page = 4096;
    private const int MaxTasks = 8;
    private const ulong FixedBase = 0x1000_0000;
    /// <summary>
    /// Frames the kernel half takes when it is built on the 4-level fake page table, for machines of at most 512 frames
    /// (the programs have 28 to 120, plus these): its reference root; the direct map's level-3 and level-2 tables and
    /// its one leaf table (4 KiB pages, 512 to a table); one table under each of the two pre-populated vmalloc slots.
    /// </summary>
    private const long KernelHalfFrames = 1 + 1 + 1 + 1 + 2;

    public enum K
    {
        Spawn, Fork, Thread, Exec, Exit, Wait, Kill, Disposition, Block,
        Mmap, MmapFixed, Munmap, Mprotect, PkeyMprotect, SetPkru, Madvise, MadviseKernel, Brk,
        Read, Write, GetUser, PutUser, UserOnKernel,
        Kmalloc, Kfree, Vmalloc, KernelAccess, KernelThread, KernelOnUser,
        Open, Pipe, SysRead, SysWrite, TrackDirty, CollectDirty,
    }

    /// <summary>One step: the integers pick tasks, regions, offsets and sizes modulo what exists when it runs.</summary>
    public sealed record Op(K Kind, int A, int B, int C, int D, ulong V)
    {
        public override string ToString() => $"new({nameof(K)}.{Kind}, {A}, {B}, {C}, {D}, 0x{V:x})";
    }

    /// <summary>
    /// A program and the machine it runs on: <see cref="Frames"/> for user pages and page tables, plus the kernel half's
    /// own when the program uses kernel memory (<see cref="Kernel"/>).
    /// </summary>
    public sealed record Program(long Frames, int Cpus, long SwapSlots, bool Kernel, Op[] Ops)
    {
        public override string ToString() =>
            $"new Program({Frames}, {Cpus}, {SwapSlots}, {(Kernel ? "true" : "false")}, [{string.Join(", ", Ops.Select(o => o.ToString()))}])";
    }

    // Weights: memory accesses and the mmap family dominate; every kind appears.
    private static readonly (K Kind, int Weight)[] Weights =
    [
        (K.Spawn, 1), (K.Fork, 4), (K.Thread, 2), (K.Exec, 1), (K.Exit, 2), (K.Wait, 2), (K.Kill, 2), (K.Disposition, 2), (K.Block, 1),
        (K.Mmap, 8), (K.MmapFixed, 2), (K.Munmap, 2), (K.Mprotect, 3), (K.PkeyMprotect, 1), (K.SetPkru, 1), (K.Madvise, 2), (K.MadviseKernel, 1), (K.Brk, 2),
        (K.Read, 12), (K.Write, 14), (K.GetUser, 2), (K.PutUser, 2), (K.UserOnKernel, 1),
        (K.Kmalloc, 3), (K.Kfree, 2), (K.Vmalloc, 1), (K.KernelAccess, 3), (K.KernelThread, 1), (K.KernelOnUser, 1),
        (K.Open, 1), (K.Pipe, 1), (K.SysRead, 3), (K.SysWrite, 3), (K.TrackDirty, 1), (K.CollectDirty, 1),
    ];

    private static readonly K[] KindTable = [.. Weights.SelectMany(w => Enumerable.Repeat(w.Kind, w.Weight))];

    private static readonly Gen<Op> GenOp = Gen.Select(
        Gen.Int[0, KindTable.Length - 1], Gen.Int[0, 63], Gen.Int[0, 63], Gen.Int[0, 8191], Gen.Int[0, 63], Gen.ULong,
        (k, a, b, c, d, v) => new Op(KindTable[k], a, b, c, d, v));

    private static readonly HashSet<K> KernelMemoryKinds = [K.Kmalloc, K.Kfree, K.Vmalloc, K.KernelAccess, K.KernelThread, K.KernelOnUser];

    // One program in eight uses kernel memory. Those are shorter: once the kernel half exists (its reference table and
    // the pre-populated vmalloc slots shared into every address space) each invariant check walks it for every live root,
    // about a millisecond each. The others turn kernel-memory steps into writes.
    private static readonly Gen<Program> GenProgram = Gen.Select(
        Gen.Int[0, 3], Gen.Int[1, 2], Gen.Bool, Gen.Int[0, 7], GenOp.Array[1, 24],
        (f, cpus, swap, kernel, ops) => new Program(f switch { 0 => 28, 1 => 40, 2 => 56, _ => 120 }, cpus, swap ? 24 : 0, kernel == 0,
            kernel == 0 ? ops[..Math.Min(ops.Length, 10)] : [.. ops.Select(o => KernelMemoryKinds.Contains(o.Kind) ? o with { Kind = K.Write } : o)]));

    // ---- the model ---------------------------------------------------------------------------------------------

    private enum PageKind { AnonPrivate, AnonShared, FilePrivate, FileShared }

    /// <summary>What a page holds: the bytes written, over a fill byte; unknown when the model cannot tell.</summary>
    private sealed class Cell
    {
        public Dictionary<int, byte> Bytes { get; init; } = [];
        public byte Fill { get; init; }
        public bool Known { get; set; } = true;

        public Cell Copy() => new() { Bytes = new Dictionary<int, byte>(Bytes), Fill = Fill, Known = Known };
        public byte Get(int offset) => Bytes.TryGetValue(offset, out var b) ? b : Fill;
    }

    private sealed record PageModel(Protection Prot, int Key, PageKind Kind, Cell Cell);

    /// <summary>An address space as the model sees it: shared by threads.</summary>
    private sealed class SpaceModel
    {
        public SortedDictionary<ulong, PageModel> Pages { get; } = [];
        public List<(ulong Start, int Pages)> Regions { get; } = [];
        public ulong Brk { get; set; } = ProcessTable.BrkBase;
    }

    /// <summary>A pipe as fs/pipe.c keeps it: up to 16 one-page buffers, each with its data's offset in its page.</summary>
    private sealed class PipeModel
    {
        public List<(int Offset, List<byte?> Data)> Buffers { get; } = [];
    }

    private sealed record FdModel(string Kind, PipeModel? Pipe);

    private sealed class TaskModel(int pid, int parent, SpaceModel? space, bool kthread)
    {
        public int Pid { get; } = pid;
        public int Parent { get; } = parent;
        public SpaceModel? Space { get; set; } = space;
        public bool KernelThread { get; } = kthread;
        public bool Alive { get; set; } = true;
        public bool Reaped { get; set; }
        public uint Pkru { get; set; }
        public Dictionary<int, SignalDisposition> Dispositions { get; init; } = [];
        public HashSet<int> Blocked { get; init; } = [];
        public Dictionary<int, FdModel> Fds { get; init; } = [];
    }

    /// <summary>A kmalloc or vmalloc block: the bytes written through kernel accesses (kmalloc memory is not zeroed).</summary>
    private sealed record Block(ulong Address, ulong Size, bool Vmalloc, Dictionary<ulong, byte> Bytes);

    private static readonly Protection[] Prots = [Protection.ReadWrite, Protection.Read, Protection.ReadWrite, Protection.None, Protection.Write];
    private static readonly int[] Signals = [Signal.SIGKILL, 10, 15, Signal.SIGSEGV, 17, 3, 12];
    private static readonly ulong[] KmallocSizes = [8, 24, 100, 512, 4096, 6000, 8192, 16384];

    /// <summary>Figures over the programs run (what the coverage test asserts).</summary>
    public sealed class Tally
    {
        public long Programs, Ops, OomKills, SignalDeaths, Exits, Oopses, DeadCalls, ValuesChecked, SwapOuts, Straddles, KernelMadvise;

        public override string ToString() =>
            $"{Programs} programs, {Ops} steps, {OomKills} OOM kills, {SignalDeaths} deaths by signals, {Oopses} oopses, {Exits} exits, " +
            $"{DeadCalls} calls naming dead tasks, {ValuesChecked} values checked, {SwapOuts} swap-outs, {Straddles} page-straddling accesses, {KernelMadvise} madvise on kernel addresses";
    }

    /// <summary>Runs one program: throws on an invariant violation, an unexplained death or a value the model contradicts.</summary>
    private static Machine Execute(Program program, Tally? tally = null)
    {
        var m = TestMachine.Create(frames: program.Frames + (program.Kernel ? KernelHalfFrames : 0), tlbEntries: 8, cpus: program.Cpus, invariants: true, fileHandler: true,
            replacement: program.SwapSlots > 0 ? new FifoTestPolicy() : null, swapSlots: program.SwapSlots);
        var api = m.KernelApi;
        var events = m.Kernel.Events;
        // The kernel half (direct map, pre-populated vmalloc slots) is built first; the program's frames come on top.
        if (program.Kernel) m.Kernel.KernelHalf.Ensure(0);
        Assert.Equal(program.Frames - 1, m.Frames.FreeFrames); // frame 0 is the zero page
        api.CreateFile("priv", 24 * Page, 0x5a);
        api.CreateFile("shared", 24 * Page, 0xa5);
        var tasks = new List<TaskModel>();
        var blocks = new List<Block>();

        TaskModel? SpawnTask()
        {
            int pid = api.Spawn();
            if (pid == -Errno.ENOMEM) return null;
            Assert.True(pid > 0, $"spawn returned {pid}");
            var t = new TaskModel(pid, 0, new SpaceModel(), false);
            tasks.Add(t);
            // Every new process starts with four private anonymous pages, so that its first steps have memory to use.
            long r = api.Mmap(pid, 0, 0, 4 * Page, Protection.ReadWrite, MapFlags.Private | MapFlags.Anonymous, null, 0);
            Assert.True(r > 0, $"mmap returned {r}");
            t.Space!.Regions.Add(((ulong)r, 4));
            for (ulong i = 0; i < 4; i++) t.Space.Pages[(ulong)r + i * Page] = new PageModel(Protection.ReadWrite, 0, PageKind.AnonPrivate, new Cell());
            return t;
        }

        int Live() => tasks.Count(x => x.Alive);

        SpawnTask();
        foreach (var op in program.Ops)
        {
            if (api.Panicked) break;
            if (tally is not null) tally.Ops++;

            // Any task, dead or alive (calls naming a dead task must return -ESRCH or be harmless); a user task for user calls.
            // Mostly a live one: one step in eight names any task, so dead ones are named too.
            var users = tasks.Where(t => !t.KernelThread && (t.Alive || op.A % 8 == 7)).ToList();
            TaskModel? t = users.Count == 0 ? null : users[op.A / 8 % users.Count];
            if (t is null && op.Kind is not (K.Spawn or K.Kmalloc or K.Kfree or K.Vmalloc or K.KernelThread)) t = SpawnTask();
            int cpu = op.D % program.Cpus;
            var alive = tasks.Where(x => x.Alive).Select(x => x.Pid).ToList();
            int eventsBefore = events.Count;
            int exitedBy = 0, exitCode = 0;

            if (t is { Alive: false } && op.Kind is not (K.Wait or K.Kill or K.Exit or K.Spawn or K.Kmalloc or K.Kfree or K.Vmalloc or K.KernelThread or K.Disposition or K.Block))
            {
                DeadCall(api, t, op, cpu, blocks);
                if (tally is not null) tally.DeadCalls++;
            }
            else
            {
                switch (op.Kind)
                {
                    case K.Spawn:
                        if (Live() < MaxTasks) SpawnTask();
                        break;
                    case K.Fork when t is not null && Live() < MaxTasks:
                    {
                        int pid = api.Fork(t.Pid, cpu);
                        if (pid == -Errno.ENOMEM) break;
                        Assert.True(pid > 0, $"fork returned {pid}");
                        var space = new SpaceModel { Brk = t.Space!.Brk };
                        space.Regions.AddRange(t.Space.Regions);
                        foreach (var (a, pm) in t.Space.Pages)
                            space.Pages[a] = pm.Kind is PageKind.AnonPrivate or PageKind.FilePrivate ? pm with { Cell = pm.Cell.Copy() } : pm;
                        tasks.Add(new TaskModel(pid, t.Pid, space, false)
                        {
                            Pkru = t.Pkru,
                            Dispositions = new Dictionary<int, SignalDisposition>(t.Dispositions),
                            Blocked = [.. t.Blocked],
                            Fds = new Dictionary<int, FdModel>(t.Fds),
                        });
                        break;
                    }
                    case K.Thread when t is not null && Live() < MaxTasks:
                    {
                        int tid = api.CloneThread(t.Pid);
                        Assert.True(tid > 0, $"clone returned {tid}");
                        tasks.Add(new TaskModel(tid, t.Parent, t.Space, false)
                        {
                            Dispositions = new Dictionary<int, SignalDisposition>(t.Dispositions),
                            Blocked = [.. t.Blocked],
                        });
                        break;
                    }
                    case K.Exec when t is not null:
                    {
                        long r = api.Execve(t.Pid, cpu);
                        if (r == -Errno.ENOMEM) break;
                        Assert.Equal(0, r);
                        t.Space = new SpaceModel();
                        foreach (var s in t.Dispositions.Keys.ToList())
                            if (t.Dispositions[s] == SignalDisposition.Handler) t.Dispositions[s] = SignalDisposition.Default;
                        break;
                    }
                    case K.Exit when t is not null:
                        exitedBy = t.Alive ? t.Pid : 0;
                        exitCode = op.B;
                        api.Exit(t.Pid, cpu, op.B);
                        break;
                    case K.Wait when t is not null:
                    {
                        var child = tasks[op.B % tasks.Count];
                        long r = api.Wait(t.Pid, child.Pid);
                        bool isChild = child.Parent == t.Pid && !child.Reaped;
                        long expected = !isChild ? -Errno.ECHILD : api.Status(child.Pid).Alive ? 0 : child.Pid;
                        Assert.Equal(expected, r);
                        if (r == child.Pid) child.Reaped = true;
                        break;
                    }
                    case K.Kill:
                    {
                        var target = tasks[op.B % tasks.Count];
                        int sender = t?.Pid ?? target.Pid;
                        int signo = Signals[op.C % Signals.Length];
                        bool wasAlive = api.Status(target.Pid).Alive;
                        var action = api.Kill(sender, cpu, target.Pid, signo);
                        var expected = !wasAlive ? SignalAction.None
                            : signo == Signal.SIGKILL ? SignalAction.Terminate
                            : target.Blocked.Contains(signo) ? SignalAction.None
                            : target.Dispositions.GetValueOrDefault(signo) switch
                            {
                                SignalDisposition.Ignore => SignalAction.None,
                                SignalDisposition.Handler => SignalAction.RunHandler,
                                _ => FakeSignals.DefaultAction(signo),
                            };
                        Assert.Equal(expected, action);
                        var st = api.Status(target.Pid);
                        if (expected is SignalAction.Terminate or SignalAction.TerminateWithCore)
                        {
                            Assert.False(st.Alive);
                            Assert.Equal(signo, st.TerminatingSignal);
                        }
                        else Assert.Equal(wasAlive, st.Alive);
                        if (action == SignalAction.RunHandler)
                        {
                            api.BeginSignalHandler(target.Pid, signo);
                            api.EndSignalHandler(target.Pid, signo);
                        }
                        break;
                    }
                    case K.Disposition when t is not null:
                    {
                        int signo = Signals[op.C % Signals.Length];
                        if (signo == Signal.SIGKILL) break; // sigaction(SIGKILL) is -EINVAL
                        var d = (SignalDisposition)(op.B % 3);
                        api.SetSignalDisposition(t.Pid, signo, d);
                        t.Dispositions[signo] = d;
                        break;
                    }
                    case K.Block when t is not null:
                    {
                        int signo = Signals[op.C % Signals.Length];
                        if (signo == Signal.SIGKILL) break;
                        bool block = (op.B & 1) == 0;
                        api.SetSignalBlocked(t.Pid, signo, block);
                        if (block) t.Blocked.Add(signo);
                        else t.Blocked.Remove(signo);
                        break;
                    }
                    case K.Mmap when t is not null:
                        DoMmap(api, t, op, cpu, fixedAt: null);
                        break;
                    case K.MmapFixed when t is not null:
                    {
                        // Over an existing region (it replaces the pages there) or into the fixed area.
                        var sp = t.Space!;
                        ulong at = sp.Regions.Count > 0 && (op.B & 1) == 0
                            ? sp.Regions[op.B / 2 % sp.Regions.Count].Start + (ulong)(op.C % 4) * Page
                            : FixedBase + (ulong)(op.C % 32) * Page;
                        DoMmap(api, t, op, cpu, fixedAt: at);
                        break;
                    }
                    case K.Munmap when t is not null && t.Space!.Regions.Count > 0:
                    {
                        var (start, n) = PickRange(t.Space, op);
                        Assert.Equal(0, api.Munmap(t.Pid, cpu, start, n * Page));
                        for (ulong i = 0; i < n; i++) t.Space.Pages.Remove(start + i * Page);
                        break;
                    }
                    case K.Mprotect or K.PkeyMprotect when t is not null && t.Space!.Regions.Count > 0:
                    {
                        var (start, n) = PickRange(t.Space, op);
                        var prot = Prots[op.D % Prots.Length];
                        int? key = op.Kind == K.PkeyMprotect ? 1 + op.C % 3 : null;
                        bool whole = Enumerable.Range(0, (int)n).All(i => t.Space.Pages.ContainsKey(start + (ulong)i * Page));
                        long r = key is null ? api.Mprotect(t.Pid, cpu, start, n * Page, prot) : api.PkeyMprotect(t.Pid, cpu, start, n * Page, prot, key.Value);
                        Assert.Equal(whole ? 0 : -Errno.ENOMEM, r);
                        // As Linux: the pages from the start up to the first hole change, the rest do not.
                        for (ulong i = 0; i < n && t.Space.Pages.ContainsKey(start + i * Page); i++)
                        {
                            ulong a = start + i * Page;
                            t.Space.Pages[a] = t.Space.Pages[a] with { Prot = prot, Key = key ?? t.Space.Pages[a].Key };
                        }
                        break;
                    }
                    case K.SetPkru when t is not null:
                    {
                        // Two bits per key (access-disable, write-disable) for keys 1 to 3.
                        uint pkru = (uint)(op.V & 0xfc);
                        api.SetPkru(t.Pid, pkru);
                        t.Pkru = pkru;
                        break;
                    }
                    case K.Madvise when t is not null && t.Space!.Regions.Count > 0:
                    {
                        var (start, n) = PickRange(t.Space, op);
                        bool whole = Enumerable.Range(0, (int)n).All(i => t.Space.Pages.ContainsKey(start + (ulong)i * Page));
                        long r = api.MadviseDontNeed(t.Pid, cpu, start, n * Page);
                        Assert.Equal(whole ? 0 : -Errno.ENOMEM, r);
                        for (ulong i = 0; i < n; i++)
                        {
                            if (!t.Space.Pages.TryGetValue(start + i * Page, out var pm)) continue;
                            // Private pages are dropped (zeros, or the file again); shared ones keep their contents.
                            if (pm.Kind == PageKind.AnonPrivate) t.Space.Pages[start + i * Page] = pm with { Cell = new Cell() };
                            else if (pm.Kind == PageKind.FilePrivate) t.Space.Pages[start + i * Page] = pm with { Cell = new Cell { Fill = 0x5a } };
                        }
                        break;
                    }
                    case K.MadviseKernel when t is not null:
                    {
                        // madvise on a kernel address (a kmalloc block, or anywhere in the kernel half) touches nothing.
                        ulong a = blocks.Count > 0 ? blocks[op.B % blocks.Count].Address & ~(Page - 1) : m.Kernel.Geometry.KernelBase + (ulong)op.C * Page;
                        long r = api.MadviseDontNeed(t.Pid, cpu, a, (ulong)(1 + op.D % 4) * Page);
                        Assert.True(r is -Errno.ENOMEM or -Errno.EINVAL, $"madvise of kernel address 0x{a:x} returned {r}");
                        Assert.True(api.Munmap(t.Pid, cpu, a, Page) < 0);
                        Assert.True(api.Mprotect(t.Pid, cpu, a, Page, Protection.ReadWrite) < 0);
                        if (tally is not null) tally.KernelMadvise++;
                        break;
                    }
                    case K.Brk when t is not null:
                        DoBrk(api, t, op, cpu);
                        break;
                    case K.Read or K.Write or K.GetUser or K.PutUser when t is not null && t.Space!.Regions.Count > 0:
                        UserAccess(api, m, t, op, cpu, eventsBefore, tally);
                        break;
                    case K.UserOnKernel when t is not null:
                    {
                        // A user access to a kernel address (a kmalloc block when there is one): SIGSEGV, never the block.
                        ulong a = blocks.Count > 0 ? blocks[op.B % blocks.Count].Address : m.Kernel.Geometry.KernelBase + (ulong)op.C * 8;
                        bool write = (op.V & 1) != 0;
                        var r = api.Access(t.Pid, cpu, a, write ? AccessKind.Write : AccessKind.Read, 8, op.V);
                        Assert.NotEqual(AccessStatus.Ok, r.Status);
                        Assert.NotEqual(0, api.PutUser(t.Pid, cpu, a, 8, op.V));
                        break;
                    }
                    case K.Kmalloc or K.Vmalloc:
                    {
                        bool v = op.Kind == K.Vmalloc;
                        ulong size = v ? (ulong)(1 + op.B % 3) * Page : KmallocSizes[op.B % KmallocSizes.Length];
                        long a = v ? api.Vmalloc(cpu, size) : api.Kmalloc(cpu, size);
                        if (a != 0) blocks.Add(new Block((ulong)a, size, v, []));
                        break;
                    }
                    case K.Kfree:
                    {
                        var kb = blocks.Where(b => !b.Vmalloc).ToList();
                        if (kb.Count == 0)
                        {
                            api.Kfree(0);
                            break;
                        }
                        var b = kb[op.B % kb.Count];
                        api.Kfree(b.Address);
                        blocks.Remove(b);
                        break;
                    }
                    case K.KernelThread:
                        if (Live() < MaxTasks) tasks.Add(new TaskModel(api.SpawnKernelThread(), 0, null, true));
                        break;
                    case K.KernelAccess when blocks.Count > 0:
                    {
                        // From a kernel thread or a user task's system call; inside a live block, at any offset, any size.
                        var onBehalf = tasks.Where(x => x.Alive).ToList();
                        if (onBehalf.Count == 0) break;
                        var who = onBehalf[op.A % onBehalf.Count];
                        var b = blocks[op.B % blocks.Count];
                        int size = 1 + op.D % 8;
                        ulong off = (ulong)op.C % (b.Size - (ulong)size + 1);
                        bool write = (op.V & 1) != 0;
                        var r = api.KernelAccess(who.Pid, cpu, b.Address + off, write ? AccessKind.Write : AccessKind.Read, size, op.V);
                        Assert.Equal(AccessStatus.Ok, r.Status);
                        if (write)
                            for (int i = 0; i < size; i++) b.Bytes[off + (ulong)i] = (byte)(op.V >> (8 * i));
                        else if (Enumerable.Range(0, size).All(i => b.Bytes.ContainsKey(off + (ulong)i)))
                        {
                            ulong expected = 0;
                            for (int i = 0; i < size; i++) expected |= (ulong)b.Bytes[off + (ulong)i] << (8 * i);
                            Assert.Equal(expected, r.Value);
                            if (tally is not null) tally.ValuesChecked++;
                        }
                        break;
                    }
                    case K.KernelOnUser when t is not null && t.Space!.Regions.Count > 0:
                    {
                        // A kernel access to a user address outside a uaccess window: SMAP makes it an oops, which kills the task.
                        var (start, _) = PickRange(t.Space, op);
                        var r = api.KernelAccess(t.Pid, cpu, start, AccessKind.Read, 8, 0);
                        Assert.NotEqual(AccessStatus.Ok, r.Status);
                        break;
                    }
                    case K.Open when t is not null:
                    {
                        string target = (op.B % 4) switch { 0 => "zero", 1 => "null", 2 => "priv", _ => "nothing" };
                        long fd = api.Open(t.Pid, target);
                        if (target == "nothing") Assert.Equal(-Errno.ENOENT, fd);
                        else t.Fds[(int)fd] = new FdModel(target, null);
                        break;
                    }
                    case K.Pipe when t is not null:
                    {
                        var (rfd, wfd) = api.Pipe(t.Pid);
                        var pipe = new PipeModel();
                        t.Fds[rfd] = new FdModel("pipe-read", pipe);
                        t.Fds[wfd] = new FdModel("pipe-write", pipe);
                        break;
                    }
                    case K.SysRead or K.SysWrite when t is not null && t.Space!.Regions.Count > 0:
                        SysReadWrite(api, t, op, cpu, eventsBefore, events);
                        break;
                    case K.TrackDirty when t is not null && t.Space!.Regions.Count > 0:
                    {
                        var (start, n) = PickRange(t.Space, op);
                        long r = api.TrackDirty(t.Pid, cpu, start, n * Page);
                        Assert.True(r <= 0, $"track-dirty returned {r}");
                        break;
                    }
                    case K.CollectDirty when t is not null:
                    {
                        var pages = api.CollectDirty(t.Pid, cpu);
                        Assert.True(pages.SequenceEqual(pages.Distinct().Order()), "dirty pages out of order or repeated");
                        Assert.All(pages, p => Assert.Equal(0UL, p & (Page - 1)));
                        break;
                    }
                }
            }

            // Every death has its reason, recorded by the kernel during this step.
            Assert.Equal(0, events.Dropped);
            var fresh = events.Skip(eventsBefore).ToList();
            foreach (var pid in alive)
            {
                var st = api.Status(pid);
                var tm = tasks.First(x => x.Pid == pid);
                if (st.Alive) continue;
                tm.Alive = false;
                var mine = fresh.Where(e => e.Pid == pid).ToList();
                if (pid == exitedBy && st.TerminatingSignal == 0)
                {
                    Assert.Equal(exitCode, st.ExitCode);
                    if (tally is not null) tally.Exits++;
                    continue;
                }
                Assert.True(st.TerminatingSignal != 0, $"pid {pid} died with no exit call and no terminating signal during {op}");
                bool oom = mine.Any(e => e.Kind == "oom-kill");
                bool oops = mine.Any(e => e.Kind == "oops");
                bool signalled = mine.Any(e => e.Kind == "signal" && e.Message.StartsWith(Signal.Name(st.TerminatingSignal) + " ", StringComparison.Ordinal));
                Assert.True(signalled || (st.TerminatingSignal == Signal.SIGKILL && (oom || oops)),
                    $"pid {pid} died of signal {st.TerminatingSignal} during {op} with no matching event: [{string.Join("; ", mine.Select(e => $"{e.Kind}: {e.Message}"))}]");
                if (tally is not null)
                {
                    if (oom) tally.OomKills++;
                    else if (oops) tally.Oopses++;
                    else tally.SignalDeaths++;
                }
            }
            // Nothing comes back to life.
            foreach (var tm in tasks.Where(x => !x.Alive)) Assert.False(api.Status(tm.Pid).Alive);
        }

        foreach (var t in tasks) api.Exit(t.Pid, 0, 0);
        foreach (var b in blocks.Where(b => !b.Vmalloc)) api.Kfree(b.Address);
        m.Invariants!.Check();
        if (tally is not null)
        {
            tally.Programs++;
            tally.SwapOuts += m.Metrics.Snapshot().GetValueOrDefault(MetricNames.SwapOuts);
        }
        return m;

        // ---- steps ----------------------------------------------------------------------------------------------

        void DoMmap(IKernelApi api, TaskModel t, Op op, int cpu, ulong? fixedAt)
        {
            var sp = t.Space!;
            int pages = 1 + op.B % 12;
            var prot = Prots[op.D % Prots.Length];
            var kind = (PageKind)(op.C % 4);
            bool populate = (op.V & 0x10) == 0;
            var flags = kind switch
            {
                PageKind.AnonPrivate => MapFlags.Private | MapFlags.Anonymous,
                PageKind.AnonShared => MapFlags.Shared | MapFlags.Anonymous,
                PageKind.FilePrivate => MapFlags.Private,
                _ => MapFlags.Shared,
            };
            if (populate) flags |= MapFlags.Populate;
            if (fixedAt is not null) flags |= MapFlags.Fixed;
            string? file = kind switch { PageKind.FilePrivate => "priv", PageKind.FileShared => "shared", _ => null };
            ulong offset = file is null ? 0 : (ulong)(op.A % 8) * Page;
            long r = api.Mmap(t.Pid, cpu, fixedAt ?? 0, (ulong)pages * Page, prot, flags, file, offset);
            Assert.True(r > 0, $"mmap returned {r}");
            if (fixedAt is not null) Assert.Equal((long)fixedAt.Value, r);
            // A fixed mapping replaces whatever was there; the region list keeps every range ever mapped.
            sp.Regions.Add(((ulong)r, pages));
            var shared = kind == PageKind.AnonShared ? Enumerable.Range(0, pages).Select(_ => new Cell()).ToArray() : null;
            for (int i = 0; i < pages; i++)
            {
                var cell = kind switch
                {
                    PageKind.AnonPrivate => new Cell(),
                    PageKind.AnonShared => shared![i],
                    PageKind.FilePrivate => new Cell { Fill = 0x5a },
                    // The shared file's page cache is written by every mapper: the model does not follow it.
                    _ => new Cell { Fill = 0xa5, Known = false },
                };
                sp.Pages[(ulong)r + (ulong)i * Page] = new PageModel(prot, 0, kind, cell);
            }
        }

        void DoBrk(IKernelApi api, TaskModel t, Op op, int cpu)
        {
            var sp = t.Space!;
            long cur = api.Brk(t.Pid, cpu, 0);
            Assert.Equal((long)sp.Brk, cur);
            long delta = (op.C % 9 - 3) * (long)Page + op.D; // shrink a little, or grow up to 5 pages, unaligned
            ulong target = (ulong)Math.Max((long)ProcessTable.BrkBase, cur + delta);
            ulong oldEnd = (sp.Brk + Page - 1) & ~(Page - 1), newEnd = (target + Page - 1) & ~(Page - 1);
            bool blocked = newEnd > oldEnd && Enumerable.Range(0, (int)((newEnd - oldEnd) / Page)).Any(i => sp.Pages.ContainsKey(oldEnd + (ulong)i * Page));
            long r = api.Brk(t.Pid, cpu, target);
            if (blocked)
            {
                Assert.Equal(cur, r);
                return;
            }
            Assert.Equal((long)target, r);
            if (newEnd > oldEnd)
            {
                // The heap VMA grows with its last page's protection and key; a new heap is read-write.
                var last = oldEnd > ProcessTable.BrkBase && sp.Pages.TryGetValue(oldEnd - Page, out var lp) && lp.Kind == PageKind.AnonPrivate ? lp : null;
                for (ulong a = oldEnd; a < newEnd; a += Page)
                    sp.Pages[a] = new PageModel(last?.Prot ?? Protection.ReadWrite, last?.Key ?? 0, PageKind.AnonPrivate, new Cell());
                sp.Regions.Add((oldEnd, (int)((newEnd - oldEnd) / Page)));
            }
            else
                for (ulong a = newEnd; a < oldEnd; a += Page) sp.Pages.Remove(a);
            sp.Brk = target;
        }

        void UserAccess(IKernelApi api, Machine m, TaskModel t, Op op, int cpu, int eventsBefore, Tally? tally)
        {
            var sp = t.Space!;
            var region = sp.Regions[op.B % sp.Regions.Count];
            int size = 1 + op.D % 8;
            // One access in four ends within 7 bytes of a page's end, so that sizes above 1 straddle two pages.
            ulong a = (op.C & 3) == 0
                ? region.Start + (ulong)(op.C >> 2) % (ulong)region.Pages * Page + Page - 1 - (ulong)(op.V >> 8) % 7
                : region.Start + (ulong)op.C % ((ulong)region.Pages * Page);
            bool write = op.Kind is K.Write or K.PutUser;
            bool uaccess = op.Kind is K.GetUser or K.PutUser;
            var pagesTouched = new[] { a & ~(Page - 1), (a + (ulong)size - 1) & ~(Page - 1) }.Distinct().ToArray();
            if (pagesTouched.Length > 1 && tally is not null) tally.Straddles++;
            var need = write ? Protection.Write : Protection.Read;
            // null: the model cannot tell (a protection key the task's PKRU restricts).
            bool? Allowed(ulong page)
            {
                if (!sp.Pages.TryGetValue(page, out var pm) || (Effective(pm.Prot) & need) == 0) return false;
                if (pm.Key != 0 && (t.Pkru >> (2 * pm.Key) & 3) != 0) return null;
                return true;
            }
            var verdicts = pagesTouched.Select(Allowed).ToArray();
            bool? allowed = verdicts.All(v => v == true) ? true : verdicts.Any(v => v == false) ? false : null;
            // A refused user access kills the task: one in eight is made, so that programs live long enough to fill memory.
            if (allowed != true && !uaccess && (op.V & 0xe0) != 0) return;

            bool ok;
            ulong value = 0;
            if (uaccess)
            {
                long r = write ? api.PutUser(t.Pid, cpu, a, size, op.V) : api.GetUser(t.Pid, cpu, a, size, out value);
                ok = r == 0;
                if (!ok) Assert.Equal(-Errno.EFAULT, r);
            }
            else
            {
                var r = api.Access(t.Pid, cpu, a, write ? AccessKind.Write : AccessKind.Read, size, op.V);
                ok = r.Status == AccessStatus.Ok;
                value = r.Value;
            }
            var fresh = m.Kernel.Events.Skip(eventsBefore).ToList();
            bool oomHere = fresh.Any(e => e.Kind == "oom-kill");
            if (allowed == false) Assert.False(ok, $"{op}: access to a page the model says is refused succeeded");
            if (allowed == true && !ok)
                Assert.True(oomHere, $"{op}: allowed access at 0x{a:x} failed without an OOM kill");
            if (!ok)
            {
                // A partial write may have reached the first page: the model no longer knows these pages.
                if (write)
                    foreach (var pg in pagesTouched)
                        if (sp.Pages.TryGetValue(pg, out var pm)) pm.Cell.Known = false;
                return;
            }
            ulong expected = 0;
            bool known = true;
            for (int i = 0; i < size; i++)
            {
                ulong b = a + (ulong)i;
                var pm = sp.Pages[b & ~(Page - 1)];
                int off = (int)(b & (Page - 1));
                if (write) pm.Cell.Bytes[off] = (byte)(op.V >> (8 * i));
                else
                {
                    known &= pm.Cell.Known;
                    expected |= (ulong)pm.Cell.Get(off) << (8 * i);
                }
            }
            if (!write && known)
            {
                Assert.True(expected == value, $"{op}: read 0x{value:x} at 0x{a:x} ({size} bytes), the model predicts 0x{expected:x}");
                if (tally is not null) tally.ValuesChecked++;
            }
        }

        void SysReadWrite(IKernelApi api, TaskModel t, Op op, int cpu, int eventsBefore, KernelEvents events)
        {
            var sp = t.Space!;
            var region = sp.Regions[op.B % sp.Regions.Count];
            ulong buffer = region.Start + (ulong)op.C % ((ulong)region.Pages * Page);
            ulong count = 1 + op.V % (2 * Page);
            bool read = op.Kind == K.SysRead;
            // A descriptor the task has (any kind), or one it does not.
            var fds = t.Fds.Keys.Order().ToList();
            int fd = fds.Count > 0 && op.D % 5 != 0 ? fds[op.D % fds.Count] : 40 + op.D;
            var f = t.Fds.GetValueOrDefault(fd);
            long r = read ? api.Read(t.Pid, cpu, fd, buffer, count) : api.Write(t.Pid, cpu, fd, buffer, count);
            bool wrongEnd = f is null || (read ? f.Kind == "pipe-write" : f.Kind == "pipe-read");
            if (wrongEnd)
            {
                Assert.Equal(-Errno.EBADF, r);
                return;
            }
            // The bytes the copy can move: up to the first page the model says the uaccess cannot reach.
            var need = read ? Protection.Write : Protection.Read;
            ulong reachable = 0;
            bool exact = true;
            for (ulong pg = buffer & ~(Page - 1); pg < buffer + count; pg += Page)
            {
                if (!sp.Pages.TryGetValue(pg, out var pm) || (Effective(pm.Prot) & need) == 0) break;
                if (pm.Key != 0 && (t.Pkru >> (2 * pm.Key) & 3) != 0) exact = false;
                reachable = Math.Min(count, pg + Page - buffer);
            }
            bool oom = events.Skip(eventsBefore).Any(e => e.Kind == "oom-kill");
            if (f!.Kind is "pipe-read" or "pipe-write")
            {
                PipeReadWrite(sp, f.Pipe!, read, buffer, count, r, exact && !oom ? reachable : null, op);
                return;
            }
            ulong want = f.Kind switch
            {
                "zero" or "null" when !read => count, // write_null (and write_zero) never read the buffer
                "zero" => count,
                "null" => 0,
                _ => read ? Math.Min(count, 24 * Page) : count, // the offset is not modelled beyond the first read
            };
            if (f.Kind == "priv" && read)
            {
                // Reads of the file move its offset: the model does not follow it; it only checks the bound.
                Assert.True(r is >= 0 || r == -Errno.EFAULT, $"read returned {r}");
                if (r > 0) MarkUnknown(sp, buffer, (ulong)r);
                return;
            }
            if (want == 0 || (!read && f.Kind is "zero" or "null"))
            {
                Assert.Equal((long)want, r);
                return;
            }
            ulong moved = r == -Errno.EFAULT ? 0 : (ulong)r;
            Assert.True(r >= 0 || r == -Errno.EFAULT, $"{op} returned {r}");
            if (exact && !oom) Assert.Equal(Math.Min(want, reachable), moved);
            else Assert.True(moved <= want);
            if (read)
            {
                var pm0 = sp.Pages;
                for (ulong i = 0; i < moved; i++)
                    pm0[(buffer + i) & ~(Page - 1)].Cell.Bytes[(int)((buffer + i) & (Page - 1))] = 0;
            }
        }

        // pipe_write and pipe_read: whole chunks or nothing. `reachable` is how far from the buffer's start the copy
        // gets (null when the model cannot tell: then the call's answer says it, and must be one the rules allow).
        void PipeReadWrite(SpaceModel sp, PipeModel pipe, bool read, ulong buffer, ulong count, long r, ulong? reachable, Op op)
        {
            ulong reach = reachable ?? (r > 0 ? (ulong)r : 0);
            long expected = 0;
            ulong pos = 0;
            // An empty pipe whose write end a live task still holds would block: -EAGAIN, as with O_NONBLOCK.
            if (read && pipe.Buffers.Count == 0 && tasks.Any(x => x.Alive && x.Fds.Values.Any(f => f.Kind == "pipe-write" && ReferenceEquals(f.Pipe, pipe))))
                expected = -Errno.EAGAIN;
            else if (read)
            {
                while (pos < count && pipe.Buffers.Count > 0)
                {
                    var (offset, data) = pipe.Buffers[0];
                    int chars = (int)Math.Min((ulong)data.Count, count - pos);
                    if (reach < pos + (ulong)chars)
                    {
                        // The copy wrote what it reached of this buffer, which stays queued.
                        MarkUnknown(sp, buffer + pos, reach > pos ? reach - pos : 0);
                        if (expected == 0) expected = -Errno.EFAULT;
                        break;
                    }
                    for (int i = 0; i < chars; i++)
                    {
                        ulong a = buffer + pos + (ulong)i;
                        var pm = sp.Pages[a & ~(Page - 1)];
                        if (data[i] is { } b) pm.Cell.Bytes[(int)(a & (Page - 1))] = b;
                        else pm.Cell.Known = false;
                    }
                    data.RemoveRange(0, chars);
                    if (data.Count == 0) pipe.Buffers.RemoveAt(0);
                    else pipe.Buffers[0] = (offset + chars, data);
                    expected += chars;
                    pos += (ulong)chars;
                }
            }
            else
            {
                List<byte?> Bytes(ulong from, int n)
                {
                    var list = new List<byte?>(n);
                    for (ulong a = buffer + from; a < buffer + from + (ulong)n; a++)
                    {
                        var pm = sp.Pages[a & ~(Page - 1)];
                        list.Add(pm.Cell.Known ? pm.Cell.Get((int)(a & (Page - 1))) : null);
                    }
                    return list;
                }
                int chars = (int)(count % Page);
                if (chars != 0 && pipe.Buffers.Count > 0 && pipe.Buffers[^1].Offset + pipe.Buffers[^1].Data.Count + chars <= (int)Page)
                {
                    if (reach < (ulong)chars) expected = -Errno.EFAULT;
                    else
                    {
                        pipe.Buffers[^1].Data.AddRange(Bytes(0, chars));
                        expected = chars;
                        pos = (ulong)chars;
                    }
                }
                while (expected >= 0 && pos < count)
                {
                    if (pipe.Buffers.Count >= PipeBuffer.MaxBuffers)
                    {
                        if (expected == 0) expected = -Errno.EAGAIN;
                        break;
                    }
                    int n = (int)Math.Min(count - pos, Page);
                    if (reach < pos + (ulong)n)
                    {
                        if (expected == 0) expected = -Errno.EFAULT;
                        break;
                    }
                    pipe.Buffers.Add((0, Bytes(pos, n)));
                    expected += n;
                    pos += (ulong)n;
                }
            }
            Assert.True(expected == r, $"{op}: {(read ? "read" : "write")} of a pipe returned {r}, the model of fs/pipe.c predicts {expected}");
        }
    }

    /// <summary>What a protection lets through on x86: write implies read.</summary>
    private static Protection Effective(Protection p) => (p & Protection.Write) != 0 ? p | Protection.Read : p;

    private static void MarkUnknown(SpaceModel sp, ulong start, ulong length)
    {
        for (ulong pg = start & ~(Page - 1); pg < start + length; pg += Page)
            if (sp.Pages.TryGetValue(pg, out var pm)) pm.Cell.Known = false;
    }

    /// <summary>A range of 1 to 4 pages starting in a region (it may run past the region's end).</summary>
    private static (ulong Start, ulong Pages) PickRange(SpaceModel sp, Op op)
    {
        var region = sp.Regions[op.B % sp.Regions.Count];
        ulong start = region.Start + (ulong)(op.C % region.Pages) * Page;
        return (start, (ulong)(1 + op.D % 4));
    }

    /// <summary>A call naming a task that has exited or was killed: -ESRCH, or harmless.</summary>
    private static void DeadCall(IKernelApi api, TaskModel t, Op op, int cpu, List<Block> blocks)
    {
        ulong a = t.Space?.Regions.FirstOrDefault().Start ?? AddressSpaces.MmapBase - Page;
        switch (op.Kind)
        {
            case K.Fork: Assert.Equal(-Errno.ESRCH, api.Fork(t.Pid, cpu)); break;
            case K.Thread: Assert.Equal(-Errno.ESRCH, api.CloneThread(t.Pid)); break;
            case K.Exec: Assert.Equal(-Errno.ESRCH, api.Execve(t.Pid, cpu)); break;
            case K.Mmap or K.MmapFixed:
                Assert.Equal(-Errno.ESRCH, api.Mmap(t.Pid, cpu, op.Kind == K.MmapFixed ? FixedBase : 0, Page, Protection.ReadWrite, MapFlags.Anonymous | MapFlags.Populate | (op.Kind == K.MmapFixed ? MapFlags.Fixed : 0), null, 0));
                break;
            case K.Munmap: Assert.Equal(-Errno.ESRCH, api.Munmap(t.Pid, cpu, a, Page)); break;
            case K.Mprotect: Assert.Equal(-Errno.ESRCH, api.Mprotect(t.Pid, cpu, a, Page, Protection.Read)); break;
            case K.PkeyMprotect: Assert.Equal(-Errno.ESRCH, api.PkeyMprotect(t.Pid, cpu, a, Page, Protection.Read, 1)); break;
            case K.Madvise or K.MadviseKernel:
                Assert.Equal(-Errno.ESRCH, api.MadviseDontNeed(t.Pid, cpu, blocks.Count > 0 && op.Kind == K.MadviseKernel ? blocks[0].Address & ~(Page - 1) : a, Page));
                break;
            case K.Brk: Assert.Equal(-Errno.ESRCH, api.Brk(t.Pid, cpu, ProcessTable.BrkBase + Page)); break;
            case K.TrackDirty: Assert.Equal(-Errno.ESRCH, api.TrackDirty(t.Pid, cpu, a, Page)); break;
            case K.CollectDirty: Assert.Empty(api.CollectDirty(t.Pid, cpu)); break;
            case K.Read or K.Write or K.UserOnKernel:
                Assert.Equal(AccessStatus.Terminated, api.Access(t.Pid, cpu, a, op.Kind == K.Write ? AccessKind.Write : AccessKind.Read, 1 + op.D % 8, op.V).Status);
                break;
            case K.GetUser: Assert.Equal(-Errno.EFAULT, api.GetUser(t.Pid, cpu, a, 8, out _)); break;
            case K.PutUser: Assert.Equal(-Errno.EFAULT, api.PutUser(t.Pid, cpu, a, 8, op.V)); break;
            case K.KernelOnUser: Assert.Equal(AccessStatus.Terminated, api.KernelAccess(t.Pid, cpu, a, AccessKind.Read, 8, 0).Status); break;
            case K.SysRead or K.SysWrite:
            {
                int fd = t.Fds.Keys.FirstOrDefault(3);
                long r = op.Kind == K.SysRead ? api.Read(t.Pid, cpu, fd, a, Page) : api.Write(t.Pid, cpu, fd, a, Page);
                Assert.Equal(-Errno.ESRCH, r);
                break;
            }
            case K.SetPkru: api.SetPkru(t.Pid, 0xc); break;
            case K.Open: Assert.Equal(-Errno.ESRCH, api.Open(t.Pid, "zero")); break;
            case K.Pipe: api.Pipe(t.Pid); break;
            case K.KernelAccess when blocks.Count > 0:
                Assert.Equal(AccessStatus.Terminated, api.KernelAccess(t.Pid, cpu, blocks[0].Address, AccessKind.Write, 8, op.V).Status);
                break;
        }
    }

    // ---- the properties ------------------------------------------------------------------------------------------

    /// <summary>Programs run per seed block in CI; 10 blocks of fixed seeds.</summary>
    private const int ProgramsPerBlock = 1000;

    /// <summary>
    /// Runs <see cref="ProgramsPerBlock"/> programs from fixed seeds; a failure is shrunk (ops dropped while it still
    /// fails) and reported as the program to paste into a regression test.
    /// </summary>
    private static Tally RunBlock(int block)
    {
        var tally = new Tally();
        for (int i = 0; i < ProgramsPerBlock; i++)
        {
            var program = GenProgram.Generate(new PCG((uint)block, (ulong)i * 7919 + 17), null, out _);
            try
            {
                Execute(program, tally);
            }
            catch (Exception e)
            {
                var shrunk = Shrink(program);
                throw new Xunit.Sdk.XunitException($"block {block} program {i} failed: {e.Message}\nshrunk: {shrunk}\nfails with: {Failure(shrunk)}");
            }
        }
        return tally;
    }

    private static string? Failure(Program p)
    {
        try
        {
            Execute(p);
            return null;
        }
        catch (Exception e)
        {
            return e.Message;
        }
    }

    /// <summary>Drops chunks of ops, then single ops, while the program still fails.</summary>
    private static Program Shrink(Program p)
    {
        for (int chunk = Math.Max(1, p.Ops.Length / 2); chunk >= 1; chunk /= 2)
        {
            for (int i = 0; i + chunk <= p.Ops.Length;)
            {
                var candidate = p with { Ops = [.. p.Ops[..i], .. p.Ops[(i + chunk)..]] };
                if (candidate.Ops.Length > 0 && Failure(candidate) is not null) p = candidate;
                else i += chunk;
            }
        }
        return p;
    }

    public static TheoryData<int> Blocks => new() { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9 };

    [Theory]
    [MemberData(nameof(Blocks))]
    public void TenThousandRandomProgramsKeepEveryInvariantExplainEveryDeathAndReadWhatTheModelPredicts(int block)
    {
        var tally = RunBlock(block);
        Assert.Equal(ProgramsPerBlock, tally.Programs);
    }

    [Fact]
    public void TheProgramsReachEveryPath()
    {
        // The properties are only as strong as the programs: they must kill by OOM, by signals and by oopses, swap,
        // straddle pages, name dead tasks and check values.
        var tally = RunBlock(10);
        Assert.True(tally.OomKills > 0, $"no OOM kill: {tally}");
        Assert.True(tally.SignalDeaths > 0, "no death by a signal");
        Assert.True(tally.Oopses > 0, "no oops");
        Assert.True(tally.Exits > 0, "no exit");
        Assert.True(tally.DeadCalls > 100, $"only {tally.DeadCalls} calls naming dead tasks");
        Assert.True(tally.SwapOuts > 0, "nothing was swapped out");
        Assert.True(tally.Straddles > 100, $"only {tally.Straddles} page-straddling accesses");
        Assert.True(tally.ValuesChecked > 1000, $"only {tally.ValuesChecked} values checked: {tally}");
        Assert.True(tally.KernelMadvise > 0, "no madvise on a kernel address");
    }
}

/// <summary>The failures the generative test found, shrunk to the calls that matter, each kept as a named regression test.</summary>
public sealed class KernelProgramRegressionTests
{
    private const ulong Page = 4096;

    [Fact]
    public void ExecLoadsTheNewAddressSpaceOnTheCpuThatRanTheTask()
    {
        // Shrunk: mmap, write, exec, mmap, read. The CPU that ran the task kept the old, released root and tag after
        // exec, so the access to the new mapping walked a destroyed table and was refused.
        var m = TestMachine.Create(frames: 160, cpus: 2, invariants: true, fileHandler: true);
        var api = m.KernelApi;
        int pid = api.Spawn();
        long a = api.Mmap(pid, 1, 0, 4 * Page, Protection.ReadWrite, MapFlags.Private | MapFlags.Anonymous, null, 0);
        Assert.Equal(AccessStatus.Ok, api.Access(pid, 1, (ulong)a, AccessKind.Write, 8, 0x1122).Status);
        Assert.Equal(0, api.Execve(pid, 0));
        long b = api.Mmap(pid, 0, 0, 4 * Page, Protection.ReadWrite, MapFlags.Private | MapFlags.Anonymous, null, 0);
        Assert.Equal(a, b); // the same addresses again, in the new address space
        for (int cpu = 0; cpu < 2; cpu++)
        {
            var r = api.Access(pid, cpu, (ulong)b, AccessKind.Read, 8, 0);
            Assert.Equal(AccessStatus.Ok, r.Status);
            Assert.Equal(0UL, r.Value); // a fresh zero page, not the old image's data
        }
        Assert.True(api.Status(pid).Alive);
        Assert.Equal(0, api.PutUser(pid, 1, (ulong)b + 8, 8, 7));
    }

    [Fact]
    public void ExecByAThreadLeavesTheSharedAddressSpaceReclaimable()
    {
        // Shrunk: thread, put_user by the thread, exec by the thread, then memory pressure. The reverse map named the
        // thread for pages of the address space it shared; after its exec they resolved to its new address space, so
        // reclaim unmapped the wrong table (a page-table frame ended up "mapped", a page-cache frame freed).
        var m = TestMachine.Create(frames: 40, cpus: 2, invariants: true, fileHandler: true, replacement: new FifoTestPolicy(), swapSlots: 64);
        var api = m.KernelApi;
        int pid = api.Spawn();
        long a = api.Mmap(pid, 0, 0, 8 * Page, Protection.ReadWrite, MapFlags.Private | MapFlags.Anonymous, null, 0);
        int tid = api.CloneThread(pid);
        for (ulong i = 0; i < 8; i++) Assert.Equal(0, api.PutUser(tid, 0, (ulong)a + i * Page, 8, 0x100 + i));
        Assert.Equal(0, api.Execve(tid, 1));
        // Pressure from the thread's new image pushes the shared pages out to swap and back.
        long b = api.Mmap(tid, 1, 0, 24 * Page, Protection.ReadWrite, MapFlags.Private | MapFlags.Anonymous | MapFlags.Populate, null, 0);
        Assert.True(b > 0);
        Assert.True(m.M(MetricNames.SwapOuts) > 0, "nothing was reclaimed");
        for (ulong i = 0; i < 8; i++)
        {
            var r = api.Access(pid, 0, (ulong)a + i * Page, AccessKind.Read, 8, 0);
            Assert.Equal(AccessStatus.Ok, r.Status);
            Assert.Equal(0x100 + i, r.Value);
        }
        api.Exit(tid, 0, 0);
        api.Exit(pid, 0, 0);
        m.Invariants!.Check();
    }

    [Fact]
    public void ReadWriteAndOpenNamingADeadTaskReturnEsrch()
    {
        // Shrunk: exit, read. read(2) on an exited task's descriptor returned -EBADF (or 0) and copied through its
        // released address space.
        var (m, api, pid) = TestMachine.WithProcess();
        long a = api.Mmap(pid, 0, Page, Protection.ReadWrite, MapFlags.Private | MapFlags.Anonymous);
        long fd = api.Open(pid, "zero");
        api.Exit(pid, 0, 0);
        Assert.Equal(-Errno.ESRCH, api.Read(pid, 0, (int)fd, (ulong)a, 16));
        Assert.Equal(-Errno.ESRCH, api.Write(pid, 0, (int)fd, (ulong)a, 16));
        Assert.Equal(-Errno.ESRCH, api.Open(pid, "zero"));
        m.Invariants!.Check();
    }
}
