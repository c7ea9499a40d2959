using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using VmLab.Abstractions;
using VmLab.Abstractions.Cache;
using VmLab.Abstractions.PageTables;
using VmLab.Abstractions.Replacement;
using VmLab.Abstractions.Tlb;
using VmLab.Core.Events;
using VmLab.Core.Kernel;

namespace VmLab.Core.Mmu;

/// <summary>
/// The outcome of translating one access: the physical address when <see cref="Ok"/>; <see cref="Emulated"/> when a
/// fault handler performed the access instead (a trapped device page); else the signal the fault forced (a default value
/// when none was: a fixup, an oops, an OOM kill).
/// </summary>
public readonly record struct Translation(bool Ok, ulong PhysicalAddress, bool Emulated = false, SignalInfo Signal = default);

/// <summary>One CPU's MMU, as the machine drives it: batches from traces, single accesses from scenarios.</summary>
public interface ICpu
{
    int Index { get; }
    /// <summary>
    /// The TLB, for inspection (tests, reports). A TLB that is a struct comes back as a boxed copy, so nothing done
    /// through this reaches the CPU: invalidate through <see cref="Invalidate"/> and its siblings.
    /// </summary>
    ITlb Tlb { get; }
    Process? Current { get; }
    CpuState State { get; set; }
    void Execute(ReadOnlySpan<MemoryAccess> batch);
    /// <summary>Translates one page-contained access for <paramref name="process"/>, switching to it first.</summary>
    Translation Translate(Process process, ulong vaddr, AccessKind kind, AccessMode mode);
    void SwitchTo(Process process);
    /// <summary>Moves the locally accumulated counts into the metric registry.</summary>
    void Publish();

    // TLB maintenance reaches each CPU's TLB through its MMU, which holds the TLB itself (a struct TLB's state included).

    /// <summary>Invalidates one page's entry tagged <paramref name="tag"/> in this CPU's TLB.</summary>
    void Invalidate(ulong vaddr, ushort tag);
    /// <summary>Invalidates every entry tagged <paramref name="tag"/> in this CPU's TLB.</summary>
    void InvalidateAsid(ushort tag);
    /// <summary>Invalidates every entry of this CPU's TLB, global ones too unless <paramref name="keepGlobal"/>.</summary>
    void InvalidateAll(bool keepGlobal);
}

/// <summary>
/// Sees every translated access (for replacement policies that need them, and a cache hierarchy that sees the
/// workload's data); a struct so the MMU specialises on it.
/// </summary>
public interface IAccessObserver
{
    /// <summary>An access translated to <paramref name="physicalAddress"/>, in frame <paramref name="pfn"/> (a huge page's first frame).</summary>
    void OnAccess(ulong pfn, ulong physicalAddress);
}

/// <summary>Observes nothing: the call is empty and inlined away.</summary>
public readonly struct NoAccessObserver : IAccessObserver
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void OnAccess(ulong pfn, ulong physicalAddress)
    {
    }
}

/// <summary>Hands every access to a policy that declared <see cref="ReplacementInput.EveryAccess"/>.</summary>
public readonly struct PolicyAccessObserver(IReplacementPolicy policy) : IAccessObserver
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void OnAccess(ulong pfn, ulong physicalAddress) => policy.OnAccess(pfn);
}

/// <summary>
/// Sends every access's physical address through the cache hierarchy (<c>machine:cache:options:data</c>), then to
/// <typeparamref name="TInner"/>. Closed over the hierarchy's runtime type: a hierarchy implemented as a struct (the
/// built-in <c>set-associative</c>) is called directly, with no interface dispatch per access.
/// </summary>
public readonly struct CacheAccessObserver<TCache, TInner>(TCache cache, TInner inner) : IAccessObserver
    where TCache : ICacheHierarchy
    where TInner : struct, IAccessObserver
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void OnAccess(ulong pfn, ulong physicalAddress)
    {
        cache.Access(physicalAddress, CacheSource.Data);
        inner.OnAccess(pfn, physicalAddress);
    }
}

