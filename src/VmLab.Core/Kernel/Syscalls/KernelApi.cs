using VmLab.Abstractions;
using VmLab.Abstractions.Signals;
using VmLab.Abstractions.Workloads;
using VmLab.Core.Mmu;

namespace VmLab.Core.Kernel;

/// <summary>
/// The system calls and kernel paths as workloads drive them (<see cref="IKernelApi"/>), over the kernel's subsystems
/// and the machine's CPUs. Each call that can change memory state is reported to the invariant checker when one runs
/// (<c>machine:checks:invariants</c>): the one hook it observes through.
/// </summary>
public sealed class KernelApi(KernelModel kernel, IReadOnlyList<ICpu> cpus, MetricRegistry metrics) : IKernelApi
{
    private const ulong PageMask = VirtualAddress.PageSize - 1;

    /// <summary>
    /// The system calls among the names <see cref="Check"/> reports (the rest are kernel paths a workload drives
    /// directly: a process or file set up, kmalloc, a kernel access): each counts once in <c>syscalls.total</c>.
    /// </summary>
    private static readonly HashSet<string> SyscallNames =
    [
        "fork", "thread", "exec", "exit", "mmap", "munmap", "mprotect", "pkey_mprotect", "brk", "madvise", "mlock", "munlock",
        "mlockall", "munlockall", "mremap", "mincore", "kill", "read", "write",
    ];

    // The timing model's inputs (docs/metrics.md), looked up on first use so a run that makes no system call lists none.
    private Counter? _syscalls, _tablePagesCopied, _delivered, _sigreturns;

    public int CpuCount => cpus.Count;

    public ulong UserTop => kernel.Geometry.UserTop;

    public string? KernelMemoryUnsupported => kernel.KernelHalf.Layout.Mode == Abstractions.PageTables.KernelHalfMode.Unsupported
        ? $"kernel memory (kmalloc, vmalloc, kernel accesses, kernel threads) is not modelled for the {kernel.Geometry.Architecture} page-table format (machine:pageTable); use x86-64, x86-32, x86-32-pae, arm64 or riscv"
        : null;

    public bool Panicked => kernel.Panicked;

    // ---- processes -----------------------------------------------------------------------------------------

    public int Spawn()
    {
        int pid = kernel.Processes.Spawn(0)?.Pid ?? -Errno.ENOMEM;
        Check("spawn", pid);
        return pid;
    }

    public int CreateProcess(int pid)
    {
        if (kernel.FindProcess(pid) is not null) return -Errno.EEXIST;
        var p = kernel.Processes.Create(pid, 0);
        if (p is null) return -Errno.ENOMEM;
        p.Mm.BrkStart = p.Mm.Brk = ProcessTable.BrkBase;
        Check("create-process", pid);
        return pid;
    }

    public int Fork(int pid, int cpu)
    {
        long tablePages = metrics[MetricNames.PageTablePages];
        int child = Dead(pid) ? -Errno.ESRCH : kernel.Processes.Fork(pid, Cpu(cpu));
        // The page-table pages fork copied: those it allocated for the child (its top level included).
        if (metrics[MetricNames.PageTablePages] - tablePages is > 0 and var copied)
            (_tablePagesCopied ??= metrics.Counter(MetricNames.SyscallsPageTablePagesCopied)).Add(copied);
        Check("fork", pid, 0, 0, cpu, child < 0 ? $"-> {Errno.Name(child)}" : $"-> child {child}");
        return child;
    }

    public int CloneThread(int pid)
    {
        int t = Dead(pid) ? -Errno.ESRCH : kernel.Processes.CloneThread(pid).Pid;
        Check("thread", pid, 0, 0, -1, $"-> tid {t}");
        return t;
    }

    public long Execve(int pid, int cpu) => Checked("exec", pid, 0, 0, cpu, Dead(pid) ? -Errno.ESRCH : kernel.Processes.Exec(pid, Cpu(cpu)), "");

    public void Exit(int pid, int cpu, int code)
    {
        kernel.Processes.Exit(pid, Cpu(cpu), code);
        Check("exit", pid, 0, 0, cpu, $"code {code}");
    }

    public long Wait(int pid, int child) => kernel.Processes.Wait(pid, child);

    public ProcessStatus Status(int pid) => ProcessTable.Status(Task(pid));

    public long Metric(string name) => metrics[name];

    public IReadOnlyDictionary<string, long> MetricSnapshot() => metrics.Snapshot();

