using VmLab.Abstractions.Signals;

namespace VmLab.Abstractions.Workloads;

/// <summary><c>mmap</c> flags VmLab models.</summary>
[Flags]
public enum MapFlags : ushort
{
    Private = 0,
    Shared = 1 << 0,
    Anonymous = 1 << 1,
    Fixed = 1 << 2,
    Populate = 1 << 3,
    GrowsDown = 1 << 4,
    /// <summary>Maps the device named by the file argument: every access traps and is emulated.</summary>
    Device = 1 << 5,
    /// <summary>MAP_SHARED_VALIDATE (with <see cref="Shared"/>): a file mapping refuses flags it does not support with -EOPNOTSUPP; anonymous memory refuses it (-EINVAL).</summary>
    SharedValidate = 1 << 6,
    /// <summary>MAP_FIXED_NOREPLACE: at exactly the address, or -EEXIST when anything is mapped there (nothing is replaced).</summary>
    FixedNoReplace = 1 << 7,
    /// <summary>MAP_SYNC: needs a DAX file, which no simulated file is; MAP_SHARED_VALIDATE refuses it, MAP_SHARED ignores it.</summary>
    Sync = 1 << 8,
    /// <summary>A flag bit no mmap flag uses (as 0x200000 on x86-64): ignored, except by MAP_SHARED_VALIDATE (-EOPNOTSUPP).</summary>
    UnknownFlag = 1 << 9,
}

/// <summary>The <c>madvise</c> advice VmLab models (Linux's <c>MADV_*</c> of the same name).</summary>
public enum Advice : byte
{
    /// <summary>MADV_DONTNEED: drop the pages; the next touch sees zeros (private anonymous) or the file.</summary>
    DontNeed,
    /// <summary>MADV_FREE: private anonymous pages become lazily freeable: reclaim discards them while they stay clean.</summary>
    Free,
    /// <summary>MADV_DONTFORK: a child of fork does not get the range at all.</summary>
    DontFork,
    /// <summary>MADV_DOFORK: undoes DONTFORK.</summary>
    DoFork,
    /// <summary>MADV_WIPEONFORK: a child of fork gets the range empty (zeros); private anonymous memory only.</summary>
    WipeOnFork,
    /// <summary>MADV_KEEPONFORK: undoes WIPEONFORK.</summary>
    KeepOnFork,
    /// <summary>MADV_COLD: the pages are made old (their Accessed bits cleared), first in line for reclaim.</summary>
    Cold,
    /// <summary>MADV_PAGEOUT: the pages mapped only here are reclaimed now.</summary>
    PageOut,
    /// <summary>MADV_POPULATE_READ: read-faults every page in, as a read would.</summary>
    PopulateRead,
    /// <summary>MADV_POPULATE_WRITE: write-faults every page in (breaking copy-on-write), as a write would.</summary>
    PopulateWrite,
    /// <summary>MADV_NORMAL: the default read-around on a fault again (clears RANDOM and SEQUENTIAL).</summary>
    Normal,
    /// <summary>MADV_RANDOM (VM_RAND_READ): a fault that reads a file page reads that page alone, no read-around.</summary>
    Random,
    /// <summary>MADV_SEQUENTIAL (VM_SEQ_READ): a fault that reads a file page reads ahead the whole window from it.</summary>
    Sequential,
}

/// <summary>Flags of <c>mlock2</c> and <c>mlockall</c> (Linux's values).</summary>
public static class LockFlags
{
    /// <summary>mlock2's MLOCK_ONFAULT: lock pages as they are faulted in, populate nothing now.</summary>
    public const int MlockOnFault = 1;
    /// <summary>mlockall's MCL_CURRENT: lock every mapping there is now.</summary>
    public const int Current = 1;
    /// <summary>mlockall's MCL_FUTURE: lock every mapping made from now on.</summary>
    public const int Future = 2;
    /// <summary>mlockall's MCL_ONFAULT: with CURRENT or FUTURE, lock pages as they are faulted in.</summary>
    public const int OnFault = 4;
}

