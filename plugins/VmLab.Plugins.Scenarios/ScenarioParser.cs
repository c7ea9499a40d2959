using VmLab.Abstractions;
using VmLab.Abstractions.Plugins;
using VmLab.Abstractions.Signals;
using VmLab.Abstractions.Workloads;

namespace VmLab.Plugins.Scenarios;

/// <summary>
/// Parses a <c>.vms</c> scenario into steps. Everything is checked here, before anything runs: unknown statements,
/// names used before they are defined, bad numbers — each an error at file:line:column.
/// </summary>
public sealed class ScenarioParser
{
    private readonly string _file;
    private readonly HashSet<string> _tasks = new(StringComparer.Ordinal);
    private readonly HashSet<string> _regions = new(StringComparer.Ordinal);
    private readonly HashSet<string> _files = new(StringComparer.Ordinal);

    private static readonly string[] Verbs =
        ["mmap", "sbrk", "munmap", "mprotect", "pkey_mprotect", "pkey", "madvise", "kmalloc", "kfree", "vmalloc", "kread", "kwrite", "kfetch", "get_user", "put_user", "open", "pipe", "syscall", "track", "dirtylog", "fork", "thread", "exec", "exit", "wait", "on", "sigaction", "block", "unblock", "kill", "read", "write", "fetch", "memset", "memcpy", "mlock", "mlock2", "munlock", "mlockall", "munlockall", "mincore", "brk", "mremap", "close", "lseek", "ftruncate", "fsync", "fdatasync", "msync", "unlink", "memfd_create"];

    private ScenarioParser(string file) => _file = file;

