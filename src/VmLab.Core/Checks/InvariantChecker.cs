using System.Diagnostics.CodeAnalysis;
using System.Text;
using VmLab.Abstractions;
using VmLab.Abstractions.Faults;
using VmLab.Core.Kernel;
using VmLab.Core.Memory;

namespace VmLab.Core.Checks;

/// <summary>A kernel invariant did not hold: the run stops (<c>machine:checks:invariants</c>).</summary>
public sealed class InvariantViolationException(string invariant, string message) : Exception(message)
{
    /// <summary>The short name of the invariant that failed, e.g. <c>map-count</c>.</summary>
    public string Invariant { get; } = invariant;
}

/// <summary>One kernel-level operation, as the checker's ring keeps it.</summary>
public readonly record struct KernelOperation(long Seq, string Name, int Pid, ulong Start, ulong End, string Detail)
{
    /// <summary>True when the operation names <paramref name="pid"/> and its range (if it has one) holds <paramref name="address"/>.</summary>
    public bool Touches(int pid, ulong address) =>
        Pid == pid && (End <= Start || (address >= Start && address < End));

    public override string ToString()
    {
        var sb = new StringBuilder().Append('#').Append(Seq).Append(' ').Append(Name).Append(" pid ").Append(Pid);
        if (End > Start) sb.Append($" [0x{Start:x}-0x{End:x})");
        if (Detail.Length > 0) sb.Append(' ').Append(Detail);
        return sb.ToString();
    }
}

/// <summary>
/// Verifies the kernel's memory-management invariants from its state (frames, page tables, VMAs, page cache) after every
/// kernel-level operation (each <see cref="VmLab.Abstractions.Workloads.IKernelApi"/> call, each handled page fault)
/// and every <see cref="Every"/> accesses:
/// <list type="bullet">
/// <item><c>free-xor-referenced</c>: a free frame is referenced by nothing; an allocated frame by something; the free
/// count, resident user frames and page-table frames the frame table reports match its per-frame records.</item>
/// <item><c>ref-count</c> / <c>map-count</c>: a user frame's reference count is the leaf entries that map it plus the
/// page cache's reference; its map count is the leaf entries.</item>
/// <item><c>writable-private-shared</c>: a writable entry in a private VMA maps a frame nothing else maps (never the
/// zero page, never a page-cache page).</item>
/// <item><c>mapping-outside-vma</c>: every user leaf lies inside a VMA of its address space.</item>
/// <item><c>anon-vma</c>: a private VMA without an anon_vma (<see cref="Vma.HasAnonVma"/>) maps only the zero page and
/// page-cache pages and holds no swap entry — fork skips copying its entries, so anything else would be lost.</item>
/// <item><c>page-table-pages</c>: the table pages reachable from the live roots are exactly the frames accounted as
/// page tables (when the format can enumerate its tables, <see cref="VmLab.Abstractions.PageTables.IPageTable.CollectTableFrames"/>).</item>
/// </list>
/// TLB contents are checked on every hit by the coherence check (<c>machine:checks:tlb</c>), which this option turns on.
/// <item>Swap slots are owned by exactly the swap entries naming them or the swap cache (<see cref="CheckSwap"/>).</item>
/// <item><c>kmalloc-blocks</c>: every live kmalloc block is an allocated kernel block of its order, its tails marked as such;
/// the tails of all allocated blocks are exactly those their heads' orders account for.</item>
/// </summary>
public sealed class InvariantChecker
{
    /// <summary>Operations kept for violation reports.</summary>
    public const int RingSize = 64;

    /// <summary>Frames the frame loop tests as one stretch when none is held (a power of two).</summary>
    private const int FreeStretch = 256;

    private readonly KernelModel _kernel;
    private readonly KernelOperation[] _ring = new KernelOperation[RingSize];
    private long _seq;
    private long _untilCheck;