/// <summary>Flags of <c>mremap</c> (Linux's values).</summary>
public static class RemapFlags
{
    /// <summary>MREMAP_MAYMOVE: the mapping may move when it cannot grow in place.</summary>
    public const int MayMove = 1;
    /// <summary>MREMAP_FIXED (with MAYMOVE): move to exactly the new address, replacing what is there.</summary>
    public const int Fixed = 2;
    /// <summary>MREMAP_DONTUNMAP (with MAYMOVE, same length): move the pages and leave the old range mapped, empty.</summary>
    public const int DontUnmap = 4;
}

/// <summary>Flags of <c>msync</c> (Linux's values).</summary>
public static class MsyncFlags
{
    /// <summary>MS_ASYNC: nothing to do since Linux 2.6.19 (dirty pages are tracked and written back anyway).</summary>
    public const int Async = 1;
    /// <summary>MS_INVALIDATE: -EBUSY on a locked mapping; otherwise nothing (the page cache is the mapping).</summary>
    public const int Invalidate = 2;
    /// <summary>MS_SYNC: writes back the dirty pages of the range's shared file mappings (vfs_fsync_range).</summary>
    public const int Sync = 4;
}

/// <summary>lseek's whence (Linux's values).</summary>
public static class Whence
{
    public const int Set = 0;
    public const int Current = 1;
    public const int End = 2;
}

/// <summary>What happened to one access a workload asked for.</summary>
public enum AccessStatus : byte
{
    /// <summary>Translated and performed (faults on the way were fixed invisibly).</summary>
    Ok = 0,
    /// <summary>A signal with a handler was raised: the workload runs the handler, then the access is re-executed, skipped, or the process exits.</summary>
    Signal = 1,
    /// <summary>The process was terminated (default action of a fatal signal, SIGKILL from an oops or the OOM killer).</summary>
    Terminated = 2,
}

/// <summary>The result of one access: the value read (little-endian, <c>size</c> bytes) and, after a signal, its info.</summary>
public readonly record struct AccessResult(AccessStatus Status, ulong Value, SignalInfo Signal);

/// <summary>A snapshot of a process as <c>/proc</c>, <c>getrusage</c> and <c>wait</c> would show it.</summary>
public readonly record struct ProcessStatus(
    int Pid,
    bool Alive,
    bool Reaped,
    int ExitCode,
    int TerminatingSignal,
    bool CoreDumped,
    SignalInfo? LastSignal,
    long MinorFaults,
    long MajorFaults,
    long PageFaults,
    long ResidentPages);

/// <summary>
/// One page as <c>/proc/PID/pagemap</c> shows it (Documentation/admin-guide/mm/pagemap.rst): bit 63 present (a
/// PROT_NONE page that keeps its frame is present), bit 62 swapped, bit 61 a file page or shared anonymous (shmem)
/// page, bit 56 exclusively mapped (the frame is mapped once), and the frame number (for a swapped page, its swap
/// slot). The shared zero page is present with its frame, neither file nor exclusive (it is no normal page).
/// </summary>
public readonly record struct PagemapEntry(bool Present, bool Swapped, bool File, bool Exclusive, ulong Frame)
{
    public override string ToString() =>
        Present ? $"present{(Exclusive ? ", exclusive" : "")}{(File ? ", file" : "")}, frame 0x{Frame:x}"
        : Swapped ? $"swapped, slot {Frame}"
        : "not present";
}

/// <summary>
/// The system calls and kernel paths a scenario drives. Return values follow Linux: a non-negative result, or
/// <c>-errno</c> (<see cref="Errno"/>).
/// </summary>
public interface IKernelApi
{
    /// <summary>A new process with an empty address space (as after exec of an empty program); returns its pid, or -ENOMEM when no frame is left for its page tables.</summary>
    int Spawn();

    /// <summary>A process with a given pid and an empty address space (a trace's process, before its VMAs are mapped); -EEXIST if it exists, -ENOMEM when no frame is left for its page tables.</summary>
    int CreateProcess(int pid);

    /// <summary>One past the highest user address of this machine's address space.</summary>
    ulong UserTop { get; }