/// <summary>
/// The MMU of one CPU: TLB lookup, page-table walk, permission check and the fault path, specialised over the TLB
/// and page-table types. Closed once per run by an <see cref="IMmuEngineFactory"/> at composition (a <c>MakeGenericType</c>,
/// or code compiled ahead of time over the built-in plugins); with struct plugins every
/// call below is direct and inlinable. Per-access work allocates nothing. <typeparamref name="TRuns"/> is
/// <see cref="PageRuns{TTlb}"/> when the TLB declares <see cref="IRepeatHitTlb"/> and the observer is
/// <see cref="NoAccessObserver"/>: the fast path then counts an access that repeats the last hit of its page and lookup
/// class without asking the TLB (docs/tlb.md, "Page runs").
/// </summary>
public sealed class MmuEngine<TTlb, TPageTable, TObserver, TRuns> : ICpu
    where TTlb : ITlb
    where TPageTable : IPageTable
    where TObserver : struct, IAccessObserver
    where TRuns : struct, IPageRunAccess<TTlb>
{
    private const ulong PageMask = VirtualAddress.PageSize - 1;
    private const int MaxRetries = 16;

    private TTlb _tlb;
    private TPageTable _pageTable;
    private TObserver _observer;
    private readonly KernelModel _kernel;
    private readonly MachineOptions _options;
    private readonly PageTableGeometry _geometry;
    private readonly bool _topByteIgnore;
    private readonly bool _checkTlb;

    private Process? _current;
    private int _currentPid = int.MinValue;
    private ulong _root;
    private ushort _asid;
    private bool _alive;
    private CpuState _cpu;
    /// <summary>The kernel's answer to the last fault this CPU took (what <see cref="Translate"/> reports back).</summary>
    private FaultDisposition _lastFault;

    private long _accesses, _hits, _misses, _walks, _dropped, _dirtyUpdates, _contextSwitches;
    private readonly Counter _cAccesses, _cHits, _cMisses, _cWalks, _cDropped, _cDirty, _cSwitches, _cFlushes, _cMemrefs;
    /// <summary>The batch position of the access taken out of line (the event stream's access index, when events are on).</summary>
    private int _position;

    public MmuEngine(int index, TTlb tlb, TPageTable pageTable, KernelModel kernel, MachineOptions options, IMetrics metrics, TObserver observer)
    {
        // Page runs skip accesses the observer would see: they are for an MMU that observes nothing.
        if (TRuns.Enabled && typeof(TObserver) != typeof(NoAccessObserver))
            throw new ArgumentException($"page runs need {nameof(NoAccessObserver)}; this MMU observes every access with {typeof(TObserver).Name}", nameof(observer));
        Index = index;
        _observer = observer;
        _tlb = tlb;
        _pageTable = pageTable;
        _kernel = kernel;
        _options = options;
        _geometry = pageTable.Geometry;
        _topByteIgnore = _geometry.TopByteIgnore;
        _checkTlb = options.CheckTlb;
        _cpu = options.CpuState;
        _cAccesses = metrics.Counter(MetricNames.Accesses);
        _cHits = metrics.Counter(MetricNames.TlbHits);
        _cMisses = metrics.Counter(MetricNames.TlbMisses);
        _cWalks = metrics.Counter(MetricNames.WalkCount);
        _cDropped = metrics.Counter(MetricNames.AccessesDropped);
        _cDirty = metrics.Counter(MetricNames.WalkDirtyUpdates);
        _cSwitches = metrics.Counter(MetricNames.ContextSwitches);
        _cFlushes = metrics.Counter(MetricNames.TlbFlushes);
        _cMemrefs = metrics.Counter(MetricNames.WalkMemrefs);
    }

    public int Index { get; }
    public ITlb Tlb => _tlb;
    public Process? Current => _current;

    public void Invalidate(ulong vaddr, ushort tag) => _tlb.Invalidate(vaddr, tag);
    public void InvalidateAsid(ushort tag) => _tlb.InvalidateAsid(tag);
    public void InvalidateAll(bool keepGlobal) => _tlb.InvalidateAll(keepGlobal);
    public CpuState State { get => _cpu; set => _cpu = value; }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Execute(ReadOnlySpan<MemoryAccess> batch)
    {
        // The loop is kept small: the common case inline, everything else out of line. Hits of the fast path (each
        // one access) are counted in a local and moved to the fields before anything else can look at them; the
        // current pid (or none when the fast path is off) and the tag are re-read after every out-of-line call.
        long hits = 0;
        ulong fastKey = FastKey();
        ushort asid = _asid;
        bool topByteIgnore = _topByteIgnore;
        // Page runs (TRuns.Enabled): the last repeatable hit of each lookup class, data (or every kind, for a unified
        // TLB) and fetches. An access of the same 4 KiB page and class that the cached entry grants outright is a hit
        // the TLB is not asked for: counted here, handed to the TLB's counters before anything leaves the fast path.
        // With pair runs (IRepeatHitTlb.RepeatsPairs) a run also keeps the repeatable hit of the page before, and an
        // access of either page is counted here.
        PageRun data = default, fetch = default;
        data.Forget();
        fetch.Forget();
        bool split = TRuns.Enabled && TRuns.SeparatesFetches(ref _tlb);
        bool pairs = TRuns.Enabled && TRuns.RepeatsPairs(ref _tlb);
        // After a repeat, the runs are extended by a loop of their own while the accesses go on repeating them: a
        // unified TLB's one run (with its pair), or a split TLB's data and fetch runs (their last pages only).
        bool repeatLoop = TRuns.Enabled && !topByteIgnore;
        for (int i = 0; i < batch.Length; i++)
        {
            ref readonly var a = ref batch[i];
            ulong address = a.Address;
            if (topByteIgnore && a.Kind != AccessKind.Fetch && a.Mode == AccessMode.User) address = _geometry.Untag(address);
            // The fast path: a user access of the current, live process inside one page. A hit whose cached entry
            // grants it outright (no Dirty update due, no protection key in play) is done here; anything else
            // continues out of line from the lookup's outcome. Pid and mode are tested with one compare of the
            // record's second eight bytes.
            if ((PidAndMode(a) & PidAndModeMask) == fastKey && (address & PageMask) + a.Size <= VirtualAddress.PageSize)
            {
                bool hit;
                TlbEntry entry;
                if (TRuns.Enabled)
                {
                    ref PageRun run = ref (split && a.Kind == AccessKind.Fetch ? ref fetch : ref data);
                    ulong page = address >> VirtualAddress.PageShift;
                    if (page == run.Page && GrantsOutright(run.Entry, a.Kind))
                    {
                        hits++;
                        run.Repeats++;
                        if (repeatLoop) i += RepeatAfter(batch, i, fastKey, ref data, ref fetch, split, pairs, ref hits);
                        continue;
                    }
                    if (pairs && page == run.Other && GrantsOutright(run.OtherEntry, a.Kind))
                    {
                        hits++;
                        run.Repeats++;
                        run.Swap();
                        if (repeatLoop) i += RepeatAfter(batch, i, fastKey, ref data, ref fetch, split, pairs, ref hits);
                        continue;
                    }
                    // Before anything reaches the TLB, a stale pair of either class is looked up again.
                    if (data.Stale | fetch.Stale) RefreshBoth(ref data, ref fetch, asid);
                    hit = TRuns.TryLookup(ref _tlb, address, asid, a.Kind, out entry, out bool repeatable);
                    if (hit && GrantsOutright(entry, a.Kind))
                    {
                        // The observer is NoAccessObserver (checked at construction): nothing to tell it.
                        hits++;
                        if (repeatable)
                        {
                            if (pairs)
                            {
                                run.Other = run.Page;
                                run.OtherEntry = run.Entry;
                            }
                            run.Page = page;
                        }
                        else run.Forget();
                        run.Entry = entry;
                        continue;
                    }
                    EndRuns(ref data, ref fetch);
                }
                else
                {
                    hit = _tlb.TryLookup(address, asid, a.Kind, out entry);
                    if (hit && GrantsOutright(entry, a.Kind))
                    {
                        hits++;
                        _observer.OnAccess(entry.Frame, (entry.Frame << VirtualAddress.PageShift) | (address & ((1UL << entry.PageShift) - 1)));
                        continue;
                    }
                }
                if (hit)
                {
                    _accesses += hits + 1;
                    _hits += hits + 1;
                    hits = 0;
                    _position = i;
                    HitOutOfLine(address, a.Kind, entry);
                }
                else
                {
                    _accesses += hits + 1;
                    _hits += hits;
                    hits = 0;
                    _position = i;
                    MissOutOfLine(address, a.Kind);
                }
            }
            else
            {
                if (TRuns.Enabled) EndRuns(ref data, ref fetch);
                _accesses += hits;
                _hits += hits;
                hits = 0;
                _position = i;
                ExecuteOne(a, address);
            }
            fastKey = FastKey();
            asid = _asid;
        }
        if (TRuns.Enabled) EndRuns(ref data, ref fetch);
        _accesses += hits;
        _hits += hits;
        if (_kernel.Stream is { } stream) stream.AccessBase += batch.Length;
        Publish();
    }

    /// <summary>
    /// The repeats that follow access <paramref name="i"/> of <paramref name="batch"/>, itself a repeat: counted by
    /// <see cref="RepeatRun"/> or <see cref="RepeatSplitRuns"/> into the runs and <paramref name="hits"/>; returns how many.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int RepeatAfter(ReadOnlySpan<MemoryAccess> batch, int i, ulong fastKey, ref PageRun data, ref PageRun fetch, bool split, bool pairs, ref long hits)
    {
        var rest = batch[(i + 1)..];
        int repeated = split ? RepeatSplitRuns(rest, fastKey, ref data, ref fetch) : RepeatRun(rest, fastKey, ref data, pairs);
        hits += repeated;
        return repeated;
    }

    /// <summary>
    /// Extends a unified TLB's page run over the accesses at the start of <paramref name="accesses"/> that the fast path
    /// would count as repeats, and returns how many: user accesses of the current process (<paramref name="fastKey"/>)
    /// inside one page, of the run's page (or, with <paramref name="pairs"/>, of its other page, which swaps them), in a
    /// kind the page's cached entry grants outright. Stops at the first access that is anything else. The run's repeats
    /// and pages are left as the fast path would leave them. Its own method, so that its few variables stay in registers.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private int RepeatRun(ReadOnlySpan<MemoryAccess> accesses, ulong fastKey, ref PageRun run, bool pairs)
    {
        ulong page = run.Page, other = pairs ? run.Other : PageRun.None;
        uint grants = Grants(run.Entry), otherGrants = other == PageRun.None ? 0 : Grants(run.OtherEntry);
        ref MemoryAccess first = ref MemoryMarshal.GetReference(accesses);
        int count = accesses.Length;
        int swaps = 0;
        int i = 0;
        for (; i < count; i++)
        {
            if (!Repeatable(Unsafe.Add(ref first, i), fastKey, out ulong address, out int kind)) break;
            ulong accessPage = address >> VirtualAddress.PageShift;
            if (accessPage == page && ((grants >> kind) & 1) != 0) continue;
            if (accessPage != other || ((otherGrants >> kind) & 1) == 0) break;
            (page, other) = (other, page);
            (grants, otherGrants) = (otherGrants, grants);
            swaps++;
        }
        run.Repeats += i;
        if ((swaps & 1) != 0) run.Swap();
        return i;
    }

    /// <summary>
    /// <see cref="RepeatRun"/> for a TLB with split classes: extends the data run and the fetch run over the accesses at
    /// the start of <paramref name="accesses"/> that repeat the last page of their class (data or fetch), and returns
    /// how many. An access of a run's other page returns to the batch loop, which swaps the pair.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private int RepeatSplitRuns(ReadOnlySpan<MemoryAccess> accesses, ulong fastKey, ref PageRun data, ref PageRun fetch)
    {
        ulong dataPage = data.Page, fetchPage = fetch.Page;
        uint dataGrants = dataPage == PageRun.None ? 0 : Grants(data.Entry), fetchGrants = fetchPage == PageRun.None ? 0 : Grants(fetch.Entry);
        ref MemoryAccess first = ref MemoryMarshal.GetReference(accesses);
        int count = accesses.Length;
        int fetches = 0;
        int i = 0;
        for (; i < count; i++)
        {
            if (!Repeatable(Unsafe.Add(ref first, i), fastKey, out ulong address, out int kind)) break;
            bool isFetch = kind == (int)AccessKind.Fetch;
            ulong page = isFetch ? fetchPage : dataPage;
            uint grants = isFetch ? fetchGrants : dataGrants;
            if (address >> VirtualAddress.PageShift != page || ((grants >> kind) & 1) == 0) break;
            fetches += isFetch ? 1 : 0;
        }
        data.Repeats += i - fetches;
        fetch.Repeats += fetches;
        return i;
    }

    /// <summary>
    /// Whether <paramref name="a"/> may be a repeat at all: a user access of the current process
    /// (<paramref name="fastKey"/>) inside one page; its address and kind.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool Repeatable(in MemoryAccess a, ulong fastKey, out ulong address, out int kind)
    {
        ulong high = PidAndMode(a);
        address = a.Address;
        kind = (int)(high >> 48) & 0xFF;
        return (high & PidAndModeMask) == fastKey && (address & PageMask) + (ushort)(high >> 32) <= VirtualAddress.PageSize;
    }

    /// <summary>The kinds (bit <c>1 &lt;&lt; (int)kind</c>) a cached entry grants outright (<see cref="GrantsOutright"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private uint Grants(in TlbEntry entry) =>
        (GrantsOutright(entry, AccessKind.Read) ? 1u << (int)AccessKind.Read : 0)
        | (GrantsOutright(entry, AccessKind.Write) ? 1u << (int)AccessKind.Write : 0)
        | (GrantsOutright(entry, AccessKind.Fetch) ? 1u << (int)AccessKind.Fetch : 0);

    /// <summary>
    /// Ends both page runs before anything out of line (which may insert, invalidate, switch or read counters): hands
    /// their repeated hits to the TLB's counters and forgets their pages.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void EndRuns(ref PageRun data, ref PageRun fetch)
    {
        // A stale pair has counted at least one repeat (the access that swapped it).
        if ((data.Repeats | fetch.Repeats) != 0) CountRepeats(ref data, ref fetch);
        data.Forget();
        fetch.Forget();
    }

    /// <summary>
    /// A pair run whose page used last is not the one the TLB last looked up: that page is looked up once more, so the
    /// TLB is left as the accesses counted without it would have left it (<see cref="IRepeatHitTlb.RepeatsPairs"/>).
    /// The lookup hits and counts in the TLB as one of the run's repeats, which is no longer handed over.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void Refresh(ref PageRun run, ushort asid, bool fetchClass)
    {
        bool hit = TRuns.TryLookup(ref _tlb, run.Page << VirtualAddress.PageShift, asid, fetchClass ? AccessKind.Fetch : AccessKind.Read, out _, out bool repeatable);
        if (!hit) throw new InvalidOperationException($"the TLB missed page 0x{run.Page:x} of a pair run it declared repeatable (IRepeatHitTlb.RepeatsPairs)");
        run.Repeats--;
        run.Stale = false;
        if (!repeatable) run.Forget();
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void RefreshBoth(ref PageRun data, ref PageRun fetch, ushort asid)
    {
        if (data.Stale) Refresh(ref data, asid, fetchClass: false);
        if (fetch.Stale) Refresh(ref fetch, asid, fetchClass: true);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void CountRepeats(ref PageRun data, ref PageRun fetch)
    {
        RefreshBoth(ref data, ref fetch, _asid);
        if (data.Repeats != 0) TRuns.CountRepeatHits(ref _tlb, AccessKind.Read, data.Repeats);
        if (fetch.Repeats != 0) TRuns.CountRepeatHits(ref _tlb, AccessKind.Fetch, fetch.Repeats);
        data.Repeats = 0;
        fetch.Repeats = 0;
    }

    /// <summary>
    /// Bytes 8–15 of an access record: the pid in the low 32 bits, then size, kind, and the mode in the top byte
    /// (<see cref="MemoryAccess"/> is sequential; a test pins the layout).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong PidAndMode(in MemoryAccess a) => Unsafe.As<MemoryAccess, ulong>(ref Unsafe.AddByteOffset(ref Unsafe.AsRef(in a), 8));

    /// <summary>The pid and mode bits of <see cref="PidAndMode"/>.</summary>
    private const ulong PidAndModeMask = 0xFF00_0000_FFFF_FFFFUL;

    /// <summary>
    /// The masked pid and mode that may take the fast path: the current process's pid in user mode (0) while it lives;
    /// else a value no record has (its mode byte would be 0xFF).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ulong FastKey() => !_checkTlb && _alive && _kernel.Stream is not { SeesEveryAccess: true } ? (uint)_currentPid : ulong.MaxValue;

    /// <summary>One access, any case: a switch to its process, a dead process, kernel mode, several pages.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ExecuteOne(in MemoryAccess a, ulong address)
    {
        if (_kernel.Stream is { SeesEveryAccess: true } events)
        {
            events.Access = events.AccessBase + _position;
            if (a.Kind == AccessKind.Fetch) events.Ip = address;
        }
        if (a.Pid != _currentPid) SwitchToPid(a.Pid);
        if (!_alive)
        {
            _dropped++;
            return;
        }
        ulong last = address + (a.Size == 0 ? 0UL : a.Size - 1UL);
        if (last < address) last = ulong.MaxValue;
        TranslatePage(address, a.Kind, a.Mode, out _);
        ulong page = address & ~PageMask;
        ulong lastPage = last & ~PageMask;
        while (page != lastPage && _alive)
        {
            page += VirtualAddress.PageSize;
            TranslatePage(page, a.Kind, a.Mode, out _);
        }
    }

    /// <summary>A fast-path hit the cached entry does not grant outright (counted already).</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void HitOutOfLine(ulong vaddr, AccessKind kind, TlbEntry entry) => TranslateHit(vaddr, kind, AccessMode.User, entry, out _);

    /// <summary>A fast-path miss (its access counted already).</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void MissOutOfLine(ulong vaddr, AccessKind kind)
    {
        _misses++;
        TranslateSlow(vaddr, kind, AccessMode.User, out _);
    }

    /// <summary>
    /// Whether a user access of <paramref name="kind"/> through <paramref name="entry"/> is allowed with nothing to
    /// update: the subset of <see cref="AccessCheck.Check"/> for user mode where the answer is Allowed and, for a
    /// write, the entry is already dirty. Anything else (a denial, a clean entry written, a protection key with PKRU
    /// set) goes through <see cref="TranslateHit"/>, which decides as before.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool GrantsOutright(in TlbEntry entry, AccessKind kind)
    {
        var need = kind == AccessKind.Write ? PageFlags.User | PageFlags.Writable | PageFlags.Dirty : PageFlags.User;
        var deny = kind == AccessKind.Fetch ? PageFlags.NoExecute : PageFlags.None;
        return (entry.Flags & (need | deny)) == need && (entry.ProtectionKey == 0 || _cpu.Pkru == 0);
    }

    public Translation Translate(Process process, ulong vaddr, AccessKind kind, AccessMode mode)
    {
        if (_kernel.Stream is { } stream)
        {
            stream.Access = stream.AccessBase++;
            _position = -1; // a single access: its index is set here, not from a batch position
        }
        if (!ReferenceEquals(process, _current)) SwitchTo(process);
        if (!_alive) return default;
        _cpu = _cpu with { Pkru = process.Pkru };
        if (_topByteIgnore && mode == AccessMode.User && kind != AccessKind.Fetch) vaddr = _geometry.Untag(vaddr);
        _lastFault = default;
        bool ok = TranslatePage(vaddr, kind, mode, out ulong paddr);
        Publish();
        return ok
            ? new Translation(true, paddr)
            : new Translation(false, 0, _lastFault.Dispatch == FaultDispatch.Emulated, _lastFault.Signal);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool TranslatePage(ulong vaddr, AccessKind kind, AccessMode mode, out ulong paddr)
    {
        _accesses++;
        if (_tlb.TryLookup(vaddr, _asid, kind, out var entry))
        {
            _hits++;
            return TranslateHit(vaddr, kind, mode, entry, out paddr);
        }
        _misses++;
        return TranslateSlow(vaddr, kind, mode, out paddr);
    }

    /// <summary>A TLB hit (already counted): the coherence check if on, the permission check, the Dirty update.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool TranslateHit(ulong vaddr, AccessKind kind, AccessMode mode, in TlbEntry entry, out ulong paddr)
    {
        if (_checkTlb) CheckHit(vaddr, entry);
        if (AccessCheck.Check(entry.Flags, entry.ProtectionKey, kind, mode, _cpu) == AccessVerdict.Allowed)
        {
            if (kind == AccessKind.Write && (entry.Flags & PageFlags.Dirty) == 0) MarkDirty(vaddr, entry);
            paddr = (entry.Frame << VirtualAddress.PageShift) | (vaddr & ((1UL << entry.PageShift) - 1));
            _observer.OnAccess(entry.Frame, paddr);
            return true;
        }
        // The cached entry forbids the access: the entry is dropped and the page tables decide.
        _tlb.Invalidate(vaddr, _asid);
        return TranslateSlow(vaddr, kind, mode, out paddr, refetch: true);
    }

    /// <summary>
    /// The coherence check: the cached translation must still be what the page table says, at most as permissive.
    /// A less permissive stale entry is allowed (x86 refetches it on the fault); anything else is a missing flush.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void CheckHit(ulong vaddr, in TlbEntry entry)
    {
        // A global kernel entry belongs to every address space: it is checked against the reference kernel table
        // (a process whose top level has not synced a vmalloc area yet is still served it, as on real hardware).
        ulong root = (entry.Flags & PageFlags.Global) != 0 && _kernel.KernelHalf.InitRoot != 0 && vaddr >= _kernel.Geometry.KernelBase ? _kernel.KernelHalf.InitRoot : _root;
        var actual = _pageTable.Read(root, vaddr);
        const PageFlags Grants = PageFlags.Writable | PageFlags.User;
        bool stale = !actual.IsPresent
            || actual.Frame != entry.Frame
            || actual.PageShift != entry.PageShift
            || (entry.Flags & Grants & ~actual.Flags) != 0
            || ((entry.Flags & PageFlags.NoExecute) == 0 && (actual.Flags & PageFlags.NoExecute) != 0);
        if (!stale) return;
        var maintenance = _kernel.TlbMaintenance;
        throw new TlbCoherenceException(
            $"stale TLB hit on cpu {Index}: address 0x{vaddr:x}, pid {_current!.Pid}, tag {_asid}: cached " +
            $"{TlbCoherenceException.Format(new PageMapping(entry.Frame, entry.Flags, entry.PageShift, entry.ProtectionKey))}, " +
            $"page table {TlbCoherenceException.Format(actual)}; {maintenance.Explain(_current.Pid, vaddr, Index)}");
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void MarkDirty(ulong vaddr, TlbEntry entry)
    {
        _dirtyUpdates++;
        _pageTable.SetDirty(_root, vaddr);
        _tlb.Insert(vaddr, _asid, AccessKind.Write, entry with { Flags = entry.Flags | PageFlags.Dirty | PageFlags.Accessed });
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private bool TranslateSlow(ulong vaddr, AccessKind kind, AccessMode mode, out ulong paddr, bool refetch = false)
    {
        paddr = 0;
        var events = _kernel.Stream;
        if (events is not null)
        {
            if (_position >= 0) events.Access = events.AccessBase + _position;
            events.EntryCpu = Index;
            events.EntryPid = _currentPid;
        }
        if (!_pageTable.IsCanonical(vaddr))
        {
            _lastFault = _kernel.GeneralProtection(new KernelEntry(Index, _current!, mode), vaddr);
            _alive = _current!.Alive;
            return false;
        }
        for (int attempt = 0; attempt < MaxRetries; attempt++)
        {
            _walks++;
            var walk = events is null ? _pageTable.Walk(_root, vaddr, kind, mode, _cpu) : WalkTraced(events, vaddr, kind, mode, attempt > 0 ? "retry" : refetch ? "refetch" : "miss");
            if (walk.IsOk)
            {
                _tlb.Insert(vaddr, _asid, kind, TlbEntry.From(walk.Leaf));
                paddr = (walk.Leaf.Frame << VirtualAddress.PageShift) | (vaddr & ((1UL << walk.Leaf.PageShift) - 1));
                _observer.OnAccess(walk.Leaf.Frame, paddr);
                return true;
            }
            Publish();
            _lastFault = _kernel.HandlePageFault(new KernelEntry(Index, _current!, mode), vaddr, kind, walk.ErrorCode, _cpu);
            _alive = _current!.Alive;
            if (_lastFault.Dispatch != FaultDispatch.Retry || !_alive) return false;
        }
        throw new InvalidOperationException(
            $"fault handler {_lastFault.DecidedBy ?? "(none)"} claimed to fix the fault at 0x{vaddr:x} ({kind}, pid {_current!.Pid}) {MaxRetries} times, but the access faulted again each time");
    }

    /// <summary>The walk with a <c>walk</c> event: memory references it made, the leaf it found, the A/D bits it set, or the fault.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private WalkResult WalkTraced(EventStream events, ulong vaddr, AccessKind kind, AccessMode mode, string cause)
    {
        var before = _pageTable.Read(_root, vaddr);
        long refs = _cMemrefs.Value;
        var walk = _pageTable.Walk(_root, vaddr, kind, mode, _cpu);
        var set = walk.IsOk ? walk.Leaf.Flags & ~before.Flags & (PageFlags.Accessed | PageFlags.Dirty) : PageFlags.None;
        events.Emit(EventKinds.Walk, Index, _currentPid, vaddr,
            new EventField("accessType", EventText.Name(kind)),
            new EventField("mode", mode == AccessMode.Kernel ? "kernel" : "user"),
            new EventField("cause", cause),
            new EventField("memrefs", _cMemrefs.Value - refs),
            new EventField("level", (long)walk.Level),
            new EventField("result", walk.IsOk ? "ok" : walk.Status.ToString().ToLowerInvariant()),
            new EventField("pte", EventText.Pte(walk.IsOk ? walk.Leaf : before)),
            new EventField("setAccessed", (set & PageFlags.Accessed) != 0),
            new EventField("setDirty", (set & PageFlags.Dirty) != 0),
            new EventField("error", walk.IsOk ? null : walk.ErrorCode.Bits));
        return walk;
    }

    private void SwitchToPid(int pid)
    {
        var process = _kernel.GetOrCreateImplicitProcess(pid, Index);
        SwitchTo(process);
    }

    public void SwitchTo(Process process)
    {
        bool flushed = false;
        if (_current is not null && !ReferenceEquals(_current, process))
        {
            _contextSwitches++;
            // Threads of one process share the address space: switching between them flushes nothing.
            if (!_options.Pcid && !ReferenceEquals(_current.Mm, process.Mm))
            {
                _tlb.InvalidateAll(keepGlobal: true);
                _cFlushes.Increment();
                flushed = true;
            }
        }
        _current = process;
        _currentPid = process.Pid;
        _cpu = _cpu with { Pkru = process.Pkru };
        _root = process.PageTableRoot;
        // The kernel picks the tag: one of the CPU's PCIDs (recycled LRU, flushing what the old owner cached), or 0.
        _asid = _kernel.TlbMaintenance.SwitchTo(Index, process, flushed);
        _alive = process.Alive;
    }

    public void Publish()
    {
        _cAccesses.Add(_accesses);
        _cHits.Add(_hits);
        _cMisses.Add(_misses);
        _cWalks.Add(_walks);
        _cDropped.Add(_dropped);
        _cDirty.Add(_dirtyUpdates);
        _cSwitches.Add(_contextSwitches);
        _accesses = _hits = _misses = _walks = _dropped = _dirtyUpdates = _contextSwitches = 0;
    }
}