    // Scratch reused across checks: one slot per frame.
    private int[] _maps = [];
    private int[] _refs = [];
    private int[] _writablePrivate = [];
    private bool[] _pageCache = [];
    /// <summary>
    /// The frames of <see cref="_tables"/>, marked for the frame loop when the walk found every table (a set lookup per
    /// frame cost more than the rest of the check); none is marked otherwise. Marks are taken back before the next walk
    /// refills the set.
    /// </summary>
    private bool[] _isTable = [];
    private readonly HashSet<ulong> _tables = [];
    private readonly List<(ulong Address, PageMapping Leaf)> _leaves = [];
    private readonly List<(ulong Address, PageMapping Leaf, int Pid)> _swapped = [];
    /// <summary>Frames mapped in private VMAs without an anon_vma: each must be a page-cache page.</summary>
    private readonly List<(ulong Address, ulong Pfn, int Pid)> _withoutAnonVma = [];

    public InvariantChecker(KernelModel kernel, long every)
    {
        if (every < 0) throw new ArgumentOutOfRangeException(nameof(every));
        _kernel = kernel;
        Every = every;
        _untilCheck = every;
    }

    /// <summary>Accesses between periodic checks; 0 checks only after kernel operations.</summary>
    public long Every { get; }

    /// <summary>Full checks run so far.</summary>
    public long Checks { get; private set; }

    /// <summary>The recorded operations, oldest first.</summary>
    public IReadOnlyList<KernelOperation> RecentOperations()
    {
        var list = new List<KernelOperation>();
        for (long s = Math.Max(0, _seq - RingSize); s < _seq; s++) list.Add(_ring[s % RingSize]);
        return list;
    }

    /// <summary>Records a kernel-level operation, then checks every invariant.</summary>
    public void After(string name, int pid, ulong start = 0, ulong end = 0, string detail = "")
    {
        _ring[_seq % RingSize] = new KernelOperation(_seq + 1, name, pid, start, end, detail);
        _seq++;
        Check();
    }

    /// <summary>How many of the next accesses may run before the periodic check is due (long.MaxValue when periodic checks are off).</summary>
    public long AccessesUntilCheck => Every == 0 ? long.MaxValue : _untilCheck;

    /// <summary>Counts <paramref name="accesses"/> executed; checks when the period is reached.</summary>
    public void Executed(long accesses)
    {
        if (Every == 0) return;
        _untilCheck -= accesses;
        if (_untilCheck > 0) return;
        _untilCheck = Every;
        Check();
    }