    // ---- address spaces ------------------------------------------------------------------------------------

    public long Mmap(int pid, int cpu, ulong address, ulong length, Protection protection, MapFlags flags, string? file, ulong offset)
    {
        long r = Dead(pid) ? -Errno.ESRCH : kernel.AddressSpaces.Mmap(Task(pid), Cpu(cpu), address, length, protection, flags, file, offset);
        ulong start = r >= 0 ? (ulong)r : address;
        Check("mmap", pid, start, End(start, length), cpu, $"{protection} {flags}{(file is null ? "" : " " + file)} -> {Result(r)}");
        return r;
    }

    public long Munmap(int pid, int cpu, ulong address, ulong length) =>
        Checked("munmap", pid, address, length, cpu, Dead(pid) ? -Errno.ESRCH : kernel.AddressSpaces.Munmap(Task(pid), Cpu(cpu), address, length), "");

    public long Mprotect(int pid, int cpu, ulong address, ulong length, Protection protection) =>
        Checked("mprotect", pid, address, length, cpu, Dead(pid) ? -Errno.ESRCH : kernel.AddressSpaces.Mprotect(Task(pid), Cpu(cpu), address, length, protection, null), protection.ToString());

    public long PkeyMprotect(int pid, int cpu, ulong address, ulong length, Protection protection, int key)
    {
        long r = Dead(pid) ? -Errno.ESRCH : key is < 0 or > 15 ? -Errno.EINVAL : kernel.AddressSpaces.Mprotect(Task(pid), Cpu(cpu), address, length, protection, (byte)key);
        return Checked("pkey_mprotect", pid, address, length, cpu, r, $"{protection} key {key}");
    }

    public void SetPkru(int pid, uint pkru) => Task(pid).Pkru = pkru;

    public long Brk(int pid, int cpu, ulong newBreak)
    {
        long r = Dead(pid) ? -Errno.ESRCH : kernel.AddressSpaces.Brk(Task(pid), Cpu(cpu), newBreak);
        Check("brk", pid, 0, 0, cpu, $"0x{newBreak:x} -> {Result(r)}");
        return r;
    }

    public long MadviseDontNeed(int pid, int cpu, ulong address, ulong length) =>
        Checked("madvise", pid, address, length, cpu, Dead(pid) ? -Errno.ESRCH : kernel.AddressSpaces.MadviseDontNeed(Task(pid), Cpu(cpu), address, length), "DONTNEED");

    public long Madvise(int pid, int cpu, ulong address, ulong length, Advice advice) =>
        Checked("madvise", pid, address, length, cpu, Dead(pid) ? -Errno.ESRCH : kernel.AddressSpaces.Madvise(Task(pid), Cpu(cpu), address, length, advice), advice.ToString().ToUpperInvariant());

    public long Mlock(int pid, int cpu, ulong address, ulong length, int flags) =>
        Checked("mlock", pid, address, length, cpu, Dead(pid) ? -Errno.ESRCH : kernel.AddressSpaces.Mlock(Task(pid), Cpu(cpu), address, length, flags), $"flags {flags}");

    public long Munlock(int pid, int cpu, ulong address, ulong length) =>
        Checked("munlock", pid, address, length, cpu, Dead(pid) ? -Errno.ESRCH : kernel.AddressSpaces.Munlock(Task(pid), Cpu(cpu), address, length), "");

    public long Mlockall(int pid, int cpu, int flags) =>
        Checked("mlockall", pid, 0, 0, cpu, Dead(pid) ? -Errno.ESRCH : kernel.AddressSpaces.Mlockall(Task(pid), Cpu(cpu), flags), $"flags {flags}");

    public long Munlockall(int pid, int cpu) =>
        Checked("munlockall", pid, 0, 0, cpu, Dead(pid) ? -Errno.ESRCH : kernel.AddressSpaces.Munlockall(Task(pid)), "");

    public long Mremap(int pid, int cpu, ulong oldAddress, ulong oldLength, ulong newLength, int flags, ulong newAddress)
    {
        long r = Dead(pid) ? -Errno.ESRCH : kernel.AddressSpaces.Mremap(Task(pid), Cpu(cpu), oldAddress, oldLength, newLength, flags, newAddress);
        Check("mremap", pid, oldAddress, End(oldAddress, oldLength), cpu, $"to {newLength} bytes flags {flags} -> {Result(r)}");
        if (r >= 0) Check("mremap", pid, (ulong)r, End((ulong)r, newLength), cpu, "the new range", syscall: false);
        return r;
    }