    /// <summary>
    /// The page-table format models a kernel half (kmalloc, vmalloc, kernel accesses, kernel threads): null when it
    /// does, else why not (what a workload reports when it needs one).
    /// </summary>
    string? KernelMemoryUnsupported => null;

    // Calls that change an address space or a task's life name the CPU they run on: the initiator of the TLB flushes
    // they cause (every other CPU that may hold the address space costs a shootdown IPI), and the CPU their faults are
    // taken on. The forms without a CPU are kept for workloads built against contract 1.2 and run on CPU 0.

    long Mmap(int pid, int cpu, ulong address, ulong length, Protection protection, MapFlags flags, string? file, ulong offset);
    long Munmap(int pid, int cpu, ulong address, ulong length);
    long Mprotect(int pid, int cpu, ulong address, ulong length, Protection protection);
    /// <summary><c>pkey_mprotect</c>: mprotect that also tags the range with protection key <paramref name="key"/> (1 to 15).</summary>
    long PkeyMprotect(int pid, int cpu, ulong address, ulong length, Protection protection, int key);
    /// <summary>Sets the program break; 0 queries it. Returns the new (or current) break.</summary>
    long Brk(int pid, int cpu, ulong newBreak);
    /// <summary><c>madvise(MADV_DONTNEED)</c>: drops the pages; the next touch sees zeros (anonymous private) or the file.</summary>
    long MadviseDontNeed(int pid, int cpu, ulong address, ulong length);
    /// <summary>
    /// Returns the child's pid, or -ENOMEM when the child's page tables cannot be allocated even after reclaim: then no
    /// child exists and nothing it took is left allocated.
    /// </summary>
    int Fork(int pid, int cpu);
    /// <summary>exec: 0, or -ENOMEM when the new address space cannot be allocated (the process keeps its old image and handlers).</summary>
    long Execve(int pid, int cpu);
    void Exit(int pid, int cpu, int code);
    /// <summary>Sends a signal (not forced) from a task running on <paramref name="cpu"/>: <see cref="SignalAction.RunHandler"/> when the target's handler must run.</summary>
    SignalAction Kill(int pid, int cpu, int target, int signo);

    long Mmap(int pid, ulong address, ulong length, Protection protection, MapFlags flags, string? file = null, ulong offset = 0) =>
        Mmap(pid, 0, address, length, protection, flags, file, offset);
    long Munmap(int pid, ulong address, ulong length) => Munmap(pid, 0, address, length);
    long Mprotect(int pid, ulong address, ulong length, Protection protection) => Mprotect(pid, 0, address, length, protection);
    long PkeyMprotect(int pid, ulong address, ulong length, Protection protection, int key) => PkeyMprotect(pid, 0, address, length, protection, key);
    long Brk(int pid, ulong newBreak) => Brk(pid, 0, newBreak);
    long MadviseDontNeed(int pid, ulong address, ulong length) => MadviseDontNeed(pid, 0, address, length);
    /// <summary><c>madvise(address, length, advice)</c>: 0, or Linux's errno (-EINVAL, -ENOMEM, -EFAULT...).</summary>
    long Madvise(int pid, int cpu, ulong address, ulong length, Advice advice) =>
        advice == Advice.DontNeed ? MadviseDontNeed(pid, cpu, address, length) : -Errno.ENOSYS;
    int Fork(int pid) => Fork(pid, 0);
    /// <summary>exec, ignoring the result (<see cref="Execve(int, int)"/> returns it).</summary>
    void Exec(int pid) => Execve(pid, 0);
    long Execve(int pid) => Execve(pid, 0);
    void Exit(int pid, int code) => Exit(pid, 0, code);
    SignalAction Kill(int pid, int target, int signo) => Kill(pid, 0, target, signo);

    /// <summary>Writes the task's PKRU register (two bits per key: access-disable, write-disable).</summary>
    void SetPkru(int pid, uint pkru);
    /// <summary>A thread: a new task sharing the address space; returns its pid (tid).</summary>
    int CloneThread(int pid);
    /// <summary>Reaps the child; returns its pid, or -ECHILD.</summary>
    long Wait(int pid, int child);

