using VmLab.Abstractions;
using VmLab.Abstractions.Signals;
using VmLab.Abstractions.Workloads;
using VmLab.Core.Mmu;

namespace VmLab.Core.Kernel;

/// <summary>The kernel's system calls as workloads see them, over one <see cref="Machine"/>.</summary>
public sealed class KernelApi(Kernel kernel, IReadOnlyList<ICpu> cpus, MetricRegistry metrics) : IKernelApi
{
    public int CpuCount => cpus.Count;

    public int Spawn() => kernel.Spawn()?.Pid ?? -Errno.ENOMEM;

    public int CreateProcess(int pid)
    {
        if (kernel.FindProcess(pid) is not null) return -Errno.EEXIST;
        var p = kernel.CreateProcess(pid);
        if (p is null) return -Errno.ENOMEM;
        p.Mm.BrkStart = p.Mm.Brk = Kernel.BrkBase;
        return pid;
    }

    public ulong UserTop => kernel.Geometry.UserTop;

    public long Mmap(int pid, ulong address, ulong length, Protection protection, MapFlags flags, string? file = null, ulong offset = 0) =>
        kernel.Mmap(pid, address, length, protection, flags, file, offset);

    public long Munmap(int pid, ulong address, ulong length) => kernel.Munmap(pid, address, length);
    public long Mprotect(int pid, ulong address, ulong length, Protection protection) => kernel.Mprotect(pid, address, length, protection);
    public long PkeyMprotect(int pid, ulong address, ulong length, Protection protection, int key) => kernel.PkeyMprotect(pid, address, length, protection, key);
    public void SetPkru(int pid, uint pkru) => Task(pid).Pkru = pkru;
    public long Brk(int pid, ulong newBreak) => kernel.Brk(pid, newBreak);
    public long MadviseDontNeed(int pid, ulong address, ulong length) => kernel.MadviseDontNeed(pid, address, length);
    public int Fork(int pid) => kernel.Fork(pid);
    public int CloneThread(int pid) => kernel.CloneThread(pid).Pid;
    public void Exec(int pid) => kernel.Exec(pid);
    public long Execve(int pid) => kernel.Exec(pid);
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
    public AccessResult Access(int pid, int cpu, ulong address, AccessKind kind, int size, ulong value) =>
        Perform(pid, cpu, address, kind, size, value, AccessMode.User, uaccess: false, out _);