    /// <summary>Checks every invariant now; throws <see cref="InvariantViolationException"/> on the first that fails.</summary>
    public void Check()
    {
        Checks++;
        var frames = _kernel.Frames;
        long n = frames.FrameCount;
        if (_maps.Length != n)
        {
            _maps = new int[n];
            _refs = new int[n];
            _writablePrivate = new int[n];
            _pageCache = new bool[n];
            _isTable = new bool[n];
        }
        else
        {
            MarkTables(false);
            Array.Clear(_maps);
            Array.Clear(_refs);
            Array.Clear(_writablePrivate);
            Array.Clear(_pageCache);
        }
        _swapped.Clear();
        _withoutAnonVma.Clear();

        var pageTable = _kernel.PageTable;
        ulong userTop = _kernel.Geometry.UserTop;
        var seen = new HashSet<AddressSpace>(ReferenceEqualityComparer.Instance);
        foreach (var (mm, pid) in LiveAddressSpaces(seen))
        {
            _leaves.Clear();
            pageTable.CollectLeaves(mm.Root, 0, userTop, _leaves);
            foreach (var (address, leaf) in _leaves)
            {
                var vma = mm.FindVma(address);
                if (vma is null || !vma.Contains(address))
                    Fail("mapping-outside-vma", $"pid {pid} maps 0x{address:x} (frame {leaf.Frame}) outside any VMA", pid, address);
                bool needsAnonVma = (vma!.Flags & VmaFlags.Shared) == 0 && !vma.HasAnonVma;
                if (leaf.IsSwapped)
                {
                    if (needsAnonVma)
                        Fail("anon-vma", $"pid {pid} holds a swap entry at 0x{address:x} in {vma}, which has no anon_vma (fork would not copy it)", pid, address);
                    _swapped.Add((address, leaf, pid));
                    continue;
                }
                if (!leaf.HoldsFrame) continue;
                ulong pfn = leaf.Frame;
                if (pfn >= (ulong)n)
                    Fail("frame-range", $"pid {pid} maps 0x{address:x} to frame {pfn}, beyond the {n} frames of the machine", pid, address);
                bool writablePrivate = leaf.Has(PageFlags.Writable) && (vma!.Flags & VmaFlags.Shared) == 0;
                if (pfn == FrameTable.ZeroPage)
                {
                    if (leaf.Has(PageFlags.Writable))
                        Fail("writable-private-shared", $"pid {pid} maps the zero page writable at 0x{address:x}", pid, address);
                    continue;
                }
                _maps[pfn]++;
                _refs[pfn]++;
                if (writablePrivate) _writablePrivate[pfn]++;
                if (needsAnonVma) _withoutAnonVma.Add((address, pfn, pid));
            }
        }

        foreach (ulong pfn in _kernel.Files.Frames)
        {
            _refs[pfn]++;
            _pageCache[pfn] = true;
        }
        foreach (var (address, pfn, pid) in _withoutAnonVma)
            if (!_pageCache[pfn])
                Fail("anon-vma", $"pid {pid} maps anonymous frame {pfn} at 0x{address:x} in a private VMA with no anon_vma (fork would not copy it)", pid, address);
        // The swap cache holds one reference on each page it keeps.
        foreach (ulong pfn in _kernel.Swap.CacheSlots.Keys) _refs[pfn]++;

        bool tablesKnown = CollectTables(seen);
        if (tablesKnown && _tables.Count != frames.PageTableFrames)
            Fail("page-table-pages", $"{_tables.Count} page-table pages are reachable from the live roots, the frame table accounts {frames.PageTableFrames}");
        if (tablesKnown) MarkTables(true);

        long free = 0, user = 0, tables = 0, tails = 0, tailsExpected = 0;
        for (long i = 1; i < n; i++)
        {
            // A stretch of free frames that nothing found refers to passes every test below as a free frame: count it
            // at once (most frames of a large machine are such).
            if ((i & (FreeStretch - 1)) == 0 && i + FreeStretch <= n && frames.NoneHeld((int)i, FreeStretch)
                && !_refs.AsSpan((int)i, FreeStretch).ContainsAnyExcept(0) && !_isTable.AsSpan((int)i, FreeStretch).Contains(true))
            {
                free += FreeStretch;
                i += FreeStretch - 1;
                continue;
            }
            ulong pfn = (ulong)i;
            int rc = frames.RefCount(pfn), mc = frames.MapCount(pfn);
            bool isTable = _isTable[i];
            if (frames.IsTail(pfn))
            {
                // A tail of a multi-frame block (kmalloc_large): counted with its block, referenced through its head only.
                tails++;
                if (rc != 0 || mc != 0 || _refs[i] != 0 || isTable)
                    Fail("free-xor-referenced", $"frame {pfn} is the tail of a block but {Referrers(pfn, isTable)}", pfn);
                switch (frames.UseOf(pfn))
                {
                    case FrameUse.User: user++; break;
                    case FrameUse.PageTable: tables++; break;
                }
                continue;
            }
            if (rc == 0)
            {
                free++;
                if (_refs[i] != 0 || isTable || mc != 0)
                    Fail("free-xor-referenced", $"frame {pfn} is free but {Referrers(pfn, isTable)}", pfn);
                continue;
            }
            var use = frames.UseOf(pfn);
            tailsExpected += (1L << frames.BlockOrder(pfn)) - 1;
            switch (use)
            {
                case FrameUse.PageTable:
                    tables++;
                    if (tablesKnown && !isTable)
                        Fail("page-table-pages", $"frame {pfn} is accounted as a page table but no live root reaches it (leaked table page)", pfn);
                    if (_refs[i] != 0)
                        Fail("free-xor-referenced", $"page-table frame {pfn} is also {Referrers(pfn, false)}", pfn);
                    break;
                case FrameUse.Kernel:
                    if (_refs[i] != 0 || isTable)
                        Fail("free-xor-referenced", $"kernel frame {pfn} is also {Referrers(pfn, isTable)}", pfn);
                    break;
                default:
                    user++;
                    if (isTable)
                        Fail("page-table-pages", $"user frame {pfn} is reachable as a page-table page", pfn);
                    if (_refs[i] == 0)
                        Fail("free-xor-referenced", $"user frame {pfn} is allocated (reference count {rc}) but no mapping and no cache holds it (leaked)", pfn);
                    if (mc != _maps[i])
                        Fail("map-count", $"frame {pfn} has map count {mc}, but {_maps[i]} leaf entries map it", pfn);
                    if (rc != _refs[i])
                        Fail("ref-count", $"frame {pfn} has reference count {rc}, but {_maps[i]} leaf entries{(_pageCache[i] ? " and the page cache" : "")}{(_kernel.Swap.CacheSlots.ContainsKey(pfn) ? " and the swap cache" : "")} hold it", pfn);
                    break;
            }
            if (_writablePrivate[i] > 0 && (_maps[i] > 1 || _pageCache[i]))
                Fail("writable-private-shared", $"frame {pfn} is mapped writable in a private VMA and is also {(_pageCache[i] ? "in the page cache" : $"mapped {_maps[i] - 1} more time(s)")}", pfn);
        }

        if (tails != tailsExpected)
            Fail("free-xor-referenced", $"{tails} frames are tails of allocated blocks, the block heads' orders account for {tailsExpected}");
        CheckKmallocBlocks(frames);
        if (frames.RefCount(FrameTable.ZeroPage) < 1)
            Fail("free-xor-referenced", "the zero page (frame 0) lost its boot reference", FrameTable.ZeroPage);
        if (free != frames.FreeFrames)
            Fail("free-xor-referenced", $"{free} frames have no reference, the free list holds {frames.FreeFrames}");
        if (user != frames.ResidentUserFrames)
            Fail("free-xor-referenced", $"{user} user frames are allocated, the frame table counts {frames.ResidentUserFrames} resident");
        if (tables != frames.PageTableFrames)
            Fail("page-table-pages", $"{tables} frames are allocated as page tables, the frame table counts {frames.PageTableFrames}");

        CheckSwap();
    }

