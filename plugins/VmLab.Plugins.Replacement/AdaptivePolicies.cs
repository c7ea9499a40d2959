using VmLab.Abstractions;
using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
using VmLab.Abstractions.Replacement;

namespace VmLab.Plugins.Replacement;

/// <summary>
/// ARC (Megiddo and Modha, FAST 2003, Fig. 4): T1 holds pages seen once recently, T2 pages seen at least twice, B1/B2
/// remember the keys of pages evicted from each; p, the target size of T1, is real-valued. When reclaim runs for a
/// faulting page x (<see cref="IReclaimView.TryGetArrivingPage"/>) the cases of Fig. 4 run in the paper's order: x in
/// B1 (case II) grows p by max(1, |B2|/|B1|) up to c, x in B2 (case III) shrinks it by max(1, |B1|/|B2|) down to 0,
/// both before REPLACE(x, p); a new page (case IV) trims B1 when |T1| + |B1| = c (or, with B1 empty and |T1| = c,
/// evicts T1's LRU page without remembering it) and B2 when the four lists hold 2c pages. REPLACE evicts T1's LRU page
/// to B1 when |T1| &gt; p, or x is in B2 and |T1| = p; else T2's LRU page to B2. The cache size c is the number of
/// resident candidates counting the arriving page. Background reclaim has no arriving page: REPLACE runs with x not in
/// B2 and p adapts when the page arrives.
/// </summary>
public sealed class ArcPolicy(FrameLinks links) : IReplacementPolicy
{
    private const int T1 = 0, T2 = 1;
    private const ulong NoFrame = ulong.MaxValue;
    private readonly FrameLists _lists = new(links, 2);
    private readonly GhostList _b1 = new(), _b2 = new();
    private readonly bool[] _arriving = new bool[links.Count];
    private double _p;
    /// <summary>A ghost hit handled at selection (cases II and III): the key, now out of B1/B2, goes to T2 when it arrives.</summary>
    private ulong _promotedKey;
    private bool _promotedFromB2;
    /// <summary>Case IV with |T1| = c: this victim leaves T1 without entering B1.</summary>
    private ulong _forgetVictim = NoFrame;

    public ReplacementInput Input => ReplacementInput.EveryAccess;

    /// <summary>The target size of T1 (for tests).</summary>
    public double P => _p;

    public void OnResident(ulong pfn) => OnResident(pfn, 0);
    private int C => _lists.Count(T1) + _lists.Count(T2);

    public void OnResident(ulong pfn, ulong key)
    {
        int c = Math.Max(1, C + 1);
        _arriving[pfn] = true; // the faulting access that brought it in is reported next: it is not a hit
        if (key != 0 && key == _promotedKey)
        {
            _promotedKey = 0; // adapted when its victim was chosen
            _lists.MoveToTail(T2, pfn);
            return;
        }
        // No reclaim ran for this page (a free frame, or background reclaim chose the victim): adapt now.
        if (_b1.Contains(key))
        {
            _p = Math.Min(c, _p + Math.Max(1.0, (double)_b2.Count / _b1.Count));
            _b1.Remove(key);
            _lists.MoveToTail(T2, pfn);
            return;
        }
        if (_b2.Contains(key))
        {
            _p = Math.Max(0, _p - Math.Max(1.0, (double)_b1.Count / _b2.Count));
            _b2.Remove(key);
            _lists.MoveToTail(T2, pfn);
            return;
        }
        _lists.MoveToTail(T1, pfn);
        // |T1| + |B1| <= c and |T1| + |T2| + |B1| + |B2| <= 2c (no-ops when case IV ran at selection).
        while (_lists.Count(T1) + _b1.Count > c && _b1.Count > 0) _b1.RemoveOldest();
        while (C + _b1.Count + _b2.Count > 2 * c && _b2.Count > 0) _b2.RemoveOldest();
    }

    public void OnReleased(ulong pfn)
    {
        if (pfn == _forgetVictim) _forgetVictim = NoFrame;
        _lists.Remove(pfn);
    }

    public void OnEvicted(ulong pfn, ulong key)
    {
        byte list = _lists.ListOf(pfn);
        _lists.Remove(pfn);
        if (pfn == _forgetVictim)
        {
            _forgetVictim = NoFrame;
            return;
        }
        if (list == T1) _b1.AddNewest(key);
        else if (list == T2) _b2.AddNewest(key);
    }

