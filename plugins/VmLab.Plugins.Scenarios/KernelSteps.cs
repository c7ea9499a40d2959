using VmLab.Abstractions;
using VmLab.Abstractions.Plugins;
using VmLab.Abstractions.Workloads;

namespace VmLab.Plugins.Scenarios;

public sealed record KthreadStep(int Line, string Name, int Cpu) : Step(Line)
{
    public override void Execute(ScenarioRun run) => run.Define(Name, run.Api.SpawnKernelThread(), run.CheckCpu(Cpu, Line));
}

/// <summary>kmalloc or vmalloc on behalf of a task; the region is the returned kernel address (none when NULL).</summary>
public sealed record KernelAllocStep(int Line, string Process, string Region, ulong Length, bool Vmalloc) : Step(Line)
{
    public override void Execute(ScenarioRun run)
    {
        var p = run.Actor(Process);
        long r = Vmalloc ? run.Api.Vmalloc(p.Cpu, Length) : run.Api.Kmalloc(p.Cpu, Length);
        p.LastReturn = r;
        if (!Vmalloc) run.Kmalloced[Region] = (ulong)r;
        if (r != 0) run.Regions[Region] = ((ulong)r, Length);
        else run.Event(Line, $"{(Vmalloc ? "vmalloc" : "kmalloc")} of region {Region} returned NULL");
    }
}

/// <summary>kfree of a kmalloc region: the block goes back to the buddy allocator. A region whose kmalloc returned NULL is kfree(NULL): nothing.</summary>
public sealed record KfreeStep(int Line, string Process, string Region) : Step(Line)
{
    public override void Execute(ScenarioRun run)
    {
        run.Actor(Process);
        if (!run.Kmalloced.TryGetValue(Region, out ulong address))
            throw new VmLabInputException($"{run.File}:{Line}", $"region '{Region}' was freed already (a double kfree) or its kmalloc has not run");
        run.Kmalloced.Remove(Region);
        run.Api.Kfree(address);
    }
}

/// <summary>A kernel-mode access outside any uaccess window (kread/kwrite/kfetch).</summary>
public sealed record KernelAccessStep(int Line, string Process, AccessKind Kind, AddressExpr Address, int Size, ulong Value) : Step(Line)
{
    public override void Execute(ScenarioRun run)
    {
        var p = run.Actor(Process);
        var r = run.Api.KernelAccess(p.Pid, p.Cpu, run.Resolve(Address, Line), Kind, Size, Value);
        if (r.Status == AccessStatus.Ok && Kind != AccessKind.Write) p.LastValue = r.Value;
    }
}

/// <summary>get_user / put_user: the uaccess primitives (0 or -EFAULT, never a signal).</summary>
public sealed record UserCopyStep(int Line, string Process, bool Put, AddressExpr Address, int Size, ulong Value) : Step(Line)
{
    public override void Execute(ScenarioRun run)
    {
        var p = run.Actor(Process);
        ulong a = run.Resolve(Address, Line);
        if (Put)
        {
            p.LastReturn = run.Api.PutUser(p.Pid, p.Cpu, a, Size, Value);
        }
        else
        {
            p.LastReturn = run.Api.GetUser(p.Pid, p.Cpu, a, Size, out ulong v);
            p.LastValue = v;
        }
    }
}

public sealed record OpenStep(int Line, string Process, string Fd, string Target) : Step(Line)
{
    public override void Execute(ScenarioRun run)
    {
        var p = run.Actor(Process);
        long fd = run.Api.Open(p.Pid, Target);
        p.LastReturn = fd;
        if (fd >= 0) p.Fds[Fd] = (int)fd;
    }
}

public sealed record PipeStep(int Line, string Process, string ReadFd, string WriteFd) : Step(Line)
{
    public override void Execute(ScenarioRun run)
    {
        var p = run.Actor(Process);
        var (r, w) = run.Api.Pipe(p.Pid);
        p.Fds[ReadFd] = r;
        p.Fds[WriteFd] = w;
        p.LastReturn = 0;
    }
}

/// <summary>read(2) / write(2) on a named descriptor, or pread(2) / pwrite(2) at <see cref="Offset"/>: the kernel copies to or from the user buffer.</summary>
public sealed record SyscallStep(int Line, string Process, bool Write, string Fd, AddressExpr Buffer, ulong Count) : Step(Line)
{
    public ulong? Offset { get; init; }