    void SetSignalDisposition(int pid, int signo, SignalDisposition disposition);
    void SetSignalBlocked(int pid, int signo, bool blocked);
    /// <summary>Enters a signal handler: the signal is blocked while it runs (sigaction without SA_NODEFER).</summary>
    void BeginSignalHandler(int pid, int signo);
    /// <summary>Returns from a signal handler (<c>sigreturn</c>): the mask before the handler is restored.</summary>
    void EndSignalHandler(int pid, int signo);

    /// <summary>One user access of up to 8 bytes on a CPU; a write stores <paramref name="value"/>.</summary>
    AccessResult Access(int pid, int cpu, ulong address, AccessKind kind, int size, ulong value);

    /// <summary>Creates a simulated file of <paramref name="size"/> bytes, each <paramref name="fill"/>.</summary>
    void CreateFile(string name, ulong size, byte fill);

    ProcessStatus Status(int pid);
    long Metric(string name);
    /// <summary>Every counter registered so far, by name (what a scenario's <c>reset</c> rebases).</summary>
    IReadOnlyDictionary<string, long> MetricSnapshot() => new Dictionary<string, long>();
    int CpuCount { get; }

    // ---- kernel mode -------------------------------------------------------------------------------------

    /// <summary>A kernel thread (no user address space); returns its pid.</summary>
    int SpawnKernelThread();
    /// <summary>
    /// <c>kmalloc</c> in a kernel context running on <paramref name="cpu"/> (where reclaim it needs runs): the direct-map address of one physically contiguous block (above two pages, SLUB's kmalloc_large:
    /// a buddy block of order get_order(size)), or 0 (NULL) when no free block is large enough or the size is above
    /// KMALLOC_MAX_SIZE (4 MiB).
    /// </summary>
    long Kmalloc(int cpu, ulong size);
    /// <summary><c>kfree</c> of an address <see cref="Kmalloc(int, ulong)"/> returned (NULL is ignored): the block returns to the buddy allocator.</summary>
    void Kfree(ulong address);
    /// <summary><c>vmalloc</c>: an address in the vmalloc range, or 0 on failure.</summary>
    long Vmalloc(int cpu, ulong size);

    /// <summary><see cref="Kmalloc(int, ulong)"/> on CPU 0.</summary>
    long Kmalloc(ulong size) => Kmalloc(0, size);
    /// <summary><see cref="Vmalloc(int, ulong)"/> on CPU 0.</summary>
    long Vmalloc(ulong size) => Vmalloc(0, size);
    /// <summary>A kernel-mode access made on behalf of <paramref name="pid"/> outside any uaccess window.</summary>
    AccessResult KernelAccess(int pid, int cpu, ulong address, AccessKind kind, int size, ulong value);
    /// <summary><c>get_user</c>: 0 and the value, or -EFAULT (value 0).</summary>
    long GetUser(int pid, int cpu, ulong address, int size, out ulong value);
    /// <summary><c>put_user</c>: 0 or -EFAULT.</summary>
    long PutUser(int pid, int cpu, ulong address, int size, ulong value);
    /// <summary>Opens <c>zero</c> (/dev/zero), <c>null</c> (/dev/null) or a simulated file; returns the fd or -ENOENT.</summary>
    long Open(int pid, string target);
    /// <summary>A pipe: its read and write ends.</summary>
    (int ReadFd, int WriteFd) Pipe(int pid);
    /// <summary><c>read(fd, buffer, count)</c> through copy_to_user: bytes read, or -EFAULT when nothing could be copied.</summary>
    long Read(int pid, int cpu, int fd, ulong buffer, ulong count);
    /// <summary><c>write(fd, buffer, count)</c> through copy_from_user: bytes written, or -EFAULT when nothing could be copied.</summary>
    long Write(int pid, int cpu, int fd, ulong buffer, ulong count);
    /// <summary>True once the machine has panicked (panic_on_oops): nothing more runs.</summary>
    bool Panicked { get; }

