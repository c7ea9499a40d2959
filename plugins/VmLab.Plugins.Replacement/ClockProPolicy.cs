using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
using VmLab.Abstractions;
using VmLab.Abstractions.Replacement;

namespace VmLab.Plugins.Replacement;

/// <summary>Which reading of CLOCK-Pro the policy follows where the paper's text and its authors' simulator differ.</summary>
public enum ClockProVariant
{
    /// <summary>The authors' simulator (Song Jiang's clock-pro.c, 9/29/05), the code behind the paper's figures.</summary>
    Authors,
    /// <summary>The rules as §4 of the paper states them.</summary>
    Paper,
}

public sealed record ClockProOptions : IValidatableObject
{
    [Description("authors: as the authors' simulator clock-pro.c runs it (the first m - m_c pages enter hot; an access right after one to the same page is not a reference; HAND_cold also evicts a referenced cold page outside its test period; a promotion is paired with one demotion by HAND_hot, and refused when HAND_hot reaches the promoted page first). paper: as §4's text states the rules (every page enters cold; HAND_cold moves a referenced cold page outside its test period to the list head; HAND_hot runs while more than m - m_c pages are hot).")]
    public ClockProVariant Variant { get; init; } = ClockProVariant.Authors;

    [Description("m_c, the memory for resident cold pages, as a share of the memory m in percent (at least minColdPages), set when reclaim first runs: 5, the authors' MIN_COLD_ALLOC_RATE. With adaptive false it stays there; with adaptive true it is where m_c starts (paper) or the fewest resident cold pages HAND_cold's credits may leave (authors, MIN_COLD_ALLOC_RATE).")]
    [Range(0, 100)]
    public int ColdPercent { get; init; } = 5;

    [Description("The least m_c can be, in pages: 2, the authors' LOWEST_COLD_ALLOC.")]
    [Range(1, int.MaxValue)]
    public int MinColdPages { get; init; } = 2;

    [Description("Adapt the cold allocation. paper: as §4.3 says, m_c + 1 (up to m) when a cold page is accessed in its test period, m_c - 1 (down to minColdPages) when a test period ends without one. authors: as clock-pro.c with ADAPTIVE_COLD_ALLOC defined, credits (+1 for a refault in the test period, -1 for a non-resident page leaving) that HAND_cold spends by promoting without a demotion or demoting without a promotion, while the resident cold pages stay within coldPercent..maxColdPercent of m. false keeps m_c fixed, as the authors' simulator does by default.")]
    public bool Adaptive { get; init; }

    [Description("variant authors with adaptive: the most memory for resident cold pages, in percent of m (at least minColdPages; below coldPercent it is coldPercent), the authors' MAX_COLD_ALLOC_RATE: 5, as their header sets it (with 5 and 5 adaptation changes nothing).")]
    [Range(0, 100)]
    public int MaxColdPercent { get; init; } = 5;

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (MaxColdPercent != 5 && !(Adaptive && Variant == ClockProVariant.Authors))
            yield return new ValidationResult(
                "maxColdPercent bounds the cold allocation only with variant authors and adaptive true; set both, or leave maxColdPercent out",
                ["maxColdPercent"]);
    }
}