    public void OnAccess(ulong pfn)
    {
        if (!_lists.Contains(pfn)) return;
        if (_arriving[pfn]) _arriving[pfn] = false;
        else _lists.MoveToTail(T2, pfn); // case I
    }

    public bool TrySelectVictim(IReclaimView view, out ulong pfn)
    {
        int c = C;
        if (c == 0)
        {
            pfn = 0;
            return false;
        }
        bool xInB2 = false;
        if (view.TryGetArrivingPage(out ulong key))
        {
            if (key != _promotedKey) _promotedKey = 0; // a promotion whose page never arrived (the fault failed)
            if (key != 0 && key == _promotedKey) xInB2 = _promotedFromB2; // the same fault asks again
            else if (_b1.Contains(key))
            {
                _p = Math.Min(c, _p + Math.Max(1.0, (double)_b2.Count / _b1.Count)); // case II
                _b1.Remove(key);
                (_promotedKey, _promotedFromB2) = (key, false);
            }
            else if (_b2.Contains(key))
            {
                _p = Math.Max(0, _p - Math.Max(1.0, (double)_b1.Count / _b2.Count)); // case III
                _b2.Remove(key);
                (_promotedKey, _promotedFromB2, xInB2) = (key, true, true);
            }
            else if (_lists.Count(T1) + _b1.Count >= c) // case IV(A): |L1| = c
            {
                if (_lists.Count(T1) < c) _b1.RemoveOldest();
                else if (_lists.TryHead(T1, out pfn))
                {
                    _forgetVictim = pfn; // B1 is empty: T1's LRU page leaves the cache and the history
                    return true;
                }
            }
            else if (c + _b1.Count + _b2.Count >= 2 * c) _b2.RemoveOldest(); // case IV(B)
        }
        // REPLACE(x, p)
        int t1 = _lists.Count(T1);
        if (t1 >= 1 && (t1 > _p || (xInB2 && t1 == _p)) && _lists.TryHead(T1, out pfn)) return true;
        return _lists.TryHead(T2, out pfn) || _lists.TryHead(T1, out pfn);
    }
}

/// <summary>
/// CAR, Clock with Adaptive Replacement (Bansal and Modha, FAST 2004): ARC's adaptation over two CLOCKs whose
/// reference bits are the pages' Accessed bits. The hand of T1 (recency) runs while |T1| ≥ max(1, p): an unreferenced
/// page is evicted to B1, a referenced one moves to T2's tail; otherwise T2's hand runs, giving referenced pages a
/// second chance and evicting to B2. A page arrives with its reference bit clear: the Accessed bit its faulting access
/// set is not a reference (the page is passed over once instead, see <see cref="Judge"/>).
/// </summary>
public sealed class CarPolicy(FrameLinks links) : IReplacementPolicy
{
    private const int T1 = 0, T2 = 1;
    private readonly FrameLists _lists = new(links, 2);
    private readonly bool[] _fresh = new bool[links.Count];
    private readonly GhostList _b1 = new(), _b2 = new();
    private double _p;

    public ReplacementInput Input => ReplacementInput.AccessedBits;

    public void OnResident(ulong pfn) => OnResident(pfn, 0);
    private int C => _lists.Count(T1) + _lists.Count(T2);

    public void OnResident(ulong pfn, ulong key)
    {
        int c = Math.Max(1, C + 1);
        _fresh[pfn] = true;
        if (_b1.Contains(key))
        {
            _p = Math.Min(c, _p + Math.Max(1.0, (double)_b2.Count / _b1.Count));
            _b1.Remove(key);
            _lists.MoveToTail(T2, pfn);
        }
        else if (_b2.Contains(key))
        {
            _p = Math.Max(0, _p - Math.Max(1.0, (double)_b1.Count / _b2.Count));
            _b2.Remove(key);
            _lists.MoveToTail(T2, pfn);
        }
        else
        {
            _lists.MoveToTail(T1, pfn);
            while (_lists.Count(T1) + _b1.Count > c && _b1.Count > 0) _b1.RemoveOldest();
            while (C + _b1.Count + _b2.Count > 2 * c && _b2.Count > 0) _b2.RemoveOldest();
        }
    }