    public override void Execute(ScenarioRun run)
    {
        var p = run.Actor(Process);
        int fd = Descriptor(run, p, Process, Fd, Line);
        ulong buffer = run.Resolve(Buffer, Line);
        p.LastReturn = (Write, Offset) switch
        {
            (true, null) => run.Api.Write(p.Pid, p.Cpu, fd, buffer, Count),
            (false, null) => run.Api.Read(p.Pid, p.Cpu, fd, buffer, Count),
            (true, { } at) => run.Api.Pwrite(p.Pid, p.Cpu, fd, buffer, Count, at),
            (false, { } at) => run.Api.Pread(p.Pid, p.Cpu, fd, buffer, Count, at),
        };
        // A pipe write that would block: nothing else runs to read the pipe, so the scenario could never go on.
        if (Write && p.LastReturn == -Errno.EAGAIN)
            throw new VmLabInputException($"{run.File}:{Line}", $"the write to descriptor '{Fd}' would block: the pipe is full (64 KiB) and no other task runs to read it; read from the pipe first or write less");
    }

    /// <summary>The kernel's number of the scenario's descriptor name, or an error naming the line.</summary>
    public static int Descriptor(ScenarioRun run, TaskState p, string process, string name, int line) =>
        p.Fds.TryGetValue(name, out int fd)
            ? fd
            : throw new VmLabInputException($"{run.File}:{line}", $"process {process} has no descriptor named '{name}' (open it, pipe or memfd_create it, in this process or before a fork)");
}

public enum FdCall { Close, Lseek, Ftruncate, Fsync, Fdatasync }

/// <summary>A call on one descriptor: close, lseek (offset, whence), ftruncate (length), fsync, fdatasync; <c>ret</c> is its return.</summary>
public sealed record FdStep(int Line, string Process, FdCall Call, string Fd, long Argument, int Whence) : Step(Line)
{
    public override void Execute(ScenarioRun run)
    {
        var p = run.Actor(Process);
        int fd = SyscallStep.Descriptor(run, p, Process, Fd, Line);
        p.LastReturn = Call switch
        {
            FdCall.Close => run.Api.Close(p.Pid, fd),
            FdCall.Lseek => run.Api.Lseek(p.Pid, fd, Argument, Whence),
            FdCall.Ftruncate => run.Api.Ftruncate(p.Pid, p.Cpu, fd, Argument),
            FdCall.Fsync => run.Api.Fsync(p.Pid, p.Cpu, fd, dataOnly: false),
            _ => run.Api.Fsync(p.Pid, p.Cpu, fd, dataOnly: true),
        };
        if (Call == FdCall.Close && p.LastReturn == 0) p.Fds.Remove(Fd);
    }
}

/// <summary>msync(2) of a range with <see cref="MsyncFlags"/>.</summary>
public sealed record MsyncStep(int Line, string Process, RangeExpr Range, int Flags) : Step(Line)
{
    public override void Execute(ScenarioRun run)
    {
        var p = run.Actor(Process);
        var (start, len) = run.Resolve(Range, Line);
        p.LastReturn = run.Api.Msync(p.Pid, p.Cpu, start, len, Flags);
    }
}

/// <summary>unlink(2) of a file's name: whoever has it open or mapped keeps it.</summary>
public sealed record UnlinkStep(int Line, string Process, string Name) : Step(Line)
{
    public override void Execute(ScenarioRun run)
    {
        var p = run.Actor(Process);
        p.LastReturn = run.Api.Unlink(Name);
    }
}

/// <summary>memfd_create(2): a descriptor of a new, empty shmem file.</summary>
public sealed record MemfdStep(int Line, string Process, string Fd) : Step(Line)
{
    public override void Execute(ScenarioRun run)
    {
        var p = run.Actor(Process);
        long fd = run.Api.MemfdCreate(p.Pid, Fd);
        p.LastReturn = fd;
        if (fd >= 0) p.Fds[Fd] = (int)fd;
    }
}

public sealed record ExpectMachine(int Line, string Text, bool Panicked) : ExpectStep(Line, Text)
{
    protected override (bool, string) Check(ScenarioRun run) =>
        (run.Api.Panicked == Panicked, run.Api.Panicked ? "panicked" : "running");
}

/// <summary>Starts write-protect dirty tracking of a range (as live migration does).</summary>
public sealed record TrackStep(int Line, string Process, RangeExpr Range) : Step(Line)
{
    public override void Execute(ScenarioRun run)
    {
        var p = run.Actor(Process);
        var (start, len) = run.Resolve(Range, Line);
        p.LastReturn = run.Api.TrackDirty(p.Pid, p.Cpu, start, len);
    }
}

/// <summary>Collects the pages written since the last collection: <c>ret</c> is how many, and tracking re-arms.</summary>
public sealed record DirtyLogStep(int Line, string Process) : Step(Line)
{
    public override void Execute(ScenarioRun run)
    {
        var p = run.Actor(Process);
        var pages = run.Api.CollectDirty(p.Pid, p.Cpu);
        p.LastReturn = pages.Count;
        run.Event(Line, $"{Process} dirty pages: {string.Join(", ", pages.Select(a => $"0x{a:x}"))}");
    }
}