/// <summary>
/// CLOCK-Pro (Jiang, Chen and Zhang, USENIX ATC 2005, §4): resident hot and cold pages and non-resident cold pages in
/// their test period on one circular list kept in the order of the pages' accesses. The list head holds the page with
/// the smallest recency; the three hands move from the list tail (the largest recency) towards the head and past it to
/// the tail again, so a page placed at the head is the last one a hand reaches. A page's reference bit is the policy's
/// own, set by accesses after the one that faulted it in (<see cref="ClockProVariant.Authors"/>: only by an access that
/// follows one to another page).
/// <list type="bullet">
/// <item>A fault on a page not in the list: a resident cold page in its test period at the list head (authors: hot
/// while fewer than m - m_c pages are hot, which makes the first m - m_c pages hot).</item>
/// <item>A fault on a non-resident page in its test period, after HAND_cold has freed a frame: it turns hot at the list
/// head; paper: m_c + 1, HAND_hot runs while more than m - m_c pages are hot; authors: HAND_hot demotes one hot page, and
/// if it reaches the faulted page first (ending its test period) the page enters cold as a new one.</item>
/// <item>HAND_cold, from the resident cold page with the largest recency: an unreferenced page is the victim (authors:
/// also a referenced one outside its test period); the victim stays in the list, non-resident, if in its test period.
/// A referenced page in its test period turns hot at the head (as on a fault); paper: a referenced page outside it has
/// its bit reset and moves to the head, its status unchanged.</item>
/// <item>HAND_hot moves a hot page to the list head: spared (bit reset) if referenced, else turned cold; it ends the
/// test period of a cold page it passes and drops it if non-resident.</item>
/// <item>HAND_test keeps at most m non-resident pages: it ends test periods and drops non-resident pages.</item>
/// <item>m_c is fixed unless <see cref="ClockProOptions.Adaptive"/>: paper, ±1 per §4.3; authors, clock-pro.c's
/// ADAPTIVE_COLD_ALLOC credits, spent by HAND_cold on a promotion without a demotion or a demotion without a
/// promotion while the resident cold pages stay within coldPercent..maxColdPercent of m.</item>
/// </list>
/// m is the most pages ever resident at once (the cache size once memory has filled), known when reclaim first runs;
/// the authors' first m - m_c pages are made hot then, in the order they came. The list lives in a node pool that grows
/// on demand (a page-in allocates only when the pool or the map of non-resident keys grows); every access only sets a
/// byte.
/// </summary>
public sealed class ClockProPolicy : IReplacementPolicy
{
    private const int Nil = -1;
    private const byte Resident = 1, Hot = 2, Test = 4;
    private const byte Referenced = 1, Arriving = 2;
    private const int Met = 1, Demoted = 2;

    private readonly ClockProOptions _options;
    private readonly bool _authors;
    private readonly int[] _nodeOf;
    private readonly byte[] _bits;
    private readonly Dictionary<ulong, int> _nonResident = [];
    // _toHead[n]: the next node a hand reaches after n (the next smaller recency; from the head, the tail).
    private int[] _toHead = new int[64], _toTail = new int[64];
    private ulong[] _id = new ulong[64];
    private byte[] _state = new byte[64];
    private int _used, _free = Nil;
    private int _head = Nil, _handHot = Nil, _handCold = Nil, _handTest = Nil;
    private int _hot, _cold, _m;
    private int _mc = -1, _maxCold, _credits;
    private ulong _last = ulong.MaxValue;

    public ClockProPolicy(long frames, ClockProOptions options)
    {
        _options = options;
        _authors = options.Variant == ClockProVariant.Authors;
        _nodeOf = new int[frames];
        Array.Fill(_nodeOf, Nil);
        _bits = new byte[frames];
    }

    public ReplacementInput Input => ReplacementInput.EveryAccess;

    /// <summary>m_c (for tests; -1 before reclaim first runs).</summary>
    public int ColdTarget => _mc;
    /// <summary>Resident hot pages, resident cold pages and non-resident pages (for tests).</summary>
    public (int Hot, int Cold, int NonResident) Counts => (_hot, _cold, _nonResident.Count);

    /// <summary>Whether the frame's page is hot (for tests).</summary>
    public bool IsHot(ulong pfn) => pfn < (ulong)_nodeOf.Length && _nodeOf[pfn] != Nil && (_state[_nodeOf[pfn]] & Hot) != 0;

    /// <summary>Whether the frame's page is in its test period (for tests).</summary>
    public bool InTest(ulong pfn) => pfn < (ulong)_nodeOf.Length && _nodeOf[pfn] != Nil && (_state[_nodeOf[pfn]] & Test) != 0;

    /// <summary>Whether the frame's page has its reference bit set (for tests).</summary>
    public bool IsReferenced(ulong pfn) => pfn < (ulong)_nodeOf.Length && _nodeOf[pfn] != Nil && (_bits[pfn] & Referenced) != 0;

