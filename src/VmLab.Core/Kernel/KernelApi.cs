using VmLab.Abstractions;
using VmLab.Abstractions.Signals;
using VmLab.Abstractions.Workloads;
using VmLab.Core.Mmu;

namespace VmLab.Core.Kernel;

/// <summary>The kernel's system calls as workloads see them, over one <see cref="Machine"/>.</summary>
public sealed class KernelApi(Kernel kernel, IReadOnlyList<ICpu> cpus, MetricRegistry metrics) : IKernelApi
{
    public int CpuCount => cpus.Count;

    public int Spawn() => kernel.Spawn().Pid;

    public long Mmap(int pid, ulong address, ulong length, Protection protection, MapFlags flags, string? file = null, ulong offset = 0) =>
        kernel.Mmap(pid, address, length, protection, flags, file, offset);

    public long Munmap(int pid, ulong address, ulong length) => kernel.Munmap(pid, address, length);
    public long Mprotect(int pid, ulong address, ulong length, Protection protection) => kernel.Mprotect(pid, address, length, protection);
    public long PkeyMprotect(int pid, ulong address, ulong length, Protection protection, int key) => kernel.PkeyMprotect(pid, address, length, protection, key);
    public void SetPkru(int pid, uint pkru) => Task(pid).Pkru = pkru;
    public long Brk(int pid, ulong newBreak) => kernel.Brk(pid, newBreak);
    public long MadviseDontNeed(int pid, ulong address, ulong length) => kernel.MadviseDontNeed(pid, address, length);
    public int Fork(int pid) => kernel.Fork(pid).Pid;
    public int CloneThread(int pid) => kernel.CloneThread(pid).Pid;
    public void Exec(int pid) => kernel.Exec(pid);
    public void Exit(int pid, int code) => kernel.Exit(pid, code);
    public long Wait(int pid, int child) => kernel.Wait(pid, child);

    public void SetSignalDisposition(int pid, int signo, SignalDisposition disposition) => Task(pid).SetDisposition(signo, disposition);
    public void SetSignalBlocked(int pid, int signo, bool blocked) => Task(pid).SetBlocked(signo, blocked);
    public SignalAction Kill(int pid, int target, int signo) => kernel.Kill(pid, target, signo);
    public void BeginSignalHandler(int pid, int signo) => kernel.BeginSignalHandler(pid, signo);
    public void EndSignalHandler(int pid, int signo) => kernel.EndSignalHandler(pid, signo);

    public void CreateFile(string name, ulong size, byte fill) => kernel.CreateFile(name, size, fill);

    public ProcessStatus Status(int pid) => kernel.Status(Task(pid));

    public long Metric(string name) => metrics[name];

    /// <summary>
    /// One user access of 1 to 8 bytes, translated page by page on <paramref name="cpu"/>; values are stored
    /// little-endian in the frames, so copies made by COW carry them.
    /// </summary>
    public AccessResult Access(int pid, int cpu, ulong address, AccessKind kind, int size, ulong value)
    {
        if (size is < 1 or > 8) throw new ArgumentOutOfRangeException(nameof(size), "an access is 1 to 8 bytes");
        var p = Task(pid);
        if (!p.Alive) return new AccessResult(AccessStatus.Terminated, 0, p.LastSignal ?? default);
        var engine = cpus[cpu];
        ulong result = 0;
        int done = 0;
        while (done < size)
        {
            ulong a = address + (ulong)done;
            int chunk = (int)Math.Min((ulong)(size - done), VirtualAddress.PageSize - (a & (VirtualAddress.PageSize - 1)));
            var t = engine.Translate(p, a, kind, AccessMode.User);
            if (!t.Ok)
            {
                return p.Alive
                    ? new AccessResult(AccessStatus.Signal, 0, p.LastSignal ?? default)
                    : new AccessResult(AccessStatus.Terminated, 0, p.LastSignal ?? default);
            }
            for (int i = 0; i < chunk; i++)
            {
                int shift = 8 * (done + i);
                if (kind == AccessKind.Write) kernel.Memory.WriteByte(t.PhysicalAddress + (ulong)i, (byte)(value >> shift));
                else result |= (ulong)kernel.Memory.ReadByte(t.PhysicalAddress + (ulong)i) << shift;
            }
            done += chunk;
        }
        return new AccessResult(AccessStatus.Ok, result, default);
    }

    private Process Task(int pid) => kernel.FindProcess(pid) ?? throw new InvalidOperationException($"no process {pid}");
}