    private AccessResult Perform(int pid, int cpu, ulong address, AccessKind kind, int size, ulong value, AccessMode mode, bool uaccess, out int done)
    {
        if (size is < 1 or > 8) throw new ArgumentOutOfRangeException(nameof(size), "an access is 1 to 8 bytes");
        done = 0;
        var p = Task(pid);
        if (!p.Alive || kernel.Panicked) return new AccessResult(AccessStatus.Terminated, 0, p.LastSignal ?? default);
        if (uaccess && !AccessOk(address, (ulong)size)) return new AccessResult(AccessStatus.Signal, 0, default);
        var engine = cpus[cpu];
        ulong result = 0;
        while (done < size)
        {
            ulong a = address + (ulong)done;
            int chunk = (int)Math.Min((ulong)(size - done), VirtualAddress.PageSize - (a & (VirtualAddress.PageSize - 1)));
            var t = uaccess ? TranslateUaccess(p, cpu, a, kind) : engine.Translate(p, a, kind, mode);
            if (t.Emulated)
            {
                ulong v = kernel.EmulateDevice(p, a, kind, chunk, value >> (8 * done));
                result |= v << (8 * done);
                done += chunk;
                continue;
            }
            if (!t.Ok)
            {
                return p.Alive && !kernel.Panicked
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

    // ---- kernel mode -------------------------------------------------------------------------------------

    public bool Panicked => kernel.Panicked;

    public long TrackDirty(int pid, ulong address, ulong length) => kernel.TrackDirty(pid, address, length);

    public IReadOnlyList<ulong> CollectDirty(int pid) => kernel.CollectDirty(pid);

    public int SpawnKernelThread() => kernel.SpawnKernelThread().Pid;

    public long Kmalloc(ulong size) => (long)kernel.Kmalloc(size);

    public void Kfree(ulong address) => kernel.Kfree(address);

    public long Vmalloc(ulong size) => (long)kernel.Vmalloc(size);

    public AccessResult KernelAccess(int pid, int cpu, ulong address, AccessKind kind, int size, ulong value)
    {
        kernel.EnsureKernelHalf();
        return Perform(pid, cpu, address, kind, size, value, AccessMode.Kernel, uaccess: false, out _);
    }

    public long GetUser(int pid, int cpu, ulong address, int size, out ulong value)
    {
        var r = Perform(pid, cpu, address, AccessKind.Read, size, 0, AccessMode.Kernel, uaccess: true, out _);
        value = r.Status == AccessStatus.Ok ? r.Value : 0;
        return r.Status == AccessStatus.Ok ? 0 : -Errno.EFAULT;
    }

    public long PutUser(int pid, int cpu, ulong address, int size, ulong value)
    {
        var r = Perform(pid, cpu, address, AccessKind.Write, size, value, AccessMode.Kernel, uaccess: true, out _);
        return r.Status == AccessStatus.Ok ? 0 : -Errno.EFAULT;
    }

    public long Open(int pid, string target)
    {
        var p = Task(pid);
        OpenFile file;
        switch (target)
        {
            case "zero": file = new OpenFile(FileKind.Zero); break;
            case "null": file = new OpenFile(FileKind.Null); break;
            default:
                var f = kernel.FindFile(target);
                if (f is null) return -Errno.ENOENT;
                file = new OpenFile(FileKind.File, f);
                break;
        }
        return Install(p, file);
    }

    public (int ReadFd, int WriteFd) Pipe(int pid)
    {
        var p = Task(pid);
        var pipe = new PipeBuffer();
        int r = Install(p, new OpenFile(FileKind.PipeRead, pipe: pipe));
        int w = Install(p, new OpenFile(FileKind.PipeWrite, pipe: pipe));
        return (r, w);
    }

    private static int Install(Process p, OpenFile file)
    {
        int fd = 3;
        while (p.Files.ContainsKey(fd)) fd++;
        p.Files[fd] = file;
        return fd;
    }

    /// <summary>read(2): the kernel's data goes to the user buffer through copy_to_user.</summary>
    public long Read(int pid, int cpu, int fd, ulong buffer, ulong count)
    {
        var p = Task(pid);
        if (!p.Files.TryGetValue(fd, out var file) || file.Kind == FileKind.PipeWrite) return -Errno.EBADF;
        byte[] data = file.Kind switch
        {
            FileKind.Zero => new byte[count],
            FileKind.Null => [],
            FileKind.File => FileBytes(file, count),
            _ => [.. file.Pipe!.Bytes.Take((int)Math.Min(count, (ulong)file.Pipe.Bytes.Count))],
        };
        if (data.Length == 0) return 0;
        ulong notCopied = CopyToUser(p, cpu, buffer, data);
        ulong copied = (ulong)data.Length - notCopied;
        if (file.Kind == FileKind.File) file.Offset += copied;
        if (file.Kind == FileKind.PipeRead) for (ulong i = 0; i < copied; i++) file.Pipe!.Bytes.Dequeue();
        return copied == 0 ? -Errno.EFAULT : (long)copied;
    }

    private static byte[] FileBytes(OpenFile file, ulong count)
    {
        ulong left = file.File!.Size > file.Offset ? file.File.Size - file.Offset : 0;
        var data = new byte[Math.Min(count, left)];
        Array.Fill(data, file.File.Fill);
        return data;
    }

    /// <summary>write(2): the user buffer comes in through copy_from_user (the rest of the kernel buffer zero-filled).</summary>
    public long Write(int pid, int cpu, int fd, ulong buffer, ulong count)
    {
        var p = Task(pid);
        if (!p.Files.TryGetValue(fd, out var file) || file.Kind == FileKind.PipeRead) return -Errno.EBADF;
        if (count == 0) return 0;
        if (file.Kind == FileKind.PipeWrite) count = Math.Min(count, (ulong)(PipeBuffer.Capacity - file.Pipe!.Bytes.Count));
        var data = new byte[count];
        ulong notCopied = CopyFromUser(p, cpu, buffer, data);
        ulong copied = count - notCopied;
        if (copied == 0) return -Errno.EFAULT;
        if (file.Kind == FileKind.PipeWrite) for (ulong i = 0; i < copied; i++) file.Pipe!.Bytes.Enqueue(data[i]);
        if (file.Kind == FileKind.File) file.Offset += copied;
        return (long)copied;
    }

    /// <summary>copy_to_user: returns the bytes not copied. The copy stops at the first page whose fault is fixed up.</summary>
    public ulong CopyToUser(Process p, int cpu, ulong destination, ReadOnlySpan<byte> source)
    {
        if (!AccessOk(destination, (ulong)source.Length)) return (ulong)source.Length;
        ulong done = 0;
        while (done < (ulong)source.Length)
        {
            ulong a = destination + done;
            ulong chunk = Math.Min((ulong)source.Length - done, VirtualAddress.PageSize - (a & (VirtualAddress.PageSize - 1)));
            var t = TranslateUaccess(p, cpu, a, AccessKind.Write);
            if (!t.Ok) break;
            for (ulong i = 0; i < chunk; i++) kernel.Memory.WriteByte(t.PhysicalAddress + i, source[(int)(done + i)]);
            done += chunk;
        }
        return (ulong)source.Length - done;
    }

    /// <summary>copy_from_user: returns the bytes not copied; the rest of <paramref name="destination"/> is zero-filled.</summary>
    public ulong CopyFromUser(Process p, int cpu, ulong source, Span<byte> destination)
    {
        if (!AccessOk(source, (ulong)destination.Length))
        {
            destination.Clear();
            return (ulong)destination.Length;
        }
        ulong done = 0;
        while (done < (ulong)destination.Length)
        {
            ulong a = source + done;
            ulong chunk = Math.Min((ulong)destination.Length - done, VirtualAddress.PageSize - (a & (VirtualAddress.PageSize - 1)));
            var t = TranslateUaccess(p, cpu, a, AccessKind.Read);
            if (!t.Ok) break;
            for (ulong i = 0; i < chunk; i++) destination[(int)(done + i)] = kernel.Memory.ReadByte(t.PhysicalAddress + i);
            done += chunk;
        }
        destination[(int)done..].Clear();
        return (ulong)destination.Length - done;
    }

    /// <summary>access_ok(): the whole range lies in the user half.</summary>
    private bool AccessOk(ulong address, ulong length) =>
        address + length >= address && address + length <= kernel.Geometry.UserTop;

    /// <summary>One translation inside a uaccess window (stac ... clac on x86, uaccess_enable on arm64).</summary>
    private Translation TranslateUaccess(Process p, int cpu, ulong address, AccessKind kind)
    {
        var engine = cpus[cpu];
        var saved = engine.State;
        engine.State = saved with { UaccessOpen = true };
        try
        {
            return engine.Translate(p, address, kind, AccessMode.Kernel);
        }
        finally
        {
            engine.State = engine.State with { UaccessOpen = false };
        }
    }

    private Process Task(int pid) => kernel.FindProcess(pid) ?? throw new InvalidOperationException($"no process {pid}");
}