    public void OnReleased(ulong pfn) => _lists.Remove(pfn);

    public void OnEvicted(ulong pfn, ulong key)
    {
        byte list = _lists.ListOf(pfn);
        _lists.Remove(pfn);
        if (list == T1) _b1.AddNewest(key);
        else if (list == T2) _b2.AddNewest(key);
    }

    public void OnAccess(ulong pfn) { }

    /// <summary>What the hand does with the page under it.</summary>
    private enum Verdict { Evict, Promote, Rotate }

    /// <summary>
    /// A page's reference bit is its Accessed bits, tested and cleared. The bit the faulting access itself set is not a
    /// reference: a page seen for the first time with the bit set is only passed over (it goes back behind the hand
    /// of its own clock with the bit cleared), and is judged on the next turn.
    /// </summary>
    private Verdict Judge(IReclaimView view, ulong pfn)
    {
        bool referenced = view.TestAndClearAccessed(pfn, clear: true);
        if (_fresh[pfn])
        {
            _fresh[pfn] = false;
            return referenced ? Verdict.Rotate : Verdict.Evict;
        }
        return referenced ? Verdict.Promote : Verdict.Evict;
    }

    public bool TrySelectVictim(IReclaimView view, out ulong pfn)
    {
        int limit = 4 * C + 4;
        for (int step = 0; step < limit; step++)
        {
            int t1 = _lists.Count(T1);
            if (t1 > 0 && (t1 >= Math.Max(1.0, _p) || _lists.Count(T2) == 0))
            {
                _lists.TryHead(T1, out pfn);
                switch (Judge(view, pfn))
                {
                    case Verdict.Evict: return true;
                    case Verdict.Promote: _lists.MoveToTail(T2, pfn); break;
                    default: _lists.MoveToTail(T1, pfn); break;
                }
            }
            else if (_lists.TryHead(T2, out pfn))
            {
                if (Judge(view, pfn) == Verdict.Evict) return true;
                _lists.MoveToTail(T2, pfn);
            }
            else return false;
        }
        return _lists.TryHead(T1, out pfn) || _lists.TryHead(T2, out pfn);
    }
}

public sealed record TwoQueueOptions
{
    [Description("Kin, the threshold of A1in (the FIFO of pages seen once), as a share of the page slots: reclaim takes A1in's oldest page while |A1in| > Kin (the paper suggests 25%).")]
    [Range(1, 99)]
    public int KinPercent { get; init; } = 25;

    [Description("Kout, the identifiers A1out remembers, as a share of the page slots (the paper suggests 50%).")]
    [Range(1, 400)]
    public int KoutPercent { get; init; } = 50;
}

/// <summary>
/// Full 2Q (Johnson and Shasha, VLDB 1994, Fig. 2): a page seen for the first time enters A1in (FIFO); a page still
/// remembered in A1out (identifiers of pages paged out of A1in) enters Am (LRU); a hit in Am moves the page to Am's
/// head, a hit in A1in does nothing. reclaimfor(X): when |A1in| &gt; Kin, A1in's tail Y is paged out and its identifier
/// goes to A1out's head, dropping A1out's tail when |A1out| &gt; Kout; else Am's tail is paged out and not remembered.
/// Kin and Kout are real-valued shares of the page slots c, the resident candidates counting the arriving page. As in
/// the paper, page X is looked up in A1out before reclaimfor(X) runs (X's identifier still counts in |A1out| during it
/// and leaves when X enters Am); in background reclaim, with no arriving page, the lookup happens when the page arrives.
/// </summary>
public sealed class TwoQueuePolicy(FrameLinks links, TwoQueueOptions options) : IReplacementPolicy
{
    private const int A1In = 0, Am = 1;
    private readonly FrameLists _lists = new(links, 2);
    private readonly GhostList _a1Out = new();
    private readonly bool[] _arriving = new bool[links.Count];
    /// <summary>The arriving page looked up in A1out when reclaim ran for it, and whether it was there.</summary>
    private ulong _lookedUpKey;
    private bool _lookedUpInA1Out;

    public ReplacementInput Input => ReplacementInput.EveryAccess;

    public void OnResident(ulong pfn) => OnResident(pfn, 0);
    private int Slots => _lists.Count(A1In) + _lists.Count(Am);