    /// <summary>Whether the page named <paramref name="key"/> is on the clock as a non-resident page (for tests).</summary>
    public bool IsNonResident(ulong key) => _nonResident.ContainsKey(key);

    /// <summary>The frames of the resident pages from the list head (smallest recency) to the tail (for tests).</summary>
    public IReadOnlyList<ulong> ResidentFromHead()
    {
        var list = new List<ulong>();
        if (_head == Nil) return list;
        int n = _head;
        do
        {
            if ((_state[n] & Resident) != 0) list.Add(_id[n]);
            n = _toTail[n];
        } while (n != _head);
        return list;
    }

    public void OnResident(ulong pfn) => OnResident(pfn, 0);

    public void OnResident(ulong pfn, ulong key)
    {
        if (_nodeOf[pfn] != Nil) Forget(pfn);
        if (_authors)
        {
            // The faulting access, reported next, and any access right after it to the same page are no reference.
            _bits[pfn] = 0;
            _last = pfn;
        }
        else _bits[pfn] = Arriving; // the faulting access, reported next, is not a reference
        bool hot = _authors && _m > 0 && _m - (_hot + _cold) > _mc; // memory still filling (as while the first pages come)
        if (key != 0 && _nonResident.TryGetValue(key, out int n))
        {
            if (!_authors)
            {
                RefaultPaper(n, key, pfn);
                return;
            }
            // Authors: HAND_hot demotes one hot page for the faulted page. If it reaches the page first, HAND_test,
            // which it pushes along, ends the page's test period and drops it: the page then comes in as one not in
            // the list, hot only if HAND_hot had demoted a page on its way.
            int r = RunHandHotAuthors(n);
            if ((r & Met) == 0 || (r & Demoted) != 0) Credit(+1);
            if ((r & Met) == 0)
            {
                _nonResident.Remove(key);
                _id[n] = pfn;
                _nodeOf[pfn] = n;
                _state[n] = Resident | Hot;
                _hot++;
                MoveToHead(n);
                return;
            }
            if (_nonResident.Remove(key, out int left)) Unlink(left);
            hot = (r & Demoted) != 0;
        }
        n = NewNode(pfn, hot ? (byte)(Resident | Hot) : (byte)(Resident | Test));
        _nodeOf[pfn] = n;
        if (hot) _hot++;
        else _cold++;
        if (_m > 0) _m = Math.Max(_m, _hot + _cold);
        InsertAtHead(n);
    }

    /// <summary>Paper: the faulted page, in its test period, turns hot at the head (m_c + 1) and HAND_hot runs.</summary>
    private void RefaultPaper(int n, ulong key, ulong pfn)
    {
        _nonResident.Remove(key);
        _state[n] = Resident | Hot;
        _id[n] = pfn;
        _nodeOf[pfn] = n;
        _hot++;
        _m = Math.Max(_m, _hot + _cold);
        GrowCold();
        MoveToHead(n);
        RunHandHotPaper();
    }

    public void OnAccess(ulong pfn)
    {
        if (_nodeOf[pfn] == Nil) return;
        if (_authors)
        {
            if (pfn == _last) return;
            _last = pfn;
            _bits[pfn] = Referenced;
            return;
        }
        byte b = _bits[pfn];
        _bits[pfn] = (b & Arriving) != 0 ? (byte)(b & Referenced) : Referenced;
    }

    public void OnReleased(ulong pfn)
    {
        if (_nodeOf[pfn] != Nil) Forget(pfn);
    }

    public void OnEvicted(ulong pfn, ulong key)
    {
        int n = _nodeOf[pfn];
        if (n == Nil) return;
        if ((_state[n] & (Hot | Test)) != Test || key == 0)
        {
            Forget(pfn);
            AdvanceHandCold();
        }
        else
        {
            // A cold page evicted in its test period stays in the list, non-resident, until the test period ends.
            _nodeOf[pfn] = Nil;
            _bits[pfn] = 0;
            _cold--;
            if (_nonResident.Remove(key, out int stale)) Unlink(stale);
            _state[n] = Test;
            _id[n] = key;
            _nonResident[key] = n;
            if (_handCold == n) _handCold = _toHead[n];
            AdvanceHandCold();
        }
        if (_authors)
        {
            if (_nonResident.Count > _m) HandTestToNonResident();
        }
        else
            while (_nonResident.Count > _m) HandTestStepPaper();
    }

