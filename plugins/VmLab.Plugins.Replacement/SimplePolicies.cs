using VmLab.Abstractions;
using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
using VmLab.Abstractions.Replacement;

namespace VmLab.Plugins.Replacement;

/// <summary>
/// The bookkeeping the single-list policies share: candidates on one list in arrival order (the head is the oldest),
/// a page joining at the tail and leaving when released or evicted. Each policy only chooses its victim (and, for
/// exact LRU, reorders on access).
/// </summary>
public abstract class ArrivalOrderPolicy(FrameLinks links, ReplacementInput input) : IReplacementPolicy
{
    /// <summary>The candidates, list 0, oldest arrival at the head.</summary>
    protected FrameLists Order { get; } = new(links, 1);

    public ReplacementInput Input => input;

    public void OnResident(ulong pfn) => OnResident(pfn, 0);
    public virtual void OnResident(ulong pfn, ulong key) => Order.MoveToTail(0, pfn);
    public void OnReleased(ulong pfn) => Order.Remove(pfn);
    public void OnEvicted(ulong pfn, ulong key) => Order.Remove(pfn);
    public virtual void OnAccess(ulong pfn) { }
    public abstract bool TrySelectVictim(IReclaimView view, out ulong pfn);
}

/// <summary>First in, first out: the page resident longest goes, whatever its use. Needs nothing but arrivals.</summary>
public sealed class FifoPolicy(FrameLinks links) : ArrivalOrderPolicy(links, ReplacementInput.AccessedBits)
{
    public override bool TrySelectVictim(IReclaimView view, out ulong pfn) => Order.TryHead(0, out pfn);
}

/// <summary>Exact least-recently-used: sees every access (TLB hits included) and evicts the page unused longest.</summary>
public sealed class LruPolicy(FrameLinks links) : ArrivalOrderPolicy(links, ReplacementInput.EveryAccess)
{
    public override void OnAccess(ulong pfn)
    {
        if (Order.Contains(pfn)) Order.MoveToTail(0, pfn);
    }

    public override bool TrySelectVictim(IReclaimView view, out ulong pfn) => Order.TryHead(0, out pfn);
}

/// <summary>
/// The resident candidates as a dense array with a position per frame: add, remove (the last member takes the removed
/// one's place) and pick by position, each O(1).
/// </summary>
public sealed class ResidentSet
{
    private readonly ulong[] _members;
    private readonly int[] _index;

    public ResidentSet(long frames)
    {
        _members = new ulong[frames];
        _index = new int[frames];
        Array.Fill(_index, -1);
    }

    public int Count { get; private set; }

    public ulong this[int position] => _members[position];

    public bool Contains(ulong pfn) => pfn < (ulong)_index.Length && _index[pfn] >= 0;

    public void Add(ulong pfn)
    {
        if (_index[pfn] >= 0) return;
        _index[pfn] = Count;
        _members[Count++] = pfn;
    }

    public void Remove(ulong pfn)
    {
        int i = _index[pfn];
        if (i < 0) return;
        ulong last = _members[--Count];
        _members[i] = last;
        _index[last] = i;
        _index[pfn] = -1;
    }
}

/// <summary>A uniformly random candidate, from a generator seeded by the component's seed.</summary>
public sealed class RandomPolicy(long frames, ulong seed) : IReplacementPolicy
{
    private readonly ResidentSet _resident = new(frames);
    private Xoshiro256 _random = new(seed);

    public ReplacementInput Input => ReplacementInput.AccessedBits;

    public void OnResident(ulong pfn) => OnResident(pfn, 0);
    public void OnResident(ulong pfn, ulong key) => _resident.Add(pfn);
    public void OnReleased(ulong pfn) => _resident.Remove(pfn);
    public void OnEvicted(ulong pfn, ulong key) => _resident.Remove(pfn);
    public void OnAccess(ulong pfn) { }