    public void OnResident(ulong pfn, ulong key)
    {
        _arriving[pfn] = true;
        bool remembered = _a1Out.Remove(key);
        if (key != 0 && key == _lookedUpKey)
        {
            remembered = _lookedUpInA1Out; // reclaimfor may have dropped it from A1out's tail after the lookup
            _lookedUpKey = 0;
        }
        _lists.MoveToTail(remembered ? Am : A1In, pfn);
    }

    public void OnReleased(ulong pfn) => _lists.Remove(pfn);

    public void OnEvicted(ulong pfn, ulong key)
    {
        int slots = Slots; // the victim still counts: its slot goes to the arriving page
        byte list = _lists.ListOf(pfn);
        _lists.Remove(pfn);
        if (list != A1In) return; // paged out of Am: not remembered
        _a1Out.AddNewest(key);
        while ((long)_a1Out.Count * 100 > (long)slots * options.KoutPercent) _a1Out.RemoveOldest();
    }

    public void OnAccess(ulong pfn)
    {
        if (_lists.ListOf(pfn) == FrameLists.None) return;
        if (_arriving[pfn]) _arriving[pfn] = false;
        else if (_lists.ListOf(pfn) == Am) _lists.MoveToTail(Am, pfn);
    }

    public bool TrySelectVictim(IReclaimView view, out ulong pfn)
    {
        if (view.TryGetArrivingPage(out ulong key) && key != _lookedUpKey)
            (_lookedUpKey, _lookedUpInA1Out) = (key, key != 0 && _a1Out.Contains(key));
        if ((long)_lists.Count(A1In) * 100 > (long)Slots * options.KinPercent && _lists.TryHead(A1In, out pfn)) return true;
        return _lists.TryHead(Am, out pfn) || _lists.TryHead(A1In, out pfn);
    }
}

public sealed record LirsOptions
{
    [Description("Share of the resident pages kept for HIR (high inter-reference recency) pages (the paper uses 1%).")]
    [Range(1, 50)]
    public int HirPercent { get; init; } = 1;

    [Description("Non-resident HIR pages remembered in the LIRS stack, as a multiple of the resident pages.")]
    [Range(1, 16)]
    public int NonResidentFactor { get; init; } = 2;
}

/// <summary>
/// LIRS (Jiang and Zhang, SIGMETRICS 2002): pages with low inter-reference recency (LIR) stay resident; the stack S
/// orders pages by recency (resident or not) and is pruned so its bottom is always LIR; the queue Q holds the resident
/// HIR pages, whose front is the victim. A HIR page referenced again while in S becomes LIR and the bottom LIR page
/// turns HIR. Non-resident pages are remembered by key.
/// </summary>
public sealed class LirsPolicy(long frames, LirsOptions options) : IReplacementPolicy
{
    private sealed class Block
    {
        public ulong Pfn = ulong.MaxValue;
        public ulong Key;
        public bool Lir;
        public bool Resident;
        /// <summary>Just brought in: the faulting access reported next is not a re-reference.</summary>
        public bool Arriving = true;
        public LinkedListNode<Block>? InS;
        public LinkedListNode<Block>? InQ;
    }

    private readonly Block?[] _byFrame = new Block?[frames];
    private readonly Dictionary<ulong, Block> _nonResident = [];
    /// <summary>First = top (most recent), Last = bottom.</summary>
    private readonly LinkedList<Block> _s = new();
    /// <summary>First = front (next victim).</summary>
    private readonly LinkedList<Block> _q = new();
    private int _resident, _lir;

    public ReplacementInput Input => ReplacementInput.EveryAccess;

    public void OnResident(ulong pfn) => OnResident(pfn, 0);

    private int LirTarget => Math.Max(1, _resident - Math.Max(1, _resident * options.HirPercent / 100));

    public void OnResident(ulong pfn, ulong key)
    {
        _resident++;
        if (key != 0 && _nonResident.Remove(key, out var b) && b.InS is not null)
        {
            // A non-resident HIR page still in S: its reuse distance is short, so it becomes LIR.
            b.Pfn = pfn;
            b.Resident = true;
            b.Arriving = true;
            _byFrame[pfn] = b;
            ToTopOfS(b);
            MakeLir(b);
            DemoteBottomLir();
            Prune();
            return;
        }
        var block = new Block { Pfn = pfn, Key = key, Resident = true };
        _byFrame[pfn] = block;
        block.InS = _s.AddFirst(block);
        if (_lir < LirTarget) MakeLir(block);
        else block.InQ = _q.AddLast(block);
    }