    public long Mincore(int pid, ulong address, ulong length, Span<byte> vector) =>
        Checked("mincore", pid, address, length, -1, Dead(pid) ? -Errno.ESRCH : kernel.AddressSpaces.Mincore(Task(pid), address, length, vector), "");

    public PagemapEntry Pagemap(int pid, ulong address)
    {
        var p = Task(pid);
        return p.Alive ? kernel.AddressSpaces.Pagemap(p, address) : default;
    }

    public void CreateFile(string name, ulong size, byte fill)
    {
        kernel.Files.CreateFile(name, size, fill);
        Check("create-file", 0, 0, 0, -1, name);
    }

    // ---- signals -------------------------------------------------------------------------------------------

    public void SetSignalDisposition(int pid, int signo, SignalDisposition disposition) => Task(pid).SetDisposition(signo, disposition);

    public void SetSignalBlocked(int pid, int signo, bool blocked) => Task(pid).SetBlocked(signo, blocked);

    public SignalAction Kill(int pid, int cpu, int target, int signo)
    {
        var action = kernel.Processes.Kill(pid, Cpu(cpu), target, signo);
        Check("kill", target, 0, 0, cpu, $"signal {signo} from pid {pid} -> {action}");
        return action;
    }

    public void BeginSignalHandler(int pid, int signo)
    {
        kernel.Processes.BeginSignalHandler(pid, signo);
        (_delivered ??= metrics.Counter(MetricNames.SignalsDelivered)).Increment();
    }

    public void EndSignalHandler(int pid, int signo)
    {
        kernel.Processes.EndSignalHandler(pid, signo);
        (_sigreturns ??= metrics.Counter(MetricNames.SignalsSigreturns)).Increment();
    }

    // ---- accesses ------------------------------------------------------------------------------------------