    public bool TrySelectVictim(IReclaimView view, out ulong pfn)
    {
        pfn = 0;
        if (_hot + _cold == 0) return false;
        if (_mc < 0) FirstReclaim();
        _m = Math.Max(_m, _hot + _cold);
        for (long step = 0, limit = 8L * (_used + 2); step < limit; step++)
        {
            if (_cold == 0)
            {
                // Every resident page is hot (cold pages left the machine): HAND_hot demotes one.
                if (_authors) RunHandHotAuthors(Nil);
                else DemoteOnePaper();
                continue;
            }
            AdvanceHandCold();
            int n = _handCold;
            ulong frame = _id[n];
            bool referenced = (_bits[frame] & Referenced) != 0, inTest = (_state[n] & Test) != 0;
            if (!referenced || (_authors && !inTest))
            {
                pfn = frame; // HAND_cold stays on it until it is evicted
                return true;
            }
            if (_authors)
            {
                if (_options.Adaptive)
                {
                    int coldPages = _m - _hot;
                    if ((_credits > 0 && coldPages >= _maxCold) || (_credits < 0 && coldPages <= _mc)) _credits = 0;
                }
                if (_credits < 0)
                {
                    Promote(n, frame); // fewer cold pages wanted: promoted without a demotion
                    _credits++;
                    continue;
                }
                bool moreCold = _credits > 0; // decided before HAND_hot, whose HAND_test steps may spend credits
                int r = RunHandHotAuthors(n);
                if (moreCold)
                {
                    // More cold pages wanted: HAND_hot's demotion is not paired with a promotion.
                    if ((r & Met) == 0)
                    {
                        // The page stays cold, to the head in a new test period; clock-pro.c then sets the reference bit
                        // of the page after it (meaning to restore this page's, which moving it cleared).
                        int after = _toHead[n];
                        _bits[frame] = 0;
                        _state[n] = Resident | Test;
                        MoveToHead(n);
                        if ((_state[after] & Resident) != 0) _bits[_id[after]] = Referenced;
                        _credits--;
                    }
                    else
                    {
                        _bits[frame] = 0; // reached by HAND_hot: evicted next
                        if ((r & Demoted) != 0) _credits--;
                    }
                    continue;
                }
                // Referenced in its test period: promoted, HAND_hot demoting one hot page; if HAND_hot reaches this page
                // first, HAND_test ends its test period and clears its bit, and it stays cold for HAND_cold to evict.
                if (r != Met) Promote(n, frame);
                continue;
            }
            _bits[frame] = 0;
            if (inTest)
            {
                GrowCold(); // accessed in its test period: turns hot
                Promote(n, frame);
                RunHandHotPaper();
            }
            else MoveToHead(n); // no status change, no HAND actions: bit reset, to the list head
        }
        for (int n = 0; n < _used; n++)
            if ((_state[n] & (Resident | Hot)) == Resident && _nodeOf[_id[n]] == n)
            {
                pfn = _id[n];
                return true;
            }
        return false;
    }

    /// <summary>m and m_c when reclaim first runs; the authors' first m - m_c pages, in the order they came, are hot.</summary>
    private void FirstReclaim()
    {
        _m = _hot + _cold;
        _mc = Math.Min(_m, Math.Max(_options.MinColdPages, (int)((long)_m * _options.ColdPercent / 100)));
        _maxCold = _options.MaxColdPercent < _options.ColdPercent ? _mc
            : Math.Min(_m, Math.Max(_options.MinColdPages, (int)((long)_m * _options.MaxColdPercent / 100)));
        if (!_authors || _head == Nil) return;
        int tail = _toHead[_head];
        int n = tail, firstCold = Nil;
        for (int i = 0; i < _used && (n != tail || i == 0); i++, n = _toHead[n])
        {
            if ((_state[n] & (Resident | Hot)) != Resident) continue;
            if (_hot < _m - _mc)
            {
                _state[n] = Resident | Hot;
                _hot++;
                _cold--;
            }
            else if (firstCold == Nil) firstCold = n;
        }
        _handHot = _handTest = tail;
        _handCold = firstCold == Nil ? tail : firstCold;
    }

