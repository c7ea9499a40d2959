using VmLab.Abstractions;
using VmLab.Abstractions.Signals;
using VmLab.Abstractions.Workloads;

namespace VmLab.Core.Checks;

/// <summary>
/// The system calls with the invariant checker run after each one that can change memory state; each call is recorded
/// in the checker's ring of recent operations. Queries (<see cref="Status"/>, <see cref="Metric"/>) are passed through.
/// </summary>
public sealed class CheckedKernelApi(IKernelApi inner, InvariantChecker checker) : IKernelApi
{
    private const ulong PageMask = VirtualAddress.PageSize - 1;

    public int CpuCount => inner.CpuCount;

    public int Spawn()
    {
        int pid = inner.Spawn();
        checker.After("spawn", pid);
        return pid;
    }

    public long Mmap(int pid, ulong address, ulong length, Protection protection, MapFlags flags, string? file = null, ulong offset = 0)
    {
        long r = inner.Mmap(pid, address, length, protection, flags, file, offset);
        ulong start = r >= 0 ? (ulong)r : address;
        checker.After("mmap", pid, start, End(start, length), $"{protection} {flags}{(file is null ? "" : " " + file)} -> {Result(r)}");
        return r;
    }

    public long Munmap(int pid, ulong address, ulong length) =>
        Checked("munmap", pid, address, length, inner.Munmap(pid, address, length), "");

    public long Mprotect(int pid, ulong address, ulong length, Protection protection) =>
        Checked("mprotect", pid, address, length, inner.Mprotect(pid, address, length, protection), protection.ToString());

    public long PkeyMprotect(int pid, ulong address, ulong length, Protection protection, int key) =>
        Checked("pkey_mprotect", pid, address, length, inner.PkeyMprotect(pid, address, length, protection, key), $"{protection} key {key}");

    public void SetPkru(int pid, uint pkru) => inner.SetPkru(pid, pkru);

    public long Brk(int pid, ulong newBreak)
    {
        long r = inner.Brk(pid, newBreak);
        checker.After("brk", pid, 0, 0, $"0x{newBreak:x} -> {Result(r)}");
        return r;
    }

    public long MadviseDontNeed(int pid, ulong address, ulong length) =>
        Checked("madvise", pid, address, length, inner.MadviseDontNeed(pid, address, length), "DONTNEED");

    public int Fork(int pid)
    {
        int child = inner.Fork(pid);
        checker.After("fork", pid, 0, 0, child < 0 ? $"-> {Errno.Name(child)}" : $"-> child {child}");
        return child;
    }

    public int CloneThread(int pid)
    {
        int t = inner.CloneThread(pid);
        checker.After("thread", pid, 0, 0, $"-> tid {t}");
        return t;
    }

    public void Exec(int pid) => Execve(pid);

    public long Execve(int pid) => Checked("exec", pid, 0, 0, inner.Execve(pid), "");

    public void Exit(int pid, int code)
    {
        inner.Exit(pid, code);
        checker.After("exit", pid, 0, 0, $"code {code}");
    }

    public long Wait(int pid, int child) => inner.Wait(pid, child);

    public void SetSignalDisposition(int pid, int signo, SignalDisposition disposition) => inner.SetSignalDisposition(pid, signo, disposition);

    public void SetSignalBlocked(int pid, int signo, bool blocked) => inner.SetSignalBlocked(pid, signo, blocked);

    public SignalAction Kill(int pid, int target, int signo)
    {
        var action = inner.Kill(pid, target, signo);
        checker.After("kill", target, 0, 0, $"signal {signo} from pid {pid} -> {action}");
        return action;
    }

    public void BeginSignalHandler(int pid, int signo) => inner.BeginSignalHandler(pid, signo);

    public void EndSignalHandler(int pid, int signo) => inner.EndSignalHandler(pid, signo);

    public AccessResult Access(int pid, int cpu, ulong address, AccessKind kind, int size, ulong value)
    {
        var r = inner.Access(pid, cpu, address, kind, size, value);
        ulong page = address & ~PageMask;
        checker.After("access", pid, page, End(page, (address & PageMask) + (ulong)size), $"{kind} cpu {cpu} -> {r.Status}");
        return r;
    }

    public void CreateFile(string name, ulong size, byte fill)
    {
        inner.CreateFile(name, size, fill);
        checker.After("create-file", 0, 0, 0, name);
    }

    public ProcessStatus Status(int pid) => inner.Status(pid);

    public long Metric(string name) => inner.Metric(name);

    public int CreateProcess(int pid)
    {
        int r = inner.CreateProcess(pid);
        checker.After("create-process", pid);
        return r;
    }

    public ulong UserTop => inner.UserTop;

    public bool Panicked => inner.Panicked;

    public int SpawnKernelThread()
    {
        int pid = inner.SpawnKernelThread();
        checker.After("kthread", pid);
        return pid;
    }

    public long Kmalloc(ulong size) => Checked("kmalloc", 0, 0, 0, inner.Kmalloc(size), $"{size} bytes");

    public void Kfree(ulong address)
    {
        inner.Kfree(address);
        checker.After("kfree", 0, 0, 0, $"0x{address:x}");
    }

    public long Vmalloc(ulong size) => Checked("vmalloc", 0, 0, 0, inner.Vmalloc(size), $"{size} bytes");

    public AccessResult KernelAccess(int pid, int cpu, ulong address, AccessKind kind, int size, ulong value)
    {
        var r = inner.KernelAccess(pid, cpu, address, kind, size, value);
        ulong page = address & ~PageMask;
        checker.After("kernel-access", pid, page, End(page, (address & PageMask) + (ulong)size), $"{kind} cpu {cpu} -> {r.Status}");
        return r;
    }

    public long GetUser(int pid, int cpu, ulong address, int size, out ulong value)
    {
        long r = inner.GetUser(pid, cpu, address, size, out value);
        return Checked("get_user", pid, address, (ulong)size, r, "");
    }

    public long PutUser(int pid, int cpu, ulong address, int size, ulong value) =>
        Checked("put_user", pid, address, (ulong)size, inner.PutUser(pid, cpu, address, size, value), "");

    public long Open(int pid, string target) => inner.Open(pid, target);

    public (int ReadFd, int WriteFd) Pipe(int pid) => inner.Pipe(pid);

    public long Read(int pid, int cpu, int fd, ulong buffer, ulong count) =>
        Checked("read", pid, buffer, count, inner.Read(pid, cpu, fd, buffer, count), $"fd {fd}");

    public long Write(int pid, int cpu, int fd, ulong buffer, ulong count) =>
        Checked("write", pid, buffer, count, inner.Write(pid, cpu, fd, buffer, count), $"fd {fd}");

    public long TrackDirty(int pid, ulong address, ulong length) =>
        Checked("track-dirty", pid, address, length, inner.TrackDirty(pid, address, length), "");

    public IReadOnlyList<ulong> CollectDirty(int pid)
    {
        var pages = inner.CollectDirty(pid);
        checker.After("collect-dirty", pid, 0, 0, $"{pages.Count} pages");
        return pages;
    }

    private long Checked(string name, int pid, ulong address, ulong length, long result, string detail)
    {
        checker.After(name, pid, address, End(address, length), detail.Length == 0 ? $"-> {Result(result)}" : $"{detail} -> {Result(result)}");
        return result;
    }

    private static ulong End(ulong start, ulong length)
    {
        ulong end = start + ((length + PageMask) & ~PageMask);
        return end < start ? ulong.MaxValue : end;
    }

    private static string Result(long r) => r < 0 ? Errno.Name(r) : $"0x{r:x}";
}