    /// <summary>
    /// Every live kmalloc block is an allocated kernel block of the order it was handed out with: its head holds the one
    /// reference, every other frame of it is one of its tails.
    /// </summary>
    private void CheckKmallocBlocks(FrameTable frames)
    {
        foreach (var (pfn, order) in _kernel.KernelHalf.KmallocBlocks)
        {
            if (frames.RefCount(pfn) != 1 || frames.UseOf(pfn) != FrameUse.Kernel || frames.IsTail(pfn) || frames.BlockOrder(pfn) != order)
                Fail("kmalloc-blocks", $"kmalloc block at frame {pfn} (order {order}) is not an allocated kernel block of that order (reference count {frames.RefCount(pfn)}, use {frames.UseOf(pfn)}, order {frames.BlockOrder(pfn)})", pfn);
            for (ulong t = 1; t < 1UL << order; t++)
                if (!frames.IsTail(pfn + t) || frames.UseOf(pfn + t) != FrameUse.Kernel)
                    Fail("kmalloc-blocks", $"frame {pfn + t} of the kmalloc block at frame {pfn} (order {order}) is not one of its tails", pfn + t);
        }
    }

    /// <summary>
    /// Swap-slot invariants: every swap entry names an allocated slot; each slot's reference count equals the swap
    /// entries naming it; every allocated slot is owned by swap entries or by the swap cache (none leaked).
    /// </summary>
    private void CheckSwap()
    {
        var swap = _kernel.Swap.Device;
        var entries = new Dictionary<ulong, int>();
        foreach (var (address, leaf, pid) in _swapped)
        {
            ulong slot = leaf.Frame;
            if (!swap.AllocatedSlots.Contains(slot))
                Fail("swap-slots", $"pid {pid} holds a swap entry at 0x{address:x} for slot {slot}, which is not allocated", pid, address);
            entries[slot] = entries.GetValueOrDefault(slot) + 1;
        }
        var cached = new HashSet<ulong>(_kernel.Swap.CacheSlots.Values);
        foreach (ulong slot in swap.AllocatedSlots)
        {
            int count = entries.GetValueOrDefault(slot);
            if (swap.RefCount(slot) != count)
                Fail("swap-slots", $"swap slot {slot} has reference count {swap.RefCount(slot)}, but {count} swap entries name it");
            if (count == 0 && !cached.Contains(slot))
                Fail("swap-slots", $"swap slot {slot} is allocated but neither a swap entry nor the swap cache holds it (leaked)");
        }
    }

