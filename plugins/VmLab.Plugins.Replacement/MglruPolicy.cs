using VmLab.Abstractions;
using VmLab.Abstractions.Replacement;

namespace VmLab.Plugins.Replacement;

/// <summary>
/// The multi-generational LRU (Linux <c>lru_gen</c>: mm/vmscan.c, mm/workingset.c, include/linux/mm_inline.h,
/// Documentation/mm/multigen_lru.rst) for one memcg on one node, with anonymous and file pages sharing one set of
/// generations. Generations are sequence numbers from min_seq (oldest) to max_seq (youngest), between MIN_NR_GENS = 2
/// and MAX_NR_GENS = 4 of them, each a list indexed by seq % 4; a page records the generation it belongs to, and the
/// lists are sorted lazily by the eviction, as the kernel's gen counter in folio->flags is.
/// <list type="bullet">
/// <item>A page faulted in is added active (folio_add_lru in a fault): to max_seq - 1, or to max_seq when it refaulted
/// recently (|max_seq - its eviction's min_seq| &lt; 4) with PG_workingset set at its eviction
/// (lru_gen_folio_seq, lru_gen_refault).</item>
/// <item>Aging (try_to_inc_max_seq) runs when only two generations are left: a walk over every mapping of every page
/// reads and clears the Accessed bits through the reclaim view; a young page without PG_referenced or PG_workingset
/// gets PG_referenced, any other young page is promoted to max_seq and gets PG_workingset (folio_update_gen). Then
/// max_seq + 1, after min_seq + 1 when four generations exist (inc_min_seq moves the oldest generation's pages to the
/// oldest end of the next one, clearing PG_referenced, unless promoted).</item>
/// <item>Eviction scans the oldest generation from its oldest page (scan_folios, sort_folio): a promoted page moves to
/// its generation; a page in a tier above the PID controller's tier index is protected (moved to min_seq + 1); else the
/// page's Accessed bits are read and cleared through the reverse map (folio_check_references): none young — it is the
/// victim; young without PG_referenced or PG_workingset — PG_referenced is set and it goes back to max_seq - 1; young
/// otherwise — it is activated with PG_workingset to max_seq (lru_gen_set_refs). An empty oldest generation is retired
/// (try_to_inc_min_seq).</item>
/// <item>Tiers: with no access through file descriptors a page's tier is 3 with PG_workingset, else 0. The PID
/// controller (get_tier_idx, read_ctrl_pos, positive_ctrl_err, reset_ctrl_pos with NR_HIST_GENS = 1) compares each
/// tier's refaulted / (evicted + protected) with tier 0's, gains 2:3, MIN_LRU_BATCH = 64.</item>
/// </list>
/// The deviations from the kernel are listed in docs/replacement.md.
/// </summary>
public sealed class MglruPolicy(FrameLinks links) : IReplacementPolicy
{
    public const int MinNrGens = 2, MaxNrGens = 4, MaxNrTiers = 4, MinLruBatch = 64;
    private const byte NoGen = byte.MaxValue;
    private const byte PgReferenced = 1, PgWorkingset = 2;

    private readonly FrameLists _lists = new(links, MaxNrGens);
    private readonly byte[] _gen = NewGens(links.Count);
    private readonly byte[] _flags = new byte[links.Count];
    /// <summary>Shadow entries: key of an evicted page → (min_seq at its eviction, PG_workingset then).</summary>
    private readonly Dictionary<ulong, (long Seq, bool Workingset)> _shadows = [];
    private readonly long[] _refaulted = new long[MaxNrTiers], _evicted = new long[MaxNrTiers], _protected = new long[MaxNrTiers];
    private readonly long[] _avgRefaulted = new long[MaxNrTiers], _avgTotal = new long[MaxNrTiers];
    private long _maxSeq = MinNrGens + 1, _minSeq;

    private static byte[] NewGens(long frames)
    {
        var g = new byte[frames];
        Array.Fill(g, NoGen);
        return g;
    }

    public ReplacementInput Input => ReplacementInput.AccessedBits;

    /// <summary>The youngest and oldest generation numbers (for tests).</summary>
    public (long Min, long Max) Seq => (_minSeq, _maxSeq);