    private void Promote(int n, ulong frame)
    {
        _bits[frame] = 0;
        _state[n] = Resident | Hot;
        _cold--;
        _hot++;
        MoveToHead(n);
    }

    /// <summary>Moves HAND_cold to the next resident cold page, if there is one.</summary>
    private void AdvanceHandCold()
    {
        if (_cold == 0 || _handCold == Nil) return;
        while ((_state[_handCold] & (Resident | Hot)) != Resident) _handCold = _toHead[_handCold];
    }

    // ---- the authors' HAND_hot and HAND_test ------------------------------------------------------------

    /// <summary>
    /// HAND_hot until it has turned one hot page cold and rests on a hot page. A referenced hot page is spared (bit
    /// reset) and moved to the head; the unreferenced one turns cold (not in its test period) at the head. Cold pages are
    /// passed; whenever HAND_hot has just passed HAND_test, HAND_test takes a step. Returns <see cref="Met"/> if the hand
    /// passed <paramref name="trigger"/>, with <see cref="Demoted"/> if it turned a page cold.
    /// </summary>
    private int RunHandHotAuthors(int trigger)
    {
        bool done = false;
        int result = 0;
        if (_hot == 0)
        {
            // No hot page to demote: the hand would reach the trigger first.
            if (trigger != Nil) EndTestAuthors(trigger);
            return Met;
        }
        while (!done || (_hot > 0 && (_state[_handHot] & Hot) == 0))
        {
            int h = _handHot;
            if ((_state[h] & Hot) != 0)
            {
                ulong frame = _id[h];
                if ((_bits[frame] & Referenced) != 0) _bits[frame] = 0;
                else
                {
                    _state[h] = Resident;
                    _hot--;
                    _cold++;
                    result |= Demoted;
                    done = true;
                }
                MoveToHead(h); // HAND_hot (and HAND_test, if on it) moves on first
            }
            else
            {
                if (h == trigger)
                {
                    result |= Met;
                    done = true;
                }
                _handHot = _toHead[h];
            }
            if (_toTail[_handHot] == _handTest) HandTestStepAuthors();
        }
        return result;
    }

    /// <summary>One step of HAND_test: a cold page's test period ends and its bit is cleared; a non-resident one leaves.</summary>
    private void HandTestStepAuthors()
    {
        int t = _handTest;
        _handTest = _toHead[t];
        if ((_state[t] & (Hot | Resident)) == 0) Credit(-1); // a non-resident page's test period ends
        if ((_state[t] & Hot) == 0) EndTestAuthors(t);
    }

    private void EndTestAuthors(int n)
    {
        if ((_state[n] & Resident) != 0)
        {
            _state[n] = Resident;
            _bits[_id[n]] = 0;
        }
        else if ((_state[n] & Test) != 0)
        {
            _nonResident.Remove(_id[n]);
            Unlink(n);
        }
    }

    /// <summary>More than m non-resident pages: HAND_test ends the test periods of the resident cold pages it passes and drops the first non-resident page.</summary>
    private void HandTestToNonResident()
    {
        while ((_state[_handTest] & Resident) != 0)
        {
            int t = _handTest;
            if ((_state[t] & Hot) == 0) EndTestAuthors(t);
            _handTest = _toHead[t];
        }
        HandTestStepAuthors();
    }

    private void Credit(int n)
    {
        if (_options.Adaptive) _credits += n;
    }

    // ---- the paper's HAND_hot and HAND_test -------------------------------------------------------------

    private void GrowCold()
    {
        if (_options.Adaptive && _mc >= 0) _mc = Math.Min(_mc + 1, _m);
    }

    private void ShrinkCold()
    {
        if (_options.Adaptive && _mc >= 0) _mc = Math.Max(_mc - 1, Math.Min(_options.MinColdPages, _m));
    }