    public bool TrySelectVictim(IReclaimView view, out ulong pfn)
    {
        pfn = 0;
        if (_resident.Count == 0) return false;
        pfn = _resident[_random.Below(_resident.Count)];
        return true;
    }
}

/// <summary>Where CLOCK's reference bits come from.</summary>
public enum ClockMode
{
    /// <summary>The pages' Accessed bits, set by the page walker (not on TLB hits) and tested and cleared by the hand without a TLB flush.</summary>
    Hardware,
    /// <summary>A reference bit per page set by every access, TLB hits included (the textbook algorithm; one call per access).</summary>
    Textbook,
}

public sealed record ClockOptions : IValidatableObject
{
    [Description("hardware: the reference bit is the Accessed bit as the walker sets it (TLB hits set nothing); textbook: every access sets the page's reference bit.")]
    public ClockMode Mode { get; init; } = ClockMode.Hardware;

    [Description("Whether a page arrives referenced (the faulting access counts as a reference) or with its bit clear (libCacheSim's Clock). false needs mode textbook: in hardware the faulting access sets the Accessed bit.")]
    public bool ReferenceOnInsert { get; init; } = true;

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (Mode == ClockMode.Hardware && !ReferenceOnInsert)
            yield return new ValidationResult(
                "referenceOnInsert false needs mode textbook: in hardware mode the faulting access sets the Accessed bit as the page walker does; set mode to textbook or referenceOnInsert to true",
                ["referenceOnInsert"]);
    }
}

/// <summary>
/// CLOCK (second chance): candidates on a circle in arrival order; the hand skips a page whose reference bit is set,
/// clearing it, and takes the first page found with the bit clear. New pages go just behind the hand. In hardware mode
/// the bit is the pages' Accessed bits; in textbook mode it is the policy's own, set by every access, and an arriving
/// page's bit is set or clear as <see cref="ClockOptions.ReferenceOnInsert"/> says.
/// </summary>
public sealed class ClockPolicy(FrameLinks links, ClockOptions options)
    : ArrivalOrderPolicy(links, options.Mode == ClockMode.Textbook ? ReplacementInput.EveryAccess : ReplacementInput.AccessedBits)
{
    private const byte Referenced = 1, Arriving = 2;
    private readonly byte[] _bits = options.Mode == ClockMode.Textbook ? new byte[links.Count] : [];

    public ClockPolicy(FrameLinks links) : this(links, new ClockOptions())
    {
    }

    public override void OnResident(ulong pfn, ulong key)
    {
        base.OnResident(pfn, key);
        if (_bits.Length > 0) _bits[pfn] = (byte)(Arriving | (options.ReferenceOnInsert ? Referenced : 0));
    }

    public override void OnAccess(ulong pfn)
    {
        if (!Order.Contains(pfn)) return;
        byte b = _bits[pfn];
        // The access that faulted the page in is reported first; the insertion rule already decided its bit.
        _bits[pfn] = (b & Arriving) != 0 ? (byte)(b & Referenced) : Referenced;
    }

    private bool TestAndClear(IReclaimView view, ulong pfn)
    {
        if (_bits.Length == 0) return view.TestAndClearAccessed(pfn, clear: true);
        bool referenced = (_bits[pfn] & Referenced) != 0;
        _bits[pfn] = 0;
        return referenced;
    }

    public override bool TrySelectVictim(IReclaimView view, out ulong pfn)
    {
        // The head of the list is under the hand; advancing the hand moves the page to the tail.
        for (int scanned = 0, limit = 2 * Order.Count(0) + 1; scanned < limit; scanned++)
        {
            if (!Order.TryHead(0, out pfn)) return false;
            if (!TestAndClear(view, pfn)) return true;
            Order.MoveToTail(0, pfn);
        }
        return Order.TryHead(0, out pfn);
    }
}