    /// <summary>
    /// One user access of 1 to 8 bytes, translated page by page on <paramref name="cpu"/>; values are stored
    /// little-endian in the frames, so copies made by COW carry them.
    /// </summary>
    public AccessResult Access(int pid, int cpu, ulong address, AccessKind kind, int size, ulong value)
    {
        var r = Perform(pid, cpu, address, kind, size, value, AccessMode.User, uaccess: false, out _);
        ulong page = address & ~PageMask;
        Check("access", pid, page, End(page, (address & PageMask) + (ulong)size), -1, $"{kind} cpu {cpu} -> {r.Status}");
        return r;
    }

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
            int chunk = (int)Math.Min((ulong)(size - done), VirtualAddress.PageSize - (a & PageMask));
            var t = uaccess ? TranslateUaccess(p, cpu, a, kind) : engine.Translate(p, a, kind, mode);
            if (t.Emulated)
            {
                ulong v = kernel.Devices.Emulate(p, a, kind, chunk, value >> (8 * done));
                result |= v << (8 * done);
                done += chunk;
                continue;
            }
            if (!t.Ok)
            {
                return p.Alive && !kernel.Panicked
                    ? new AccessResult(AccessStatus.Signal, 0, t.Signal)
                    : new AccessResult(AccessStatus.Terminated, 0, t.Signal.Signo != 0 ? t.Signal : p.LastSignal ?? default);
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

    public long TrackDirty(int pid, int cpu, ulong address, ulong length) =>
        Checked("track-dirty", pid, address, length, cpu, Dead(pid) ? -Errno.ESRCH : kernel.Devices.TrackDirty(Task(pid), Cpu(cpu), address, length), "");

    public IReadOnlyList<ulong> CollectDirty(int pid, int cpu)
    {
        IReadOnlyList<ulong> pages = Dead(pid) ? [] : kernel.Devices.CollectDirty(Task(pid), Cpu(cpu));
        Check("collect-dirty", pid, 0, 0, cpu, $"{pages.Count} pages");
        return pages;
    }

    public int SpawnKernelThread()
    {
        int pid = kernel.Processes.SpawnKernelThread(0).Pid;
        Check("kthread", pid);
        return pid;
    }

    public long Kmalloc(int cpu, ulong size) =>
        Checked("kmalloc", 0, 0, 0, cpu, (long)kernel.KernelHalf.Kmalloc(size, Cpu(cpu)), $"{size} bytes");

    public void Kfree(ulong address)
    {
        kernel.KernelHalf.Kfree(address);
        Check("kfree", 0, 0, 0, -1, $"0x{address:x}");
    }

    public long Vmalloc(int cpu, ulong size) =>
        Checked("vmalloc", 0, 0, 0, cpu, (long)kernel.KernelHalf.Vmalloc(size, Cpu(cpu)), $"{size} bytes");

    public AccessResult KernelAccess(int pid, int cpu, ulong address, AccessKind kind, int size, ulong value)
    {
        kernel.KernelHalf.Ensure(Cpu(cpu));
        var r = Perform(pid, cpu, address, kind, size, value, AccessMode.Kernel, uaccess: false, out _);
        ulong page = address & ~PageMask;
        Check("kernel-access", pid, page, End(page, (address & PageMask) + (ulong)size), -1, $"{kind} cpu {cpu} -> {r.Status}");
        return r;
    }

    public long GetUser(int pid, int cpu, ulong address, int size, out ulong value)
    {
        var r = Perform(pid, cpu, address, AccessKind.Read, size, 0, AccessMode.Kernel, uaccess: true, out _);
        value = r.Status == AccessStatus.Ok ? r.Value : 0;
        return Checked("get_user", pid, address, (ulong)size, cpu, r.Status == AccessStatus.Ok ? 0 : -Errno.EFAULT, "");
    }

    public long PutUser(int pid, int cpu, ulong address, int size, ulong value)
    {
        var r = Perform(pid, cpu, address, AccessKind.Write, size, value, AccessMode.Kernel, uaccess: true, out _);
        return Checked("put_user", pid, address, (ulong)size, cpu, r.Status == AccessStatus.Ok ? 0 : -Errno.EFAULT, "");
    }

    public long Open(int pid, string target)
    {
        var p = Task(pid);
        if (!p.Alive) return -Errno.ESRCH;
        OpenFile file;
        switch (target)
        {
            case "zero": file = new OpenFile(FileKind.Zero); break;
            case "null": file = new OpenFile(FileKind.Null); break;
            default:
                var f = kernel.Files.Find(target);
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

    public long Close(int pid, int fd)
    {
        var p = Task(pid);
        long r;
        if (!p.Alive) r = -Errno.ESRCH;
        else if (!p.Files.Remove(fd, out var file)) r = -Errno.EBADF;
        else
        {
            file.Release();
            r = 0;
        }
        return Checked("close", pid, 0, 0, -1, r, $"fd {fd}");
    }

    public long MemfdCreate(int pid, string name)
    {
        var p = Task(pid);
        if (!p.Alive) return -Errno.ESRCH;
        long fd = Install(p, new OpenFile(FileKind.File, kernel.Files.CreateMemfd(name)));
        return Checked("memfd_create", pid, 0, 0, -1, fd, name);
    }

    public long Unlink(string name) => Checked("unlink", 0, 0, 0, -1, kernel.Files.Unlink(name), name);

    public long Lseek(int pid, int fd, long offset, int whence)
    {
        var p = Task(pid);
        long r;
        if (!p.Alive) r = -Errno.ESRCH;
        else if (!p.Files.TryGetValue(fd, out var file)) r = -Errno.EBADF;
        else if (file.Kind is FileKind.PipeRead or FileKind.PipeWrite) r = -Errno.ESPIPE;
        else if (file.Kind is FileKind.Zero or FileKind.Null) r = 0; // null_lseek: the offset is always 0
        else
        {
            long base_ = whence switch
            {
                Whence.Set => 0,
                Whence.Current => (long)file.Offset,
                Whence.End => (long)file.File!.Size,
                _ => -1,
            };
            long target = base_ + offset;
            if (base_ < 0 || target < 0) r = -Errno.EINVAL;
            else
            {
                file.Offset = (ulong)target;
                r = target;
            }
        }
        return Checked("lseek", pid, 0, 0, -1, r, $"fd {fd} {offset} whence {whence}");
    }

    /// <summary>read(2): the kernel's data goes to the user buffer through copy_to_user.</summary>
    public long Read(int pid, int cpu, int fd, ulong buffer, ulong count) =>
        Checked("read", pid, buffer, count, cpu, DoRead(pid, cpu, fd, buffer, count, null), $"fd {fd}");

    public long Pread(int pid, int cpu, int fd, ulong buffer, ulong count, ulong offset) =>
        Checked("pread", pid, buffer, count, cpu, DoRead(pid, cpu, fd, buffer, count, offset), $"fd {fd} at {offset}");

    private long DoRead(int pid, int cpu, int fd, ulong buffer, ulong count, ulong? at)
    {
        var p = Task(pid);
        if (!p.Alive) return -Errno.ESRCH;
        if (!p.Files.TryGetValue(fd, out var file) || file.Kind == FileKind.PipeWrite) return -Errno.EBADF;
        if (file.Kind == FileKind.PipeRead) return at is null ? PipeRead(p, cpu, file.Pipe!, buffer, count) : -Errno.ESPIPE;
        if (file.Kind == FileKind.Null || count == 0) return 0;
        if (file.Kind == FileKind.Zero)
        {
            // read_iter_zero: zeros copied page by page; a fault ends the copy with what went before it.
            ulong notCopied = CopyToUser(p, cpu, buffer, new byte[count]);
            return notCopied == count ? -Errno.EFAULT : (long)(count - notCopied);
        }
        long r = FileRead(p, Cpu(cpu), file, at ?? file.Offset, buffer, count);
        if (r > 0 && at is null) file.Offset += (ulong)r;
        return r;
    }

    /// <summary>
    /// filemap_read: page by page through the page cache (a page not cached is read in; no fault is counted), each
    /// copied to the user buffer; a copy that faults ends the call with the bytes copied before it, or -EFAULT.
    /// Nothing past the end of the file is read.
    /// </summary>
    private long FileRead(Process p, int cpu, OpenFile of, ulong pos, ulong buffer, ulong count)
    {
        var f = of.File!;
        if (pos >= f.Size) return 0;
        ulong n = Math.Min(count, f.Size - pos);
        kernel.Files.ReadAheadForRead(of, f, pos / VirtualAddress.PageSize, (pos + n - 1) / VirtualAddress.PageSize, cpu);
        Span<byte> page = stackalloc byte[(int)VirtualAddress.PageSize];
        ulong done = 0;
        while (done < n)
        {
            ulong at = pos + done;
            int inPage = (int)(at & PageMask);
            int chunk = (int)Math.Min(VirtualAddress.PageSize - (ulong)inPage, n - done);
            if (!kernel.Files.TryGetPageForIo(f, at / VirtualAddress.PageSize, cpu, out ulong pfn, out _)) return done > 0 ? (long)done : -Errno.ENOMEM;
            ulong from = (pfn << 12) + (ulong)inPage;
            for (int i = 0; i < chunk; i++) page[i] = kernel.Memory.ReadByte(from + (ulong)i);
            kernel.Frames.Put(pfn);
            ulong notCopied = CopyToUser(p, cpu, buffer + done, page[..chunk]);
            done += (ulong)chunk - notCopied;
            if (notCopied != 0) break;
        }
        if (done > 0) of.ReadAheadPrevPos = pos + done;
        return done == 0 ? -Errno.EFAULT : (long)done;
    }

    /// <summary>
    /// pipe_read: copies buffer by buffer; a buffer whose copy faults part-way is not consumed at all, and the call
    /// returns what the buffers before it gave, or -EFAULT. An empty pipe reads 0 (a scenario's pipe never blocks).
    /// </summary>
    private long PipeRead(Process p, int cpu, PipeBuffer pipe, ulong buffer, ulong count)
    {
        long r = 0;
        while (count > 0 && !pipe.Empty)
        {
            var chunk = pipe.Oldest;
            int chars = (int)Math.Min((ulong)chunk.Length, count);
            if (CopyToUser(p, cpu, buffer, chunk[..chars]) != 0)
            {
                if (r == 0) r = -Errno.EFAULT;
                break;
            }
            pipe.Consume(chars);
            r += chars;
            buffer += (ulong)chars;
            count -= (ulong)chars;
        }
        return r;
    }

    /// <summary>
    /// write(2). A regular file takes the user buffer through copy_from_user into the page cache and returns the short
    /// count when it faults part-way (generic_perform_write), growing the file past its end; /dev/null and /dev/zero
    /// never read the buffer and return the count (write_null); a pipe follows fs/pipe.c (<see cref="PipeWrite"/>).
    /// </summary>
    public long Write(int pid, int cpu, int fd, ulong buffer, ulong count) =>
        Checked("write", pid, buffer, count, cpu, DoWrite(pid, cpu, fd, buffer, count, null), $"fd {fd}");

    public long Pwrite(int pid, int cpu, int fd, ulong buffer, ulong count, ulong offset) =>
        Checked("pwrite", pid, buffer, count, cpu, DoWrite(pid, cpu, fd, buffer, count, offset), $"fd {fd} at {offset}");

    private long DoWrite(int pid, int cpu, int fd, ulong buffer, ulong count, ulong? at)
    {
        var p = Task(pid);
        if (!p.Alive) return -Errno.ESRCH;
        if (!p.Files.TryGetValue(fd, out var file) || file.Kind == FileKind.PipeRead) return -Errno.EBADF;
        if (file.Kind == FileKind.PipeWrite && at is not null) return -Errno.ESPIPE;
        if (count == 0) return 0;
        if (file.Kind is FileKind.Null or FileKind.Zero) return (long)count; // write_zero is write_null
        if (file.Kind == FileKind.PipeWrite) return PipeWrite(p, Cpu(cpu), file.Pipe!, buffer, count);
        long r = FileWrite(p, Cpu(cpu), file.File!, at ?? file.Offset, buffer, count);
        if (r > 0 && at is null) file.Offset += (ulong)r;
        return r;
    }

    /// <summary>
    /// generic_perform_write: page by page, the user's bytes are copied (copy_from_user) and stored into the page-cache
    /// page, which is brought in first when not cached, then marked dirty; the file grows as each page is written
    /// (i_size_write). A copy that faults stores the bytes before the fault and ends the call with their count, or -EFAULT.
    /// </summary>
    private long FileWrite(Process p, int cpu, SimFile f, ulong pos, ulong buffer, ulong count)
    {
        Span<byte> page = stackalloc byte[(int)VirtualAddress.PageSize];
        ulong done = 0;
        while (done < count)
        {
            ulong at = pos + done;
            int inPage = (int)(at & PageMask);
            int chunk = (int)Math.Min(VirtualAddress.PageSize - (ulong)inPage, count - done);
            ulong notCopied = CopyFromUser(p, cpu, buffer + done, page[..chunk]);
            int got = chunk - (int)notCopied;
            if (got == 0) break;
            if (!kernel.Files.TryGetPageForIo(f, at / VirtualAddress.PageSize, cpu, out ulong pfn, out _)) return done > 0 ? (long)done : -Errno.ENOMEM;
            ulong to = (pfn << 12) + (ulong)inPage;
            for (int i = 0; i < got; i++) kernel.Memory.WriteByte(to + (ulong)i, page[i]);
            if (!f.Shmem) kernel.Reclaim.MarkDirty(pfn);
            kernel.Frames.Put(pfn);
            done += (ulong)got;
            if (pos + done > f.Size) f.Size = pos + done;
            if (notCopied != 0) break;
        }
        return done == 0 ? -Errno.EFAULT : (long)done;
    }

    /// <summary>
    /// pipe_write. With no reader left the call sends SIGPIPE to the writer and returns -EPIPE, before any copy. When
    /// the pipe holds data and the count is not a whole number of pages, the count's remainder modulo a page is first
    /// merged into the last buffer if it fits there; a fault part-way through that copy fails the call with -EFAULT.
    /// The rest is copied a page at a time into new buffers; a page whose copy faults is dropped, and the call returns
    /// what went before it, or -EFAULT: a buffer that faults part-way queues nothing. When every buffer is in use
    /// (64 KiB) the write would block, which a scenario cannot do (no other task runs to read): the call returns
    /// -EAGAIN, as with O_NONBLOCK, and the event log says it would have blocked.
    /// </summary>
    private long PipeWrite(Process p, int cpu, PipeBuffer pipe, ulong buffer, ulong count)
    {
        if (pipe.Readers == 0)
        {
            kernel.Processes.Kill(p.Pid, cpu, p.Pid, Signal.SIGPIPE);
            return -Errno.EPIPE;
        }
        const int Page = PipeBuffer.PageSize;
        Span<byte> chunk = stackalloc byte[Page];
        long r = 0;
        int chars = (int)(count & (Page - 1));
        if (chars != 0 && !pipe.Empty && pipe.CanMerge(chars))
        {
            if (CopyFromUser(p, cpu, buffer, chunk[..chars]) != 0) return -Errno.EFAULT;
            pipe.Merge(chunk[..chars]);
            r = chars;
            buffer += (ulong)chars;
            count -= (ulong)chars;
        }
        while (count > 0)
        {
            if (pipe.Full)
            {
                kernel.Events.Record("pipe-full", p.Pid, $"write to a full pipe ({PipeBuffer.Capacity} bytes queued, {count} more to write) would block: nothing else runs to read it; returned -EAGAIN", cpu);
                r = -Errno.EAGAIN;
                break;
            }
            int n = (int)Math.Min(count, (ulong)Page);
            if (CopyFromUser(p, cpu, buffer, chunk[..n]) != 0)
            {
                if (r == 0) r = -Errno.EFAULT;
                break;
            }
            pipe.Push(chunk[..n]);
            r += n;
            buffer += (ulong)n;
            count -= (ulong)n;
        }
        return r;
    }

    /// <summary>ftruncate(2): a regular file (or memfd) only; its size set through the page cache (<see cref="PageCache.Resize"/>).</summary>
    public long Ftruncate(int pid, int cpu, int fd, long length)
    {
        var p = Task(pid);
        long r;
        if (!p.Alive) r = -Errno.ESRCH;
        else if (!p.Files.TryGetValue(fd, out var file)) r = -Errno.EBADF;
        else if (length < 0 || file.Kind != FileKind.File) r = -Errno.EINVAL;
        else
        {
            kernel.Files.Resize(file.File!, (ulong)length, Cpu(cpu));
            r = 0;
        }
        return Checked("ftruncate", pid, 0, 0, cpu, r, $"fd {fd} to {length}");
    }

    /// <summary>fsync(2) / fdatasync(2): every dirty page of the file written back (no metadata is modelled, so they do the same).</summary>
    public long Fsync(int pid, int cpu, int fd, bool dataOnly)
    {
        var p = Task(pid);
        long r;
        if (!p.Alive) r = -Errno.ESRCH;
        else if (!p.Files.TryGetValue(fd, out var file)) r = -Errno.EBADF;
        else if (file.Kind != FileKind.File) r = -Errno.EINVAL;
        else
        {
            kernel.Files.WriteBack(file.File!, 0, ulong.MaxValue, Cpu(cpu));
            r = 0;
        }
        return Checked(dataOnly ? "fdatasync" : "fsync", pid, 0, 0, cpu, r, $"fd {fd}");
    }

    public long Msync(int pid, int cpu, ulong address, ulong length, int flags) =>
        Checked("msync", pid, address, length, cpu, Dead(pid) ? -Errno.ESRCH : DoMsync(Task(pid), Cpu(cpu), address, length, flags), $"flags {flags}");

    /// <summary>
    /// mm/msync.c in its order: unknown flags, an unaligned start, or MS_SYNC with MS_ASYNC are -EINVAL; a wrapping range
    /// -ENOMEM; then VMA by VMA: MS_INVALIDATE of a locked VMA is -EBUSY; MS_SYNC writes back the shared file VMAs' part
    /// of the range (vfs_fsync_range); a hole ends plain MS_SYNC with -ENOMEM at once, and with other flags is skipped
    /// and reported as -ENOMEM at the end. MS_ASYNC does nothing else.
    /// </summary>
    private long DoMsync(Process p, int cpu, ulong start, ulong length, int flags)
    {
        const int All = MsyncFlags.Async | MsyncFlags.Invalidate | MsyncFlags.Sync;
        if ((flags & ~All) != 0 || (start & PageMask) != 0) return -Errno.EINVAL;
        if ((flags & MsyncFlags.Async) != 0 && (flags & MsyncFlags.Sync) != 0) return -Errno.EINVAL;
        ulong len = (length + PageMask) & ~PageMask;
        ulong end = start + len;
        if (end < start) return -Errno.ENOMEM;
        if (end == start) return 0;
        long unmapped = 0;
        var vma = p.Mm.FindVma(start);
        while (true)
        {
            if (vma is null) return -Errno.ENOMEM;
            if (start < vma.Start)
            {
                if (flags == MsyncFlags.Sync) return -Errno.ENOMEM;
                start = vma.Start;
                if (start >= end) return -Errno.ENOMEM;
                unmapped = -Errno.ENOMEM;
            }
            if ((flags & MsyncFlags.Invalidate) != 0 && vma.Locked) return -Errno.EBUSY;
            ulong first = (start - vma.Start + vma.FileOffset) / VirtualAddress.PageSize;
            ulong last = (Math.Min(end, vma.End) - 1 - vma.Start + vma.FileOffset) / VirtualAddress.PageSize;
            start = vma.End;
            if ((flags & MsyncFlags.Sync) != 0 && vma.File is { } f && (vma.Flags & Abstractions.Faults.VmaFlags.Shared) != 0)
                kernel.Files.WriteBack(f, first, last, cpu);
            if (start >= end) return unmapped;
            vma = p.Mm.FindVma(start);
        }
    }

    public long MmapFd(int pid, int cpu, ulong address, ulong length, Protection protection, MapFlags flags, int fd, ulong offset)
    {
        var p = Task(pid);
        long r;
        if (!p.Alive) r = -Errno.ESRCH;
        else if (!p.Files.TryGetValue(fd, out var file)) r = -Errno.EBADF;
        else if (file.Kind is FileKind.Null or FileKind.PipeRead or FileKind.PipeWrite) r = -Errno.ENODEV;
        // mmap_zero: a private mapping of /dev/zero is anonymous memory; a shared one, shared anonymous memory (shmem).
        else if (file.Kind == FileKind.Zero) r = kernel.AddressSpaces.Mmap(p, Cpu(cpu), address, length, protection, flags | MapFlags.Anonymous, null, offset);
        else r = kernel.AddressSpaces.Mmap(p, Cpu(cpu), address, length, protection, flags & ~MapFlags.Anonymous, null, offset, file.File);
        ulong start = r >= 0 ? (ulong)r : address;
        Check("mmap", pid, start, End(start, length), cpu, $"{protection} {flags} fd {fd} -> {Result(r)}");
        return r;
    }

    /// <summary>copy_to_user: returns the bytes not copied. The copy stops at the first page whose fault is fixed up.</summary>
    public ulong CopyToUser(Process p, int cpu, ulong destination, ReadOnlySpan<byte> source)
    {
        if (!AccessOk(destination, (ulong)source.Length)) return (ulong)source.Length;
        ulong done = 0;
        while (done < (ulong)source.Length)
        {
            ulong a = destination + done;
            ulong chunk = Math.Min((ulong)source.Length - done, VirtualAddress.PageSize - (a & PageMask));
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
            ulong chunk = Math.Min((ulong)destination.Length - done, VirtualAddress.PageSize - (a & PageMask));
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

    private Process Task(int pid)
    {
        if (kernel.Stream is { } s) s.EntryPid = pid;
        return kernel.FindProcess(pid) ?? throw new InvalidOperationException($"no process {pid}");
    }

    /// <summary>The task has exited or was killed: its address space may be gone, so no call may act on it (-ESRCH).</summary>
    private bool Dead(int pid) => !Task(pid).Alive;

    private int Cpu(int cpu)
    {
        if (cpu < 0 || cpu >= cpus.Count)
            throw new ArgumentOutOfRangeException(nameof(cpu), $"cpu {cpu} does not exist: the machine has {cpus.Count}");
        if (kernel.Stream is { } s) s.EntryCpu = cpu;
        return cpu;
    }

    // ---- the invariant checker's hook ----------------------------------------------------------------------

    private void Check(string name, int pid, ulong start = 0, ulong end = 0, int cpu = -1, string detail = "", bool syscall = true)
    {
        if (syscall && SyscallNames.Contains(name)) (_syscalls ??= metrics.Counter(MetricNames.SyscallsTotal)).Increment();
        // A workload's plain memory access is not a system call: its walk and fault events tell its story.
        if (name != "access") kernel.Stream?.Emit(Events.EventKinds.Syscall, Math.Max(cpu, 0), pid, start,
            new Events.EventField("name", name),
            new Events.EventField("end", end > start ? $"0x{end:x}" : null),
            new Events.EventField("detail", detail));
        kernel.Invariants?.After(name, pid, start, end, cpu >= 0 ? $"{detail} (cpu {cpu})".TrimStart() : detail);
    }

    private long Checked(string name, int pid, ulong address, ulong length, int cpu, long result, string detail)
    {
        Check(name, pid, address, End(address, length), cpu, detail.Length == 0 ? $"-> {Result(result)}" : $"{detail} -> {Result(result)}");
        return result;
    }

    private static ulong End(ulong start, ulong length)
    {
        ulong end = start + ((length + PageMask) & ~PageMask);
        return end < start ? ulong.MaxValue : end;
    }

    private static string Result(long r) => r < 0 ? Errno.Name(r) : $"0x{r:x}";
}