    /// <summary>HAND_hot while more than m - m_c pages are hot; then it goes on to rest at a hot page.</summary>
    private void RunHandHotPaper()
    {
        if (_hot == 0 || _hot <= _m - _mc) return;
        while (_hot > 0 && _hot > _m - _mc) HandHotStepPaper();
        while (_hot > 0 && (_state[_handHot] & Hot) == 0) HandHotStepPaper();
    }

    private void DemoteOnePaper()
    {
        int hot = _hot;
        while (_hot == hot) HandHotStepPaper();
    }

    /// <summary>One step of HAND_hot: a hot page goes to the head (spared or turned cold); a cold page's test period ends.</summary>
    private void HandHotStepPaper()
    {
        int n = _handHot;
        byte s = _state[n];
        if ((s & Hot) != 0)
        {
            ulong frame = _id[n];
            if ((_bits[frame] & Referenced) != 0) _bits[frame] = 0; // spared: stays hot
            else
            {
                _state[n] = Resident; // turns cold, not in a test period
                _hot--;
                _cold++;
            }
            MoveToHead(n);
            return;
        }
        _handHot = _toHead[n];
        EndTestPaper(n, s);
    }

    /// <summary>One step of HAND_test.</summary>
    private void HandTestStepPaper()
    {
        int n = _handTest;
        _handTest = _toHead[n];
        byte s = _state[n];
        if ((s & Hot) == 0) EndTestPaper(n, s);
    }

    /// <summary>A cold page's test period ends without a re-access (m_c - 1); a non-resident one leaves the list.</summary>
    private void EndTestPaper(int n, byte s)
    {
        if ((s & Test) == 0) return;
        ShrinkCold();
        if ((s & Resident) != 0)
        {
            _state[n] = Resident;
            return;
        }
        _nonResident.Remove(_id[n]);
        Unlink(n);
    }

    private void Forget(ulong pfn)
    {
        int n = _nodeOf[pfn];
        if ((_state[n] & Hot) != 0) _hot--;
        else _cold--;
        _nodeOf[pfn] = Nil;
        _bits[pfn] = 0;
        Unlink(n);
    }

    // ---- the circular list -----------------------------------------------------------------------------

    private int NewNode(ulong id, byte state)
    {
        int n;
        if (_free != Nil)
        {
            n = _free;
            _free = _toHead[n];
        }
        else
        {
            if (_used == _id.Length)
            {
                int size = _id.Length * 2;
                Array.Resize(ref _toHead, size);
                Array.Resize(ref _toTail, size);
                Array.Resize(ref _id, size);
                Array.Resize(ref _state, size);
            }
            n = _used++;
        }
        _id[n] = id;
        _state[n] = state;
        return n;
    }

    /// <summary>Places the node at the list head: after the present head, before the tail, in the hands' order.</summary>
    private void InsertAtHead(int n)
    {
        if (_head == Nil)
        {
            _toHead[n] = _toTail[n] = n;
            _head = _handHot = _handCold = _handTest = n;
            return;
        }
        int tail = _toHead[_head];
        _toHead[_head] = n;
        _toTail[n] = _head;
        _toHead[n] = tail;
        _toTail[tail] = n;
        _head = n;
    }

    private void MoveToHead(int n)
    {
        Detach(n);
        InsertAtHead(n);
    }

    /// <summary>Takes the node out of the circle; a hand on it moves on to the next node, the head back to the previous one.</summary>
    private void Detach(int n)
    {
        int next = _toHead[n];
        if (next == n)
        {
            _head = _handHot = _handCold = _handTest = Nil;
            return;
        }
        if (_head == n) _head = _toTail[n];
        if (_handHot == n) _handHot = next;
        if (_handCold == n) _handCold = next;
        if (_handTest == n) _handTest = next;
        _toHead[_toTail[n]] = next;
        _toTail[next] = _toTail[n];
    }

    private void Unlink(int n)
    {
        Detach(n);
        _state[n] = 0;
        _toHead[n] = _free;
        _free = n;
    }
}
