using VmLab.Abstractions;
using VmLab.Abstractions.Faults;
using VmLab.Abstractions.Signals;

namespace VmLab.Core.Kernel;

/// <summary>A virtual memory area: [Start, End), page-aligned.</summary>
public sealed class Vma(ulong start, ulong end, Protection protection, VmaFlags flags)
{
    public ulong Start { get; set; } = start;
    public ulong End { get; set; } = end;
    public Protection Protection { get; set; } = protection;
    public VmaFlags Flags { get; set; } = flags;
    public string? FileName { get; init; }
    public ulong FileOffset { get; init; }
    public ulong FileSize { get; init; }
    public byte ProtectionKey { get; set; }
    /// <summary>
    /// The VMA has (or had) anonymous pages: Linux's <c>vma-&gt;anon_vma</c>, prepared when a private page of its own
    /// is first mapped (a write to anonymous memory, a COW copy, a grown stack) and never dropped while the VMA lives —
    /// not by the zero page, not by a page-cache page mapped read-only. Kept by a split and inherited by fork
    /// (<c>anon_vma_fork</c>). fork copies a VMA's page-table entries only when it is set (<c>vma_needs_copy</c>).
    /// </summary>
    public bool HasAnonVma { get; set; }

    public VmaInfo Info => new(Start, End, Protection, Flags, FileName, FileOffset, FileSize, ProtectionKey);
    public bool Contains(ulong address) => address >= Start && address < End;
    public override string ToString() => $"[0x{Start:x}-0x{End:x}) {Protection} {Flags}";
}

/// <summary>An address space (<c>mm_struct</c>): page-table root, ASID, VMAs sorted by start and non-overlapping; shared by threads.</summary>
public sealed class AddressSpace(ulong root, ushort asid)
{
    private readonly List<Vma> _vmas = [];

    public ulong Root { get; } = root;
    public ushort Asid { get; } = asid;
    public IReadOnlyList<Vma> Vmas => _vmas;
    /// <summary>Tasks using this address space.</summary>
    public int Users { get; set; } = 1;
    public ulong BrkStart { get; set; }
    /// <summary>Pages whose first write is logged (write-protect dirty tracking), and the pages logged so far.</summary>
    public HashSet<ulong> DirtyTracked { get; } = [];
    public HashSet<ulong> DirtyLog { get; } = [];
    /// <summary>The kernel half of the reference table has been shared into this address space's top level.</summary>
    public bool KernelShared { get; set; }
    public ulong Brk { get; set; }
    /// <summary>The VMAs overlapping [start, end), in address order.</summary>
    public List<Vma> Overlapping(ulong start, ulong end) => _vmas.Where(v => v.Start < end && v.End > start).ToList();

    /// <summary>The first VMA that ends above <paramref name="address"/> (Linux <c>find_vma</c>), or null.</summary>
    public Vma? FindVma(ulong address)
    {
        int lo = 0, hi = _vmas.Count - 1;
        Vma? found = null;
        while (lo <= hi)
        {
            int mid = (lo + hi) >>> 1;
            var v = _vmas[mid];
            if (v.End > address)
            {
                found = v;
                hi = mid - 1;
            }
            else lo = mid + 1;
        }
        return found;
    }

    /// <summary>The VMA just below <paramref name="vma"/>, or null.</summary>
    public Vma? Previous(Vma vma)
    {
        int i = _vmas.IndexOf(vma);
        return i > 0 ? _vmas[i - 1] : null;
    }

    public void Add(Vma vma)
    {
        if (vma.Start >= vma.End) throw new ArgumentException($"empty VMA {vma}");
        int i = 0;
        while (i < _vmas.Count && _vmas[i].Start < vma.Start) i++;
        if (i > 0 && _vmas[i - 1].End > vma.Start) throw new InvalidOperationException($"VMA {vma} overlaps {_vmas[i - 1]}");
        if (i < _vmas.Count && _vmas[i].Start < vma.End) throw new InvalidOperationException($"VMA {vma} overlaps {_vmas[i]}");
        _vmas.Insert(i, vma);
    }

    public void Remove(Vma vma) => _vmas.Remove(vma);
}

/// <summary>A process: pid, ASID, address space, signal state and its own fault counts (as getrusage reports them).</summary>
public sealed class Process : IProcess, ISignalState
{
    private readonly SignalDisposition[] _dispositions = new SignalDisposition[65];
    private ulong _blocked;

    public Process(int pid, AddressSpace mm, int parentPid = 0)
    {
        Pid = pid;
        Mm = mm;
        ParentPid = parentPid;
    }

    public int Pid { get; }
    public int ParentPid { get; }
    public ushort Asid => Mm.Asid;
    public AddressSpace Mm { get; internal set; }
    public ulong PageTableRoot => Mm.Root;
    public int ExitCode { get; internal set; }
    /// <summary>A kernel thread: no user address space.</summary>
    public bool IsKernelThread { get; init; }
    /// <summary>Open file descriptors (shared descriptions after fork).</summary>
    public Dictionary<int, OpenFile> Files { get; } = [];
    /// <summary>The task was killed by an oops.</summary>
    public bool Oopsed { get; internal set; }
    /// <summary>The task's PKRU register (x86 protection keys): bit 2k disables access, bit 2k+1 writes, for key k.</summary>
    public uint Pkru { get; set; }
    /// <summary>True once a parent has waited for it.</summary>
    public bool Reaped { get; internal set; }
    /// <summary>Signals whose handler is running, with the blocked state each had before.</summary>
    internal Stack<(int Signo, bool WasBlocked)> HandlerFrames { get; } = new();

    public bool Alive { get; private set; } = true;
    /// <summary>The signal that terminated the process, 0 while alive or after a normal exit.</summary>
    public int TerminatingSignal { get; private set; }
    public bool CoreDumped { get; private set; }
    public SignalInfo? LastSignal { get; internal set; }

    public long MinorFaults { get; internal set; }
    public long MajorFaults { get; internal set; }
    /// <summary>Page faults taken, including those that ended in a signal.</summary>
    public long PageFaults { get; internal set; }
    public long ResidentPages { get; internal set; }

    public SignalDisposition GetDisposition(int signo) => _dispositions[signo];
    public void SetDisposition(int signo, SignalDisposition disposition) => _dispositions[signo] = disposition;
    public bool IsBlocked(int signo) => (_blocked & (1UL << signo)) != 0;

    public void SetBlocked(int signo, bool blocked)
    {
        if (blocked) _blocked |= 1UL << signo;
        else _blocked &= ~(1UL << signo);
    }

    internal void Terminate(int signal, bool core)
    {
        Alive = false;
        TerminatingSignal = signal;
        CoreDumped = core;
    }

    internal void Exit(int code)
    {
        Alive = false;
        ExitCode = code;
    }

    internal void CopySignalStateFrom(Process other, bool resetHandlers)
    {
        for (int i = 0; i < _dispositions.Length; i++)
        {
            var d = other._dispositions[i];
            _dispositions[i] = resetHandlers && d == SignalDisposition.Handler ? SignalDisposition.Default : d;
        }
        _blocked = other._blocked;
    }

    internal void ResetHandlers()
    {
        for (int i = 0; i < _dispositions.Length; i++)
            if (_dispositions[i] == SignalDisposition.Handler) _dispositions[i] = SignalDisposition.Default;
    }

    public override string ToString() => $"pid {Pid}";
}