    public static IReadOnlyList<Step> Parse(string file, string text)
    {
        var parser = new ScenarioParser(file);
        var steps = new List<Step>();
        var lines = text.Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            var tokens = Tokenize(lines[i], i + 1);
            if (tokens.Count == 0) continue;
            steps.Add(parser.Statement(new TokenCursor(file, tokens, i + 1), lines[i]));
        }
        return steps;
    }

    public static List<Token> Tokenize(string line, int lineNumber)
    {
        var tokens = new List<Token>();
        int i = 0;
        while (i < line.Length)
        {
            char c = line[i];
            if (c == '#') break;
            if (char.IsWhiteSpace(c)) { i++; continue; }
            if (c == ';')
            {
                tokens.Add(new Token(";", lineNumber, i + 1));
                i++;
                continue;
            }
            int start = i;
            while (i < line.Length && !char.IsWhiteSpace(line[i]) && line[i] != '#' && line[i] != ';') i++;
            tokens.Add(new Token(line[start..i], lineNumber, start + 1));
        }
        return tokens;
    }

    private bool RegionKnown(string name) => _regions.Contains(name);

    private string KnownTask(TokenCursor c, string what = "a process name")
    {
        var t = c.Next(what);
        if (!_tasks.Contains(t.Text))
            throw c.Error($"unknown process '{t.Text}': declare it with 'process {t.Text}' (or fork/thread) first", t);
        return t.Text;
    }

    private string NewTask(TokenCursor c)
    {
        var t = c.Peek;
        string name = c.Name("a new process name");
        if (_tasks.Contains(name) || Verbs.Contains(name) || name is "process" or "kthread" or "file" or "expect" or "reset" or "metric" or "machine")
            throw c.Error($"'{name}' is already used; choose another process name", t);
        _tasks.Add(name);
        return name;
    }

    private Step Statement(TokenCursor c, string source)
    {
        int line = c.Line;
        var first = c.Next("a statement");
        switch (first.Text)
        {
            case "file":
            {
                string name = c.Name("a file name");
                ulong size = (ulong)c.Number("a file size");
                byte fill = 0;
                if (c.TryTake("fill"))
                {
                    long f = c.Number("a fill byte");
                    if (f is < 0 or > 255) throw c.Error("the fill byte is 0 to 255");
                    fill = (byte)f;
                }
                c.End();
                _files.Add(name);
                return new FileStep(line, name, size, fill);
            }
            case "process":
            {
                string name = NewTask(c);
                int cpu = c.TryTake("cpu") ? (int)c.Number("a CPU number") : 0;
                c.End();
                return new ProcessStep(line, name, cpu);
            }
            case "kthread":
            {
                string name = NewTask(c);
                int cpu = c.TryTake("cpu") ? (int)c.Number("a CPU number") : 0;
                c.End();
                return new KthreadStep(line, name, cpu);
            }
            case "expect":
                return Expect(c, line, source);
            case "reset":
                c.End();
                return new ResetStep(line);
        }

        if (!_tasks.Contains(first.Text))
        {
            if (TokenCursor.IsName(first.Text) && c.Peek is { } v && Verbs.Contains(v.Text))
                throw c.Error($"unknown process '{first.Text}': declare it with 'process {first.Text}' first", first);
            throw c.Error($"unknown statement '{first.Text}'; a statement is 'file', 'process', 'kthread', 'expect', 'reset', or '<process> <verb> ...' with a verb of: {string.Join(", ", Verbs)}", first);
        }
        string task = first.Text;
        var verb = c.Next("a verb");
        Step step = verb.Text switch
        {
            "mmap" => Mmap(c, line, task),
            "sbrk" => Sbrk(c, line, task),
            "munmap" => new RangeStep(line, task, RangeCall.Munmap, c.Range(RegionKnown), Protection.None),
            "mprotect" => new RangeStep(line, task, RangeCall.Mprotect, c.Range(RegionKnown), c.Protection()),
            "madvise" => Madvise(c, line, task),
            "pkey_mprotect" => PkeyMprotect(c, line, task),
            "pkey" => Pkey(c, line, task),
            "fork" => new ForkStep(line, task, NewTask(c)),
            "thread" => new ThreadStep(line, task, NewTask(c), c.TryTake("cpu") ? (int)c.Number("a CPU number") : null),
            "exec" => new ExecStep(line, task),
            "exit" => new ExitStep(line, task, c.AtEnd ? 0 : (int)c.Number("an exit code")),
            "wait" => new WaitStep(line, task, KnownTask(c, "a child process name")),
            "on" => OnCpu(c, line, task),
            "sigaction" => Sigaction(c, line, task),
            "block" => new MaskStep(line, task, c.Signal(), Block: true),
            "unblock" => new MaskStep(line, task, c.Signal(), Block: false),
            "kill" => new KillStep(line, task, KnownTask(c, "a target process name"), c.Signal()),
            "kmalloc" => KernelAlloc(c, line, task, vmalloc: false),
            "kfree" => Kfree(c, line, task),
            "vmalloc" => KernelAlloc(c, line, task, vmalloc: true),
            "kread" => KernelAccess(c, line, task, AccessKind.Read),
            "kwrite" => KernelAccess(c, line, task, AccessKind.Write),
            "kfetch" => KernelAccess(c, line, task, AccessKind.Fetch),
            "get_user" => UserCopy(c, line, task, put: false),
            "put_user" => UserCopy(c, line, task, put: true),
            "open" => Open(c, line, task),
            "pipe" => new PipeStep(line, task, NewFd(c), NewFd(c)),
            "syscall" => Syscall(c, line, task),
            "track" => new TrackStep(line, task, c.Range(RegionKnown)),
            "dirtylog" => new DirtyLogStep(line, task),
            "read" => Access(c, line, task, AccessKind.Read),
            "write" => Access(c, line, task, AccessKind.Write),
            "fetch" => Access(c, line, task, AccessKind.Fetch),
            "memset" => Memset(c, line, task),
            "mremap" => Mremap(c, line, task),
            "mincore" => new MincoreStep(line, task, c.Range(RegionKnown)),
            "brk" => new BrkStep(line, task, c.Address(RegionKnown)),
            "mlock" => new LockStep(line, task, LockCall.Mlock, c.Range(RegionKnown), 0),
            "mlock2" => Mlock2(c, line, task),
            "munlock" => new LockStep(line, task, LockCall.Munlock, c.Range(RegionKnown), 0),
            "mlockall" => Mlockall(c, line, task),
            "munlockall" => new LockStep(line, task, LockCall.Munlockall, null, 0),
            "memcpy" => Memcpy(c, line, task),
            "close" => new FdStep(line, task, FdCall.Close, KnownFd(c), 0, 0),
            "lseek" => Lseek(c, line, task),
            "ftruncate" => new FdStep(line, task, FdCall.Ftruncate, KnownFd(c), c.Number("a length"), 0),
            "fsync" => new FdStep(line, task, FdCall.Fsync, KnownFd(c), 0, 0),
            "fdatasync" => new FdStep(line, task, FdCall.Fdatasync, KnownFd(c), 0, 0),
            "msync" => Msync(c, line, task),
            "unlink" => Unlink(c, line, task),
            "memfd_create" => new MemfdStep(line, task, NewFd(c)),
            _ => throw c.Error($"unknown verb '{verb.Text}'; verbs: {string.Join(", ", Verbs)}", verb),
        };
        c.End();
        return step;
    }

    private Step Mmap(TokenCursor c, int line, string task)
    {
        string region = c.Name("a region name");
        ulong length = c.Size("a length");
        var prot = c.Protection();
        var flags = MapFlags.Private;
        string? file = null, fd = null;
        ulong offset = 0;
        AddressExpr? at = null;
        while (!c.AtEnd)
        {
            var t = c.Next("an mmap flag");
            switch (t.Text)
            {
                case "private": flags &= ~(MapFlags.Shared | MapFlags.SharedValidate); break;
                case "shared": flags |= MapFlags.Shared; break;
                case "anon": break;
                case "populate": flags |= MapFlags.Populate; break;
                case "growsdown": flags |= MapFlags.GrowsDown; break;
                case "fixed": flags |= MapFlags.Fixed; break;
                case "fixed_noreplace": flags |= MapFlags.FixedNoReplace; break;
                case "shared_validate": flags |= MapFlags.Shared | MapFlags.SharedValidate; break;
                case "sync": flags |= MapFlags.Sync; break;
                case "unknown_flag": flags |= MapFlags.UnknownFlag; break;
                case "device":
                    flags |= MapFlags.Device | MapFlags.Shared;
                    file = c.Name("a device name (machine:devices)");
                    break;
                case "at": at = c.Address(RegionKnown); break;
                case "offset": offset = (ulong)c.Number("a file offset"); break;
                case "fd":
                    fd = KnownFd(c);
                    break;
                case "file":
                    var ft = c.Peek;
                    file = c.Name("a file name");
                    if (!_files.Contains(file)) throw c.Error($"unknown file '{file}': declare it with 'file {file} <size>' first", ft);
                    break;
                default:
                    throw c.Error($"unknown mmap flag '{t.Text}'; flags: private, shared, shared_validate, anon, file NAME, fd DESCRIPTOR, device NAME, offset N, at ADDR, fixed, fixed_noreplace, populate, growsdown, sync, unknown_flag", t);
            }
        }
        if ((flags & MapFlags.Fixed) != 0 && at is null) throw c.Error("'fixed' needs 'at ADDR'");
        if ((flags & MapFlags.FixedNoReplace) != 0 && at is null) throw c.Error("'fixed_noreplace' needs 'at ADDR'");
        if (fd is not null && file is not null) throw c.Error("an mmap maps 'file NAME' or 'fd DESCRIPTOR', not both");
        _regions.Add(region);
        _kmallocRegions.Remove(region);
        return new MmapStep(line, task, region, length, prot, flags, file, offset, at) { Fd = fd };
    }

    private Step Sbrk(TokenCursor c, int line, string task)
    {
        string region = c.Name("a region name");
        ulong length = c.Size("a length");
        _regions.Add(region);
        _kmallocRegions.Remove(region);
        return new SbrkStep(line, task, region, length);
    }

    private Step PkeyMprotect(TokenCursor c, int line, string task)
    {
        var range = c.Range(RegionKnown);
        var prot = c.Protection();
        var keyToken = c.Peek;
        long key = c.Number("a protection key (1 to 15)");
        if (key is < 1 or > 15) throw c.Error("a protection key is 1 to 15 (key 0 is the default key)", keyToken);
        return new RangeStep(line, task, RangeCall.PkeyMprotect, range, prot, (int)key);
    }

    /// <summary>pkey KEY allow|deny-write|deny-access: the task's PKRU rights for that key.</summary>
    private static Step Pkey(TokenCursor c, int line, string task)
    {
        var keyToken = c.Peek;
        long key = c.Number("a protection key (0 to 15)");
        if (key is < 0 or > 15) throw c.Error("a protection key is 0 to 15", keyToken);
        var r = c.Next("allow, deny-write or deny-access");
        return r.Text switch
        {
            "allow" => new PkruStep(line, task, (int)key, false, false),
            "deny-write" => new PkruStep(line, task, (int)key, false, true),
            "deny-access" => new PkruStep(line, task, (int)key, true, false),
            _ => throw c.Error($"expected allow, deny-write or deny-access, got '{r.Text}'", r),
        };
    }

    private readonly HashSet<string> _fds = new(StringComparer.Ordinal);

    private string NewFd(TokenCursor c)
    {
        string name = c.Name("a descriptor name");
        _fds.Add(name);
        return name;
    }

    private readonly HashSet<string> _kmallocRegions = new(StringComparer.Ordinal);

    private Step KernelAlloc(TokenCursor c, int line, string task, bool vmalloc)
    {
        string region = c.Name("a region name");
        ulong length = c.Size("a length");
        _regions.Add(region);
        if (vmalloc) _kmallocRegions.Remove(region);
        else _kmallocRegions.Add(region);
        return new KernelAllocStep(line, task, region, length, vmalloc);
    }

    private Step Kfree(TokenCursor c, int line, string task)
    {
        var t = c.Peek;
        string region = c.Name("a region name");
        if (!_kmallocRegions.Contains(region))
            throw c.Error(_regions.Contains(region) ? $"region '{region}' was not made by kmalloc; kfree frees only kmalloc regions" : $"unknown region '{region}': kmalloc it first", t);
        return new KfreeStep(line, task, region);
    }

    private Step KernelAccess(TokenCursor c, int line, string task, AccessKind kind)
    {
        var address = c.Address(RegionKnown);
        var valueToken = c.Peek;
        ulong v = kind == AccessKind.Write ? (ulong)c.Number("the value to write") : 0;
        int size = AccessSize(c);
        if (size < 8 && (v >> (8 * size)) != 0) throw c.Error($"the value 0x{v:x} does not fit in {size} byte(s); add 'size N'", valueToken);
        return new KernelAccessStep(line, task, kind, address, size, v);
    }

    private Step UserCopy(TokenCursor c, int line, string task, bool put)
    {
        var address = c.Address(RegionKnown);
        var valueToken = c.Peek;
        ulong v = put ? (ulong)c.Number("the value to store") : 0;
        int size = AccessSize(c);
        if (size < 8 && (v >> (8 * size)) != 0) throw c.Error($"the value 0x{v:x} does not fit in {size} byte(s); add 'size N'", valueToken);
        return new UserCopyStep(line, task, put, address, size, v);
    }

    private static int AccessSize(TokenCursor c)
    {
        if (!c.TryTake("size")) return 1;
        var t = c.Peek;
        long size = c.Number("an access size");
        if (size is not (1 or 2 or 4 or 8)) throw c.Error("an access size is 1, 2, 4 or 8 bytes", t);
        return (int)size;
    }

    private Step Open(TokenCursor c, int line, string task)
    {
        string fd = NewFd(c);
        var what = c.Next("zero, null or file NAME");
        string target = what.Text switch
        {
            "zero" => "zero",
            "null" => "null",
            "file" => c.Name("a file name"),
            _ => throw c.Error($"expected zero (/dev/zero), null (/dev/null) or file NAME, got '{what.Text}'", what),
        };
        if (what.Text == "file" && !_files.Contains(target)) throw c.Error($"unknown file '{target}': declare it with 'file {target} <size>' first");
        return new OpenStep(line, task, fd, target);
    }

    private Step Syscall(TokenCursor c, int line, string task)
    {
        var call = c.Next("read, write, pread or pwrite");
        if (call.Text is not ("read" or "write" or "pread" or "pwrite"))
            throw c.Error($"expected the system call read, write, pread or pwrite, got '{call.Text}'", call);
        string fd = KnownFd(c);
        var buffer = c.Address(RegionKnown);
        ulong count = (ulong)c.Number("a byte count");
        bool positioned = call.Text is "pread" or "pwrite";
        ulong? offset = positioned ? (ulong)c.Number("a file offset") : null;
        return new SyscallStep(line, task, call.Text is "write" or "pwrite", fd, buffer, count) { Offset = offset };
    }

    private string KnownFd(TokenCursor c)
    {
        var fdToken = c.Peek;
        string fd = c.Name("a descriptor name");
        if (!_fds.Contains(fd)) throw c.Error($"unknown descriptor '{fd}': open it (or make a pipe, or memfd_create it) first", fdToken);
        return fd;
    }

    private static Step Lseek(TokenCursor c, int line, string task, string fd, long offset)
    {
        int whence = Whence.Set;
        if (!c.AtEnd)
        {
            var t = c.Next("set, cur, end or a number");
            whence = t.Text switch
            {
                "set" => Whence.Set,
                "cur" => Whence.Current,
                "end" => Whence.End,
                _ when TokenCursor.TryNumber(t.Text, out long raw) && raw is >= int.MinValue and <= int.MaxValue => (int)raw,
                _ => throw c.Error($"expected the whence set, cur, end or a number, got '{t.Text}'", t),
            };
        }
        return new FdStep(line, task, FdCall.Lseek, fd, offset, whence);
    }

    private Step Lseek(TokenCursor c, int line, string task)
    {
        string fd = KnownFd(c);
        return Lseek(c, line, task, fd, c.Number("an offset"));
    }

    private Step Msync(TokenCursor c, int line, string task)
    {
        var range = c.Range(RegionKnown);
        int flags = 0;
        while (!c.AtEnd)
        {
            var t = c.Next("an msync flag");
            flags |= t.Text switch
            {
                "sync" => MsyncFlags.Sync,
                "async" => MsyncFlags.Async,
                "invalidate" => MsyncFlags.Invalidate,
                "flags" => (int)c.Number("raw flag bits"),
                _ => throw c.Error($"unknown msync flag '{t.Text}'; flags: sync, async, invalidate, flags N", t),
            };
        }
        return new MsyncStep(line, task, range, flags);
    }

    private Step Unlink(TokenCursor c, int line, string task)
    {
        var t = c.Peek;
        string name = c.Name("a file name");
        if (!_files.Contains(name)) throw c.Error($"unknown file '{name}': declare it with 'file {name} <size>' first", t);
        return new UnlinkStep(line, task, name);
    }

    /// <summary>The advice names a scenario's madvise takes, and the advice each is.</summary>
    private static readonly (string Name, Advice Advice)[] Advices =
    [
        ("dontneed", Advice.DontNeed), ("free", Advice.Free), ("dontfork", Advice.DontFork), ("dofork", Advice.DoFork),
        ("wipeonfork", Advice.WipeOnFork), ("keeponfork", Advice.KeepOnFork), ("cold", Advice.Cold), ("pageout", Advice.PageOut),
        ("populate_read", Advice.PopulateRead), ("populate_write", Advice.PopulateWrite), ("normal", Advice.Normal),
        ("random", Advice.Random), ("sequential", Advice.Sequential),
    ];

    private Step Madvise(TokenCursor c, int line, string task)
    {
        var range = c.Range(RegionKnown);
        var t = c.Next("an advice");
        foreach (var (name, advice) in Advices)
            if (string.Equals(t.Text, name, StringComparison.OrdinalIgnoreCase))
                return new MadviseStep(line, task, range, advice);
        throw c.Error($"unknown advice '{t.Text}'; advice: {string.Join(", ", Advices.Select(a => a.Name))}", t);
    }

    private static Step OnCpu(TokenCursor c, int line, string task)
    {
        c.Expect("cpu");
        return new CpuStep(line, task, (int)c.Number("a CPU number"));
    }

    private Step Access(TokenCursor c, int line, string task, AccessKind kind)
    {
        if (c.TryTake("every"))
        {
            c.Expect("page");
            c.Expect("of");
            var range = c.Range(RegionKnown);
            ulong value = 0;
            if (kind == AccessKind.Write && c.TryTake("value"))
            {
                value = (ulong)c.Number("a byte value");
                if (value > 255) throw c.Error("an every-page write stores one byte: 0 to 255");
            }
            return new EveryPageStep(line, task, kind, range, value);
        }
        var address = c.Address(RegionKnown);
        ulong v = 0;
        var valueToken = c.Peek;
        if (kind == AccessKind.Write) v = (ulong)c.Number("the value to write");
        int size = 1;
        if (c.TryTake("size"))
        {
            size = (int)c.Number("an access size");
            if (size is < 1 or > 8) throw c.Error("an access size is 1 to 8 bytes");
        }
        if (size < 8 && (v >> (8 * size)) != 0) throw c.Error($"the value 0x{v:x} does not fit in {size} byte(s); add 'size N'", valueToken);
        return new AccessStep(line, task, kind, address, size, v);
    }

    /// <summary>memset RANGE BYTE: stores the byte over the range, in rising address order.</summary>
    private Step Memset(TokenCursor c, int line, string task)
    {
        var range = c.Range(RegionKnown);
        var valueToken = c.Peek;
        long value = c.Number("the byte to store (0 to 255)");
        if (value is < 0 or > 255) throw c.Error("memset stores one byte: 0 to 255", valueToken);
        return new MemsetStep(line, task, range, (byte)value);
    }

    /// <summary>memcpy DST SRC N: copies N bytes, in rising address order.</summary>
    private Step Memcpy(TokenCursor c, int line, string task)
    {
        var destination = c.Address(RegionKnown);
        var source = c.Address(RegionKnown);
        ulong count = c.Size("a byte count");
        return new MemcpyStep(line, task, destination, source, count);
    }

    /// <summary>mremap NEWREGION ADDR OLDLEN NEWLEN [maymove] [fixed ADDR] [dontunmap] [flags N]: names the result.</summary>
    private Step Mremap(TokenCursor c, int line, string task)
    {
        string region = c.Name("a name for the remapped region");
        var address = c.Address(RegionKnown);
        var oldToken = c.Peek;
        long oldLength = c.Number("the old length");
        var newToken = c.Peek;
        long newLength = c.Number("the new length");
        if (oldLength < 0) throw c.Error("a length is 0 or more", oldToken);
        if (newLength < 0) throw c.Error("a length is 0 or more", newToken);
        int flags = 0;
        AddressExpr? target = null;
        while (!c.AtEnd)
        {
            var t = c.Next("an mremap flag");
            switch (t.Text)
            {
                case "maymove": flags |= RemapFlags.MayMove; break;
                case "fixed": flags |= RemapFlags.Fixed; target = c.Address(RegionKnown); break;
                case "dontunmap": flags |= RemapFlags.DontUnmap; break;
                case "flags": flags |= (int)c.Number("raw flag bits"); break;
                default: throw c.Error($"unknown mremap flag '{t.Text}'; flags: maymove, fixed ADDR, dontunmap, flags N", t);
            }
        }
        _regions.Add(region);
        _kmallocRegions.Remove(region);
        return new MremapStep(line, task, region, address, (ulong)oldLength, (ulong)newLength, flags, target);
    }

    /// <summary>mlock2 RANGE [onfault | FLAGS]: FLAGS a number passes raw flags (unknown bits give -EINVAL).</summary>
    private Step Mlock2(TokenCursor c, int line, string task)
    {
        var range = c.Range(RegionKnown);
        int flags = 0;
        if (c.TryTake("onfault")) flags = LockFlags.MlockOnFault;
        else if (!c.AtEnd) flags = (int)c.Number("onfault or a flags number");
        return new LockStep(line, task, LockCall.Mlock, range, flags);
    }

    /// <summary>mlockall [current] [future] [onfault]: no word is mlockall(0) (-EINVAL).</summary>
    private static Step Mlockall(TokenCursor c, int line, string task)
    {
        int flags = 0;
        while (!c.AtEnd)
        {
            var t = c.Next("current, future or onfault");
            flags |= t.Text switch
            {
                "current" => LockFlags.Current,
                "future" => LockFlags.Future,
                "onfault" => LockFlags.OnFault,
                _ => throw c.Error($"unknown mlockall flag '{t.Text}'; flags: current, future, onfault", t),
            };
        }
        return new LockStep(line, task, LockCall.Mlockall, null, flags);
    }

    /// <summary>The states a page expectation names, as /proc/PID/pagemap shows them.</summary>
    private static readonly string[] PageStates = ["present", "swapped", "exclusive", "file"];

    private static PageState PageStateOf(TokenCursor c)
    {
        var t = c.Next("a page state (present, swapped, exclusive or file)");
        return t.Text switch
        {
            "present" => PageState.Present,
            "swapped" => PageState.Swapped,
            "exclusive" => PageState.Exclusive,
            "file" => PageState.File,
            _ => throw c.Error($"unknown page state '{t.Text}'; states: {string.Join(", ", PageStates)}, each optionally after 'not'", t),
        };
    }

    /// <summary>
    /// expect P page ADDR [not] STATE; expect P page ADDR frame ==|!= Q page ADDR frame; expect P pages RANGE STATE OP N.
    /// </summary>
    private Step ExpectPage(TokenCursor c, int line, string text, string task, bool many)
    {
        if (many)
        {
            var range = c.Range(RegionKnown);
            var state = PageStateOf(c);
            return new ExpectPageCount(line, text, task, range, state, c.Comparison(), c.Value());
        }
        var address = c.Address(RegionKnown);
        if (c.TryTake("frame"))
        {
            var opToken = c.Peek;
            var op = c.Comparison();
            if (op is not (Comparison.Equal or Comparison.NotEqual)) throw c.Error("frames compare with == or !=", opToken);
            string other = KnownTask(c);
            c.Expect("page");
            var otherAddress = c.Address(RegionKnown);
            c.Expect("frame");
            return new ExpectFrames(line, text, task, address, op == Comparison.Equal, other, otherAddress);
        }
        bool negated = c.TryTake("not");
        return new ExpectPage(line, text, task, address, PageStateOf(c), negated);
    }

    private Step Sigaction(TokenCursor c, int line, string task)
    {
        var signalToken = c.Peek;
        int signo = c.Signal();
        var d = c.Next("default, ignore or handler");
        switch (d.Text)
        {
            case "default": return new SigactionStep(line, task, signo, SignalDisposition.Default, null);
            case "ignore": return new SigactionStep(line, task, signo, SignalDisposition.Ignore, null);
            case "handler": break;
            default: throw c.Error($"expected default, ignore or handler, got '{d.Text}'", d);
        }
        if (signo is Signal.SIGKILL or 19) throw c.Error($"{TokenCursor.SignalName(signo)} cannot be caught", signalToken);
        var actions = new List<HandlerAction>();
        var end = HandlerEnd.Return;
        int exitCode = 0, limit = 3;
        bool ended = false;
        while (!c.AtEnd)
        {
            var t = c.Next("a handler action");
            if (ended && t.Text != "limit") throw c.Error($"nothing may follow '{end.ToString().ToLowerInvariant()}' except 'limit N'", t);
            switch (t.Text)
            {
                case ";": continue;
                case "record": actions.Add(new RecordAction(line)); break;
                case "mprotect": actions.Add(new MprotectAction(line, c.Range(RegionKnown), c.Protection())); break;
                case "write": actions.Add(new AccessAction(line, AccessKind.Write, c.Address(RegionKnown), (ulong)c.Number("a value"))); break;
                case "read": actions.Add(new AccessAction(line, AccessKind.Read, c.Address(RegionKnown), 0)); break;
                case "return": end = HandlerEnd.Return; ended = true; break;
                case "skip": end = HandlerEnd.Skip; ended = true; break;
                case "exit":
                    end = HandlerEnd.Exit;
                    ended = true;
                    if (c.PeekIsNumber) exitCode = (int)c.Number("an exit code");
                    break;
                case "limit":
                    limit = (int)c.Number("how many times the access may re-execute");
                    if (limit < 0) throw c.Error("limit is 0 or more");
                    break;
                default:
                    throw c.Error($"unknown handler action '{t.Text}'; actions: record, mprotect RANGE PROT, write ADDR VALUE, read ADDR, then return, skip or exit [CODE]; and limit N", t);
            }
        }
        return new SigactionStep(line, task, signo, SignalDisposition.Handler, new Handler(actions, end, exitCode, limit));
    }

    private Step Expect(TokenCursor c, int line, string source)
    {
        string text = source[(source.IndexOf("expect", StringComparison.Ordinal) + "expect".Length)..].Split('#')[0].Trim();
        var t = c.Peek ?? throw c.Error("expect what? e.g. 'expect p minflt == 1000', 'expect metric faults.cow_copy == 10', 'expect p signal SIGSEGV code SEGV_MAPERR addr 0x10'");
        if (t.Text == "machine")
        {
            c.Next("machine");
            var state = c.Next("panicked or running");
            if (state.Text is not ("panicked" or "running")) throw c.Error($"expected panicked or running, got '{state.Text}'", state);
            c.End();
            return new ExpectMachine(line, text, state.Text == "panicked");
        }
        if (t.Text == "metric")
        {
            c.Next("metric");
            var nameToken = c.Next("a metric name");
            CheckMetricName(c, nameToken);
            if (c.Peek is { Text: "unregistered" })
            {
                c.Next("unregistered");
                c.End();
                return new ExpectMetricUnregistered(line, text, nameToken.Text);
            }
            var op = c.Comparison();
            long v = c.Value();
            c.End();
            return new ExpectMetric(line, text, nameToken.Text, op, v);
        }
        string task = KnownTask(c);
        var what = c.Next("what to expect of the process");
        Step step;
        switch (what.Text)
        {
            case "minflt": case "majflt": case "faults": case "rss": case "handled": case "value": case "ret":
            {
                var counter = what.Text switch
                {
                    "minflt" => TaskCounter.Minflt, "majflt" => TaskCounter.Majflt, "faults" => TaskCounter.Faults,
                    "rss" => TaskCounter.Rss, "handled" => TaskCounter.Handled, "value" => TaskCounter.Value, _ => TaskCounter.Ret,
                };
                var op = c.Comparison();
                // expect P ret OP REGION[+N]: the return compared with an address (what mmap or mremap returned).
                if (counter == TaskCounter.Ret && c.Peek is { } r && !TokenCursor.TryNumber(r.Text, out _) && !r.Text.StartsWith('-'))
                    step = new ExpectCounter(line, text, task, counter, op, 0, c.Address(RegionKnown));
                else step = new ExpectCounter(line, text, task, counter, op, c.Value());
                break;
            }
            case "signal":
            {
                int signo = c.Signal();
                int? code = null, pkey = null;
                AddressExpr? addr = null;
                while (!c.AtEnd)
                {
                    var k = c.Next("code, addr or pkey");
                    if (k.Text == "code") code = c.SiCode();
                    else if (k.Text == "addr") addr = c.Address(RegionKnown);
                    else if (k.Text == "pkey") pkey = (int)c.Number("a protection key");
                    else throw c.Error($"expected 'code', 'addr' or 'pkey', got '{k.Text}'", k);
                }
                step = new ExpectSignal(line, text, task, signo, code, addr, pkey);
                break;
            }
            case "mincore":
            {
                var k = c.Next("vector or resident");
                if (k.Text == "vector")
                {
                    var bits = c.Next("the residency vector, one 0 or 1 per page (e.g. 10110000)");
                    if (bits.Text.Length == 0 || bits.Text.Any(ch => ch is not ('0' or '1')))
                        throw c.Error($"a residency vector is one 0 or 1 per page (e.g. 10110000), got '{bits.Text}'", bits);
                    step = new ExpectMincoreVector(line, text, task, bits.Text);
                }
                else if (k.Text == "resident") step = new ExpectMincoreCount(line, text, task, c.Comparison(), c.Value());
                else throw c.Error($"expected 'vector' or 'resident' after 'mincore', got '{k.Text}'", k);
                break;
            }
            case "page": case "pages":
                step = ExpectPage(c, line, text, task, many: what.Text == "pages");
                break;
            case "no":
                c.Expect("signal");
                step = new ExpectSignal(line, text, task, null, null, null);
                break;
            case "alive": step = new ExpectLife(line, text, task, LifeState.Alive, null, null, null); break;
            case "dead": step = new ExpectLife(line, text, task, LifeState.Dead, null, null, null); break;
            case "killed":
            {
                int? signo = c.AtEnd || c.Peek!.Value.Text is "core" or "nocore" ? null : c.Signal();
                bool? core = c.TryTake("core") ? true : c.TryTake("nocore") ? false : null;
                step = new ExpectLife(line, text, task, LifeState.Killed, signo, core, null);
                break;
            }
            case "exited":
                step = new ExpectLife(line, text, task, LifeState.Exited, null, null, c.AtEnd ? null : (int)c.Number("an exit code"));
                break;
            default:
                throw c.Error($"unknown expectation '{what.Text}'; expect <process> minflt|majflt|faults|rss|handled|value|ret OP N, signal SIG [code C] [addr A], no signal, alive, dead, killed [SIG] [core|nocore], exited [CODE], page ADDR [not] present|swapped|exclusive|file, page ADDR frame ==|!= Q page ADDR frame, pages RANGE STATE OP N, mincore vector BITS, mincore resident OP N; or expect metric NAME OP N", what);
        }
        c.End();
        return step;
    }

    /// <summary>
    /// The metric names a scenario can be checked against when it is parsed: the contract's <see cref="MetricNames"/>
    /// and the counters built-in components register.
    /// </summary>
    public static IReadOnlyList<string> KnownMetricNames { get; } =
    [
        .. typeof(MetricNames).GetFields(System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Static)
            .Where(f => f.IsLiteral && f.FieldType == typeof(string)).Select(f => (string)f.GetRawConstantValue()!),
        .. ScenarioRun.KnownMetrics, .. ScenarioRun.BuiltInCounters,
    ];

    /// <summary>
    /// A metric name must look like one (<c>faults.total</c>); a name within two edits of a known one that is not
    /// itself known is a misspelling (<c>faults.totl</c>) and an error here. Other names may be a plugin's own
    /// counter: the run checks that something registered them.
    /// </summary>
    private static void CheckMetricName(TokenCursor c, Token name)
    {
        string text = name.Text;
        if (!System.Text.RegularExpressions.Regex.IsMatch(text, "^[a-z][a-z0-9_]*(\\.[a-z0-9_-]+)*$"))
            throw c.Error($"'{text}' is not a metric name (lower-case words joined by '.', e.g. faults.total)", name);
        var known = KnownMetricNames.Distinct(StringComparer.Ordinal).ToList();
        if (known.Contains(text, StringComparer.Ordinal)) return;
        // Of equally near names, the one sharing the longest prefix: tlb.miss is tlb.misses, not tlb.hits.
        var nearest = known.Select(k => (Name: k, Distance: EditDistance(text, k), Prefix: CommonPrefix(text, k)))
            .OrderBy(x => x.Distance).ThenByDescending(x => x.Prefix).ThenBy(x => x.Name, StringComparer.Ordinal).First();
        if (nearest.Distance <= 2)
            throw c.Error($"unknown metric '{text}'; did you mean '{nearest.Name}'? (metric names: docs/metrics.md)", name);
    }

    private static int CommonPrefix(string a, string b)
    {
        int n = 0;
        while (n < a.Length && n < b.Length && a[n] == b[n]) n++;
        return n;
    }

    private static int EditDistance(string a, string b)
    {
        var previous = new int[b.Length + 1];
        var current = new int[b.Length + 1];
        for (int j = 0; j <= b.Length; j++) previous[j] = j;
        for (int i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (int j = 1; j <= b.Length; j++)
                current[j] = Math.Min(Math.Min(current[j - 1] + 1, previous[j] + 1), previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
            (previous, current) = (current, previous);
        }
        return previous[b.Length];
    }
}