/// <summary>
/// Not recently used as the enhanced CLOCK: pages fall in four classes by (Accessed, Dirty); the hand looks for the
/// lowest class present — first (0,0) without changing anything, then (0,1) clearing Accessed bits as it passes, then
/// again — so a clean unreferenced page goes first and a dirty referenced one last.
/// </summary>
public sealed class NruPolicy(FrameLinks links) : ArrivalOrderPolicy(links, ReplacementInput.AccessedBits)
{
    public override bool TrySelectVictim(IReclaimView view, out ulong pfn)
    {
        int n = Order.Count(0);
        pfn = 0;
        if (n == 0) return false;
        for (int round = 0; round < 2; round++)
        {
            // Pass 1: (A=0, D=0), nothing changes.
            for (int i = 0; i < n; i++)
            {
                Order.TryHead(0, out pfn);
                if (!view.TestAndClearAccessed(pfn, clear: false) && !view.IsDirty(pfn)) return true;
                Order.MoveToTail(0, pfn);
            }
            // Pass 2: (A=0, D=1), clearing A on the way.
            for (int i = 0; i < n; i++)
            {
                Order.TryHead(0, out pfn);
                if (!view.TestAndClearAccessed(pfn, clear: true)) return true;
                Order.MoveToTail(0, pfn);
            }
        }
        return Order.TryHead(0, out pfn);
    }
}

public sealed record WsClockOptions
{
    [Description("Working-set window τ, in page-ins (the policy's virtual time): a page unreferenced for longer than τ is outside the working set.")]
    [Range(1L, 1L << 40)]
    public long Tau { get; init; } = 64;
}

/// <summary>
/// WSClock (Carr and Hennessy): CLOCK over the candidates, each stamped with the virtual time of its last observed
/// use. A referenced page is re-stamped and skipped; an unreferenced page older than τ is outside the working set: a
/// clean one is taken at once, a dirty one is scheduled for writing and passed. After a full turn the first old dirty
/// page is taken (its write done), else the oldest page seen. Virtual time counts page-ins.
/// </summary>
public sealed class WsClockPolicy(FrameLinks links, WsClockOptions options) : ArrivalOrderPolicy(links, ReplacementInput.AccessedBits)
{
    private readonly long[] _lastUse = new long[links.Count];
    private long _now;


    public override void OnResident(ulong pfn, ulong key)
    {
        _now++;
        _lastUse[pfn] = _now;
        Order.MoveToTail(0, pfn);
    }

    public override bool TrySelectVictim(IReclaimView view, out ulong pfn)
    {
        int n = Order.Count(0);
        pfn = 0;
        if (n == 0) return false;
        ulong? firstOldDirty = null, oldest = null;
        for (int i = 0; i < n; i++)
        {
            Order.TryHead(0, out pfn);
            if (view.TestAndClearAccessed(pfn, clear: true))
            {
                _lastUse[pfn] = _now;
            }
            else if (_now - _lastUse[pfn] > options.Tau)
            {
                if (!view.IsDirty(pfn)) return true;
                firstOldDirty ??= pfn;
            }
            if (oldest is null || _lastUse[pfn] < _lastUse[oldest.Value]) oldest = pfn;
            Order.MoveToTail(0, pfn);
        }
        pfn = firstOldDirty ?? oldest!.Value;
        return true;
    }
}

public sealed record TwoListOptions
{
    [Description("Workingset refault detection (mm/workingset.c): an evicted page leaves a shadow with the eviction clock; refaulting within a distance no larger than the active list it is activated at once.")]
    public bool Workingset { get; init; } = true;
}