    /// <summary>Starts logging first writes to [address, address+length): present pages are write-protected (as live migration does).</summary>
    long TrackDirty(int pid, int cpu, ulong address, ulong length);
    /// <summary>The pages written since tracking started or since the last call, in address order; tracking is re-armed for them.</summary>
    IReadOnlyList<ulong> CollectDirty(int pid, int cpu);

    /// <summary>
    /// <c>mlock2(address, length, flags)</c> (<c>mlock</c> is flags 0): the range's VMAs are locked (their pages are never
    /// reclaimed) and, without <see cref="LockFlags.MlockOnFault"/>, populated. 0 or Linux's errno.
    /// </summary>
    long Mlock(int pid, int cpu, ulong address, ulong length, int flags) => -Errno.ENOSYS;
    /// <summary><c>munlock(address, length)</c>: 0 or Linux's errno.</summary>
    long Munlock(int pid, int cpu, ulong address, ulong length) => -Errno.ENOSYS;
    /// <summary><c>mlockall(flags)</c> with <see cref="LockFlags"/>: 0 or Linux's errno.</summary>
    long Mlockall(int pid, int cpu, int flags) => -Errno.ENOSYS;
    /// <summary><c>munlockall()</c>: 0.</summary>
    long Munlockall(int pid, int cpu) => -Errno.ENOSYS;

    /// <summary>
    /// <c>mremap(oldAddress, oldLength, newLength, flags, newAddress)</c> with <see cref="RemapFlags"/>: the mapping's
    /// (new) address, or Linux's errno (-EINVAL, -ENOMEM, -EFAULT). Pages move with their page-table entries.
    /// </summary>
    long Mremap(int pid, int cpu, ulong oldAddress, ulong oldLength, ulong newLength, int flags, ulong newAddress) => -Errno.ENOSYS;

    /// <summary>
    /// <c>mincore(address, length, vector)</c>: 0 and one byte per page in <paramref name="vector"/> (1: resident), or
    /// Linux's errno (-EINVAL, -ENOMEM; the bytes before a hole are filled). <paramref name="vector"/> holds at least one
    /// byte per page of the range.
    /// </summary>
    long Mincore(int pid, ulong address, ulong length, Span<byte> vector) => -Errno.ENOSYS;

    // ---- files (contract 1.6) ------------------------------------------------------------------------------

    /// <summary><c>close(fd)</c>: 0 or -EBADF. The last close of a pipe's read end makes writes to it -EPIPE and SIGPIPE.</summary>
    long Close(int pid, int fd) => -Errno.ENOSYS;
    /// <summary><c>lseek(fd, offset, whence)</c> with <see cref="Whence"/>: the new offset, -EINVAL (negative result, bad whence), -ESPIPE (a pipe) or -EBADF.</summary>
    long Lseek(int pid, int fd, long offset, int whence) => -Errno.ENOSYS;
    /// <summary><c>pread(fd, buffer, count, offset)</c>: as read at <paramref name="offset"/>, the file offset unchanged; -ESPIPE on a pipe.</summary>
    long Pread(int pid, int cpu, int fd, ulong buffer, ulong count, ulong offset) => -Errno.ENOSYS;
    /// <summary><c>pwrite(fd, buffer, count, offset)</c>: as write at <paramref name="offset"/>, the file offset unchanged; -ESPIPE on a pipe.</summary>
    long Pwrite(int pid, int cpu, int fd, ulong buffer, ulong count, ulong offset) => -Errno.ENOSYS;
    /// <summary><c>ftruncate(fd, length)</c>: 0, -EINVAL (negative length, not a regular file) or -EBADF. Shrinking unmaps the pages past the new end (a later access there is SIGBUS).</summary>
    long Ftruncate(int pid, int cpu, int fd, long length) => -Errno.ENOSYS;
    /// <summary><c>fsync(fd)</c> (<c>fdatasync</c> with <paramref name="dataOnly"/>): the file's dirty pages written back; 0, -EINVAL (a pipe or device) or -EBADF.</summary>
    long Fsync(int pid, int cpu, int fd, bool dataOnly) => -Errno.ENOSYS;
    /// <summary><c>msync(address, length, flags)</c> with <see cref="MsyncFlags"/>: 0 or Linux's errno (-EINVAL, -ENOMEM, -EBUSY).</summary>
    long Msync(int pid, int cpu, ulong address, ulong length, int flags) => -Errno.ENOSYS;
    /// <summary><c>unlink(name)</c>: 0 or -ENOENT. Whoever has the file open or mapped keeps it.</summary>
    long Unlink(string name) => -Errno.ENOSYS;
    /// <summary><c>memfd_create(name, 0)</c>: a descriptor of a new, empty shmem file.</summary>
    long MemfdCreate(int pid, string name) => -Errno.ENOSYS;
    /// <summary>
    /// <c>mmap(address, length, protection, flags, fd, offset)</c> of an open descriptor: a file or memfd as by name;
    /// /dev/zero private is anonymous memory, shared a new shmem object; a pipe or /dev/null is -ENODEV, a bad descriptor -EBADF.
    /// </summary>
    long MmapFd(int pid, int cpu, ulong address, ulong length, Protection protection, MapFlags flags, int fd, ulong offset) => -Errno.ENOSYS;

