using VmLab.Abstractions;
using VmLab.Abstractions.Faults;

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
    /// <summary>The file mapped (null for anonymous memory and devices): its size is read live, so a truncation is seen at once.</summary>
    public SimFile? File { get; init; }
    /// <summary>The mapped file's size now (i_size), or what was given for a mapping of no simulated file.</summary>
    public ulong FileSize
    {
        get => File?.Size ?? _fileSize;
        init => _fileSize = value;
    }
    private readonly ulong _fileSize;
    public byte ProtectionKey { get; set; }
    /// <summary>
    /// The VMA has (or had) anonymous pages: Linux's <c>vma-&gt;anon_vma</c>, prepared when a private page of its own
    /// is first mapped (a write to anonymous memory, a COW copy, a grown stack) and never dropped while the VMA lives —
    /// not by the zero page, not by a page-cache page mapped read-only. Kept by a split and inherited by fork
    /// (<c>anon_vma_fork</c>). fork copies a VMA's page-table entries only when it is set (<c>vma_needs_copy</c>).
    /// </summary>
    public bool HasAnonVma { get; set; }

    /// <summary>VM_DONTCOPY (<c>madvise(MADV_DONTFORK)</c>): fork does not give the child this VMA.</summary>
    public bool DontCopy { get; set; }
    /// <summary>VM_WIPEONFORK (<c>madvise(MADV_WIPEONFORK)</c>): fork gives the child this VMA empty, with no anon_vma.</summary>
    public bool WipeOnFork { get; set; }
    /// <summary>VM_RAND_READ / VM_SEQ_READ (<c>madvise(MADV_RANDOM / MADV_SEQUENTIAL)</c>): how a fault reading a file page reads ahead.</summary>
    public ReadHint ReadHint { get; set; }
    /// <summary>VM_LOCKED (<c>mlock</c>): the VMA's pages are never reclaimed.</summary>
    public bool Locked { get; set; }
    /// <summary>VM_LOCKONFAULT (<c>mlock2(MLOCK_ONFAULT)</c>): locked, but pages are locked as they are faulted in, not populated.</summary>
    public bool LockOnFault { get; set; }

    /// <summary>State fault handlers attached to this VMA (<see cref="IMemoryManager.SetVmaState{T}"/>); null while there is none.</summary>
    internal List<IVmaState>? States { get; set; }

    public T? GetState<T>() where T : class, IVmaState
    {
        if (States is null) return null;
        foreach (var s in States)
            if (s is T t) return t;
        return null;
    }

    public void SetState<T>(T? state) where T : class, IVmaState
    {
        States?.RemoveAll(s => s is T);
        if (state is not null) (States ??= []).Add(state);
        if (States is { Count: 0 }) States = null;
    }

    /// <summary>The part [start, end) of this VMA, as a split makes it: same protection, flags, file and anon_vma, each handler state asked for its part.</summary>
    public Vma Slice(ulong start, ulong end) => new(start, end, Protection, Flags)
    {
        FileName = FileName,
        FileOffset = FileOffset + (start - Start),
        File = File,
        FileSize = FileSize,
        ProtectionKey = ProtectionKey,
        HasAnonVma = HasAnonVma,
        DontCopy = DontCopy,
        WipeOnFork = WipeOnFork,
        ReadHint = ReadHint,
        Locked = Locked,
        LockOnFault = LockOnFault,
        States = States?.Select(s => s.OnSplit()).ToList(),
    };

    /// <summary>
    /// The child's copy at fork: as <see cref="Slice"/> of the whole VMA, with the handler states that are inherited. A
    /// child does not inherit memory locks (dup_mmap clears VM_LOCKED_MASK); a wipe-on-fork VMA starts with no anon_vma.
    /// </summary>
    public Vma CopyForFork()
    {
        var copy = Slice(Start, End);
        copy.Locked = copy.LockOnFault = false;
        if (WipeOnFork) copy.HasAnonVma = false;
        copy.States = States?.Select(s => s.OnFork()).OfType<IVmaState>().ToList() is { Count: > 0 } kept ? kept : null;
        return copy;
    }

    public VmaInfo Info => new(Start, End, Protection, Flags, FileName, FileOffset, FileSize, ProtectionKey);
    public bool Contains(ulong address) => address >= Start && address < End;
    public override string ToString() => $"[0x{Start:x}-0x{End:x}) {Protection} {Flags}";
}

/// <summary>A VMA's read-ahead hint from madvise: Linux's VM_RAND_READ and VM_SEQ_READ (neither: <see cref="Normal"/>).</summary>
public enum ReadHint : byte { Normal, Random, Sequential }

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
    /// <summary><c>mm-&gt;def_flags</c>' VM_LOCKED (mlockall MCL_FUTURE): new mappings are locked.</summary>
    public bool LockFuture { get; set; }
    /// <summary>VM_LOCKONFAULT in <c>def_flags</c> (MCL_FUTURE | MCL_ONFAULT): new mappings are locked as they are faulted in.</summary>
    public bool LockFutureOnFault { get; set; }
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