    /// <summary>The generation number a resident page belongs to, or -1 (for tests).</summary>
    public long GenerationOf(ulong pfn)
    {
        if (pfn >= (ulong)_gen.Length || _gen[pfn] == NoGen) return -1;
        for (long seq = _minSeq; seq <= _maxSeq; seq++)
            if (seq % MaxNrGens == _gen[pfn]) return seq;
        return -1;
    }

    /// <summary>Whether the page has PG_workingset (for tests).</summary>
    public bool IsWorkingset(ulong pfn) => pfn < (ulong)_flags.Length && (_flags[pfn] & PgWorkingset) != 0;

    /// <summary>Whether the page has PG_referenced (for tests).</summary>
    public bool IsReferenced(ulong pfn) => pfn < (ulong)_flags.Length && (_flags[pfn] & PgReferenced) != 0;

    public void OnResident(ulong pfn) => OnResident(pfn, 0);

    public void OnResident(ulong pfn, ulong key)
    {
        bool workingset = false;
        if (key != 0 && _shadows.Remove(key, out var shadow) && Math.Abs(_maxSeq - shadow.Seq) < MaxNrGens)
        {
            // lru_gen_refault: a recent refault counts in its tier and restores PG_workingset.
            _refaulted[Tier(shadow.Workingset)]++;
            workingset = shadow.Workingset;
        }
        _flags[pfn] = workingset ? PgWorkingset : (byte)0;
        // Added active in the fault: lru_gen_folio_seq gives max_seq - (MIN_NR_GENS - workingset) + 1.
        Add(pfn, Math.Max(_maxSeq - (workingset ? 0 : 1), _minSeq));
    }

    public void OnAccess(ulong pfn) { }

    public void OnReleased(ulong pfn) => Leave(pfn);

    public void OnEvicted(ulong pfn, ulong key)
    {
        if (_gen[pfn] == NoGen) return;
        bool workingset = (_flags[pfn] & PgWorkingset) != 0;
        _evicted[Tier(workingset)]++; // lru_gen_eviction
        if (key != 0) _shadows[key] = (_minSeq, workingset);
        Leave(pfn);
    }

    private void Leave(ulong pfn)
    {
        _lists.Remove(pfn);
        _gen[pfn] = NoGen;
        _flags[pfn] = 0;
    }

    private void Add(ulong pfn, long seq)
    {
        int gen = (int)(seq % MaxNrGens);
        _gen[pfn] = (byte)gen;
        _lists.MoveToTail(gen, pfn);
    }

    private static int Tier(bool workingset) => workingset ? MaxNrTiers - 1 : 0;

    private int Resident
    {
        get
        {
            int n = 0;
            for (int g = 0; g < MaxNrGens; g++) n += _lists.Count(g);
            return n;
        }
    }

    public bool TrySelectVictim(IReclaimView view, out ulong pfn)
    {
        pfn = 0;
        int resident = Resident;
        if (resident == 0) return false;
        for (long step = 0, limit = 16L * (resident + 4); step < limit; step++)
        {
            if (_maxSeq - _minSeq + 1 <= MinNrGens)
            {
                Age(view);
                continue;
            }
            int oldest = (int)(_minSeq % MaxNrGens);
            if (!_lists.TryHead(oldest, out ulong folio))
            {
                TryIncMinSeq();
                continue;
            }
            // sort_folio
            byte gen = _gen[folio];
            if (gen != oldest)
            {
                _lists.MoveToTail(gen, folio); // promoted by the aging
                continue;
            }
            bool workingset = (_flags[folio] & PgWorkingset) != 0;
            if (Tier(workingset) > TierIndex())
            {
                IncGen(folio, oldest);
                _lists.MoveToTail(_gen[folio], folio);
                _protected[Tier(workingset)]++;
                continue;
            }
            // folio_check_references: the rmap walk reads and clears every mapping's Accessed bit.
            if (!view.TestAndClearAccessed(folio, clear: true))
            {
                pfn = folio;
                return true;
            }
            if ((_flags[folio] & (PgReferenced | PgWorkingset)) == 0)
            {
                _flags[folio] |= PgReferenced; // FOLIOREF_KEEP: back to the generation of a page added outside a fault
                Add(folio, Math.Max(_maxSeq - 1, _minSeq));
            }
            else
            {
                _flags[folio] = PgWorkingset; // FOLIOREF_ACTIVATE
                Add(folio, _maxSeq);
            }
        }
        for (int g = 0; g < MaxNrGens; g++)
            if (_lists.TryHead((int)((_minSeq + g) % MaxNrGens), out pfn)) return true;
        return false;
    }