    /// <summary>The page at <paramref name="address"/> of a process as <c>/proc/PID/pagemap</c> shows it (nothing when the process has exited).</summary>
    PagemapEntry Pagemap(int pid, ulong address) => throw new NotSupportedException("this kernel does not show pagemap entries");

    long TrackDirty(int pid, ulong address, ulong length) => TrackDirty(pid, 0, address, length);
    IReadOnlyList<ulong> CollectDirty(int pid) => CollectDirty(pid, 0);
}

/// <summary>errno values (Linux x86-64).</summary>
public static class Errno
{
    public const int EPERM = 1;
    public const int ENOENT = 2;
    public const int ESRCH = 3;
    public const int EBADF = 9;
    public const int ECHILD = 10;
    public const int EAGAIN = 11;
    public const int ENOMEM = 12;
    public const int EACCES = 13;
    public const int EFAULT = 14;
    public const int EBUSY = 16;
    public const int EEXIST = 17;
    public const int ENODEV = 19;
    public const int EINVAL = 22;
    public const int ESPIPE = 29;
    public const int EPIPE = 32;
    public const int ENOSYS = 38;
    public const int EOPNOTSUPP = 95;

    public static string Name(long negative) => -negative switch
    {
        EPERM => "EPERM",
        ENOENT => "ENOENT",
        ESRCH => "ESRCH",
        EBADF => "EBADF",
        ECHILD => "ECHILD",
        EAGAIN => "EAGAIN",
        ENOMEM => "ENOMEM",
        EFAULT => "EFAULT",
        EPIPE => "EPIPE",
        ESPIPE => "ESPIPE",
        ENODEV => "ENODEV",
        EBUSY => "EBUSY",
        EACCES => "EACCES",
        EEXIST => "EEXIST",
        EINVAL => "EINVAL",
        ENOSYS => "ENOSYS",
        EOPNOTSUPP => "EOPNOTSUPP",
        _ => negative.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };

    public static bool TryParse(string name, out int value)
    {
        value = name.ToUpperInvariant() switch
        {
            "EPERM" => EPERM,
            "ENOENT" => ENOENT,
            "ESRCH" => ESRCH,
            "EBADF" => EBADF,
            "ECHILD" => ECHILD,
            "EAGAIN" => EAGAIN,
            "ENOMEM" => ENOMEM,
            "EFAULT" => EFAULT,
            "EPIPE" => EPIPE,
            "ESPIPE" => ESPIPE,
            "ENODEV" => ENODEV,
            "EBUSY" => EBUSY,
            "EACCES" => EACCES,
            "EEXIST" => EEXIST,
            "EINVAL" => EINVAL,
            "ENOSYS" => ENOSYS,
            "EOPNOTSUPP" => EOPNOTSUPP,
            _ => 0,
        };
        return value != 0;
    }
}