    private void MakeLir(Block b)
    {
        if (b.Lir) return;
        b.Lir = true;
        _lir++;
        if (b.InQ is not null)
        {
            _q.Remove(b.InQ);
            b.InQ = null;
        }
    }

    private void ToTopOfS(Block b)
    {
        if (b.InS is not null)
        {
            _s.Remove(b.InS);
            _s.AddFirst(b.InS);
        }
        else b.InS = _s.AddFirst(b);
    }

    /// <summary>The bottom LIR page of S becomes a resident HIR page at the end of Q.</summary>
    private void DemoteBottomLir()
    {
        if (_lir <= LirTarget) return;
        var bottom = _s.Last;
        while (bottom is not null && !bottom.Value.Lir) bottom = bottom.Previous;
        if (bottom is null) return;
        var b = bottom.Value;
        b.Lir = false;
        _lir--;
        _s.Remove(bottom);
        b.InS = null;
        if (b.Resident) b.InQ = _q.AddLast(b);
        Prune();
    }

    /// <summary>Removes HIR pages from the bottom of S until an LIR page is there.</summary>
    private void Prune()
    {
        while (_s.Last is { } last && !last.Value.Lir)
        {
            var b = last.Value;
            _s.RemoveLast();
            b.InS = null;
            if (!b.Resident) _nonResident.Remove(b.Key);
        }
    }

    public void OnAccess(ulong pfn)
    {
        if (pfn >= (ulong)_byFrame.Length || _byFrame[pfn] is not { } b) return;
        if (b.Arriving)
        {
            b.Arriving = false;
            return;
        }
        if (b.Lir)
        {
            bool wasBottom = ReferenceEquals(_s.Last, b.InS);
            ToTopOfS(b);
            if (wasBottom) Prune();
            return;
        }
        if (b.InS is not null)
        {
            // A resident HIR page referenced again while in S: its inter-reference recency is low, it becomes LIR.
            ToTopOfS(b);
            MakeLir(b);
            DemoteBottomLir();
        }
        else
        {
            b.InS = _s.AddFirst(b);
            if (b.InQ is not null)
            {
                _q.Remove(b.InQ);
                _q.AddLast(b.InQ);
            }
        }
    }

    private void Forget(ulong pfn, ulong key, bool evicted)
    {
        if (_byFrame[pfn] is not { } b) return;
        _byFrame[pfn] = null;
        _resident--;
        if (b.InQ is not null)
        {
            _q.Remove(b.InQ);
            b.InQ = null;
        }
        if (b.Lir)
        {
            b.Lir = false;
            _lir--;
        }
        b.Resident = false;
        b.Pfn = ulong.MaxValue;
        if (evicted && key != 0 && b.InS is not null)
        {
            b.Key = key;
            _nonResident[key] = b;
            int limit = Math.Max(1, _resident * options.NonResidentFactor);
            if (_nonResident.Count > limit) DropOldestNonResident();
        }
        else if (b.InS is not null)
        {
            _s.Remove(b.InS);
            b.InS = null;
        }
        Prune();
    }

    private void DropOldestNonResident()
    {
        for (var n = _s.Last; n is not null; n = n.Previous)
        {
            if (n.Value.Resident) continue;
            _nonResident.Remove(n.Value.Key);
            _s.Remove(n);
            n.Value.InS = null;
            return;
        }
    }

    public void OnReleased(ulong pfn) => Forget(pfn, 0, evicted: false);
    public void OnEvicted(ulong pfn, ulong key) => Forget(pfn, key, evicted: true);

    public bool TrySelectVictim(IReclaimView view, out ulong pfn)
    {
        if (_q.First is { } front)
        {
            pfn = front.Value.Pfn;
            return true;
        }
        // No resident HIR page (the LIR set fills memory): the bottom LIR page is the victim.
        for (var n = _s.Last; n is not null; n = n.Previous)
        {
            if (n.Value.Resident)
            {
                pfn = n.Value.Pfn;
                return true;
            }
        }
        pfn = 0;
        return false;
    }
}