    /// <summary>folio_inc_gen: a page still in the oldest generation moves to the next one and loses PG_referenced.</summary>
    private void IncGen(ulong folio, int oldest)
    {
        if (_gen[folio] != oldest) return;
        _gen[folio] = (byte)((oldest + 1) % MaxNrGens);
        _flags[folio] &= unchecked((byte)~PgReferenced);
    }

    /// <summary>try_to_inc_max_seq: the page-table walk over every mapping, then inc_max_seq.</summary>
    private void Age(IReclaimView view)
    {
        byte young = (byte)(_maxSeq % MaxNrGens);
        for (int g = 0; g < MaxNrGens; g++)
        {
            for (bool more = _lists.TryHead(g, out ulong folio); more; more = _lists.TryNext(folio, out folio))
            {
                if (!view.TestAndClearAccessed(folio, clear: true)) continue;
                // folio_update_gen
                if ((_flags[folio] & (PgReferenced | PgWorkingset)) == 0) _flags[folio] |= PgReferenced;
                else
                {
                    _flags[folio] = PgWorkingset;
                    _gen[folio] = young;
                }
            }
        }
        if (_maxSeq - _minSeq + 1 == MaxNrGens) IncMinSeq();
        _maxSeq++;
    }

    /// <summary>inc_min_seq: the oldest generation's pages go to the oldest end of the generation they now belong to.</summary>
    private void IncMinSeq()
    {
        int oldest = (int)(_minSeq % MaxNrGens);
        while (_lists.TryHead(oldest, out ulong folio))
        {
            IncGen(folio, oldest);
            _lists.MoveToHead(_gen[folio], folio);
            _protected[Tier((_flags[folio] & PgWorkingset) != 0)]++;
        }
        ResetCtrlPos();
        _minSeq++;
    }

    /// <summary>try_to_inc_min_seq: retires empty oldest generations while more than two remain.</summary>
    private void TryIncMinSeq()
    {
        long seq = _minSeq;
        while (seq + MinNrGens <= _maxSeq && _lists.Count((int)(seq % MaxNrGens)) == 0) seq++;
        if (seq == _minSeq) return;
        ResetCtrlPos();
        _minSeq = seq;
    }

    /// <summary>reset_ctrl_pos with carry-over and one history generation: halve the averages into the new period.</summary>
    private void ResetCtrlPos()
    {
        for (int t = 0; t < MaxNrTiers; t++)
        {
            _avgRefaulted[t] = (_avgRefaulted[t] + _refaulted[t]) / 2;
            _avgTotal[t] = (_avgTotal[t] + _protected[t] + _evicted[t]) / 2;
            _refaulted[t] = _evicted[t] = _protected[t] = 0;
        }
    }

    /// <summary>get_tier_idx: tiers above it are protected.</summary>
    private int TierIndex()
    {
        long spRefaulted = _avgRefaulted[0] + _refaulted[0], spTotal = _avgTotal[0] + _protected[0] + _evicted[0];
        int tier = 1;
        for (; tier < MaxNrTiers; tier++)
        {
            long pvRefaulted = _avgRefaulted[tier] + _refaulted[tier], pvTotal = _avgTotal[tier] + _protected[tier] + _evicted[tier];
            // positive_ctrl_err: the tier refaults little, or no more than tier 0 (gains 2 and 3).
            bool positive = pvRefaulted < MinLruBatch || pvRefaulted * (spTotal + MinLruBatch) * 2 <= (spRefaulted + 1) * pvTotal * 3;
            if (!positive) break;
        }
        return tier - 1;
    }
}