    /// <summary>Distinct address spaces still in use, with a pid using each; kernel threads (the init root) excluded.</summary>
    private IEnumerable<(AddressSpace Mm, int Pid)> LiveAddressSpaces(HashSet<AddressSpace> seen)
    {
        var list = new List<(AddressSpace, int)>();
        foreach (var p in _kernel.Processes.All.OrderBy(p => p.Pid))
        {
            var mm = p.Mm;
            if (mm.Users <= 0 || p.IsKernelThread || mm.Root == _kernel.KernelHalf.InitRoot) continue;
            if (seen.Add(mm)) list.Add((mm, p.Pid));
        }
        return list;
    }

    /// <summary>Sets or takes back the marks of <see cref="_tables"/>'s frames (a frame beyond the machine has none).</summary>
    private void MarkTables(bool value)
    {
        foreach (ulong t in _tables)
            if (t < (ulong)_isTable.Length) _isTable[t] = value;
    }

    private bool CollectTables(HashSet<AddressSpace> live)
    {
        _tables.Clear();
        var pageTable = _kernel.PageTable;
        foreach (var mm in live)
            if (!pageTable.CollectTableFrames(mm.Root, _tables)) return false;
        if (_kernel.KernelHalf.InitRoot != 0 && !pageTable.CollectTableFrames(_kernel.KernelHalf.InitRoot, _tables)) return false;
        return true;
    }

    /// <summary>What refers to a frame, for a message: the leaves that map it and the page cache.</summary>
    private string Referrers(ulong pfn, bool isTable)
    {
        var parts = new List<string>();
        foreach (var (pid, address) in Mappers(pfn)) parts.Add($"mapped by pid {pid} at 0x{address:x}");
        if (_pageCache[pfn]) parts.Add("held by the page cache");
        if (isTable) parts.Add("reachable as a page-table page");
        if (parts.Count == 0) parts.Add($"has reference count {_kernel.Frames.RefCount(pfn)} and map count {_kernel.Frames.MapCount(pfn)}");
        return string.Join(", ", parts);
    }

    private List<(int Pid, ulong Address)> Mappers(ulong pfn)
    {
        var found = new List<(int, ulong)>();
        var leaves = new List<(ulong Address, PageMapping Leaf)>();
        foreach (var (mm, pid) in LiveAddressSpaces(new HashSet<AddressSpace>(ReferenceEqualityComparer.Instance)))
        {
            leaves.Clear();
            _kernel.PageTable.CollectLeaves(mm.Root, 0, _kernel.Geometry.UserTop, leaves);
            foreach (var (address, leaf) in leaves)
                if (leaf.HoldsFrame && leaf.Frame == pfn) found.Add((pid, address));
        }
        return found;
    }

    [DoesNotReturn]
    private void Fail(string invariant, string what, ulong pfn)
    {
        var mappers = Mappers(pfn);
        Fail(invariant, what, mappers.Select(m => (m.Pid, m.Address)).ToList());
    }

    [DoesNotReturn]
    private void Fail(string invariant, string what, int pid, ulong address) => Fail(invariant, what, [(pid, address)]);

    [DoesNotReturn]
    private void Fail(string invariant, string what) => Fail(invariant, what, new List<(int, ulong)>());

    [DoesNotReturn]
    private void Fail(string invariant, string what, List<(int Pid, ulong Address)> places)
    {
        var ops = RecentOperations();
        var touching = ops.Where(o => places.Any(p => o.Touches(p.Pid, p.Address))).TakeLast(8).ToList();
        var sb = new StringBuilder($"invariant {invariant} violated: {what}");
        if (touching.Count > 0)
        {
            sb.Append("; last operations that touched it: ");
            sb.AppendJoin("; ", touching);
        }
        sb.Append(ops.Count == 0 ? "; no kernel operation recorded yet" : "; last operations: ");
        sb.AppendJoin("; ", ops.TakeLast(8));
        throw new InvariantViolationException(invariant, sb.ToString());
    }
}