/// <summary>
/// Linux's two lists (mm/vmscan.c): new pages start on the inactive list. Scanning the inactive list's oldest page
/// tests and clears its Accessed bits (no TLB flush on x86) as page_check_references does: referenced for the first
/// time it is marked referenced and rotated (kept); referenced again while marked it is activated; unreferenced it is
/// reclaimed. The active list is aged into the inactive one whenever the inactive list is the smaller (inactive_is_low
/// with ratio 1), clearing Accessed bits as it goes (shrink_active_list deactivates anonymous pages even when
/// referenced). With <see cref="TwoListOptions.Workingset"/> (mm/workingset.c): a nonresident-age clock advances on
/// every eviction and activation; an evicted page's shadow records the clock; a page that refaults with a refault
/// distance (clock now minus shadow) no larger than the workingset size, the active list, starts on the active list and
/// advances the clock.
/// </summary>
public sealed class TwoListPolicy(FrameLinks links, TwoListOptions options) : IReplacementPolicy
{
    private const int Inactive = 0, Active = 1;
    private readonly FrameLists _lists = new(links, 2);
    private readonly bool[] _referenced = new bool[links.Count];
    /// <summary>Shadow entries: key of an evicted page → the nonresident age at its eviction.</summary>
    private readonly Dictionary<ulong, long> _shadows = [];
    private long _nonresidentAge;

    public TwoListPolicy(FrameLinks links) : this(links, new TwoListOptions())
    {
    }

    public ReplacementInput Input => ReplacementInput.AccessedBits;

    /// <summary>Pages on the active list (for tests).</summary>
    public int ActiveCount => _lists.Count(Active);

    public void OnResident(ulong pfn) => OnResident(pfn, 0);

    public void OnResident(ulong pfn, ulong key)
    {
        _referenced[pfn] = false;
        // workingset_refault: activate when the refault distance fits in the workingset (the active list).
        if (options.Workingset && key != 0 && _shadows.Remove(key, out long eviction) && _nonresidentAge - eviction <= _lists.Count(Active))
        {
            _nonresidentAge++;
            _lists.MoveToTail(Active, pfn);
            return;
        }
        _lists.MoveToTail(Inactive, pfn);
    }

    public void OnReleased(ulong pfn) => _lists.Remove(pfn);

    public void OnEvicted(ulong pfn, ulong key)
    {
        _lists.Remove(pfn);
        if (!options.Workingset || key == 0) return;
        _shadows[key] = _nonresidentAge; // workingset_eviction
        _nonresidentAge++;
    }

    public void OnAccess(ulong pfn) { }

    public bool TrySelectVictim(IReclaimView view, out ulong pfn)
    {
        int limit = 4 * (_lists.Count(Inactive) + _lists.Count(Active)) + 4;
        for (int step = 0; step < limit; step++)
        {
            while (_lists.Count(Inactive) < _lists.Count(Active) || _lists.Count(Inactive) == 0)
            {
                if (!_lists.TryHead(Active, out ulong old)) break;
                // shrink_active_list: anonymous pages are deactivated even when referenced; PG_referenced stays set, so a
                // deactivated page referenced again is activated on its next inactive scan.
                view.TestAndClearAccessed(old, clear: true);
                _lists.MoveToTail(Inactive, old);
            }
            if (!_lists.TryHead(Inactive, out pfn)) return false;
            // page_check_references: referenced_ptes tested and cleared, PG_referenced tested and cleared.
            bool referencedPtes = view.TestAndClearAccessed(pfn, clear: true);
            bool referencedPage = _referenced[pfn];
            _referenced[pfn] = false;
            if (referencedPtes)
            {
                _referenced[pfn] = true; // SetPageReferenced, for activated pages as well
                if (referencedPage)
                {
                    _lists.MoveToTail(Active, pfn); // referenced twice: activated (the mark stays, as SetPageReferenced leaves it)
                    _nonresidentAge++; // move_folios_to_lru ages the nonresident clock for activations
                }
                else
                {
                    _lists.MoveToTail(Inactive, pfn); // referenced once: kept on the inactive list
                }
                continue;
            }
            return true;
        }
        return _lists.TryHead(Inactive, out pfn) || _lists.TryHead(Active, out pfn);
    }
}
