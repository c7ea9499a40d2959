using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
using VmLab.Abstractions;
using VmLab.Abstractions.Replacement;

namespace VmLab.Plugins.Replacement;

public sealed record ClockProOptions
{
    [Description("m_c, the memory for resident cold pages, when reclaim first runs, as a share of the memory m in percent (at least minColdPages): 1, the share LIRS gives its HIR pages.")]
    [Range(0, 100)]
    public int InitialColdPercent { get; init; } = 1;

    [Description("The least m_c can fall to, in pages.")]
    [Range(1, int.MaxValue)]
    public int MinColdPages { get; init; } = 1;

    [Description("Adapt m_c (§4.3): +1 (up to m) when a cold page is accessed in its test period, -1 (down to minColdPages) when a test period ends without one; false keeps m_c at its initial value.")]
    public bool Adaptive { get; init; } = true;
}

/// <summary>
/// CLOCK-Pro (Jiang, Chen and Zhang, USENIX ATC 2005, §4): resident hot and cold pages and non-resident cold pages in
/// their test period on one circular list with three hands. The list head (where pages are placed) is just behind
/// HAND_hot, so a page HAND_hot passes is left at the head. A page's reference bit is the policy's own, set by every
/// access after the one that faulted it in (the paper's trace-driven reference bit; a page arrives with it clear).
/// <list type="bullet">
/// <item>A fault on a page not in the list: it becomes a resident cold page in its test period, at the list head.</item>
/// <item>A fault on a non-resident page in its test period: m_c + 1; it becomes a resident hot page at the list head.</item>
/// <item>HAND_cold (a victim is needed) passes everything but resident cold pages. Bit clear: the victim; on eviction it
/// stays in the list as a non-resident page if in its test period, else it leaves. Bit set: cleared and the page moved
/// to the list head — in its test period it turns hot (m_c + 1), otherwise a new test period starts for it.</item>
/// <item>HAND_hot runs while more than m - m_c pages are hot: a hot page with its bit set is spared (bit cleared), one
/// with the bit clear turns cold; a cold page's test period ends (m_c - 1), and a non-resident one leaves the list.</item>
/// <item>HAND_test runs while more than m pages are non-resident: it ends test periods (m_c - 1) and removes
/// non-resident pages.</item>
/// </list>
/// m is the most pages ever resident at once (the cache size once memory has filled); m_c is set when reclaim first
/// runs. The list lives in a node pool that grows on demand (a page-in allocates only when the pool or the map of
/// non-resident keys grows); every access only sets a byte.
/// </summary>
public sealed class ClockProPolicy : IReplacementPolicy
{
    private const int Nil = -1;
    private const byte Resident = 1, Hot = 2, Test = 4;
    private const byte Referenced = 1, Arriving = 2;

    private readonly ClockProOptions _options;
    private readonly int[] _nodeOf;
    private readonly byte[] _bits;
    private readonly Dictionary<ulong, int> _nonResident = [];
    private int[] _prev = new int[64], _next = new int[64];
    private ulong[] _id = new ulong[64];
    private byte[] _state = new byte[64];
    private int _used, _free = Nil;
    private int _handHot = Nil, _handCold = Nil, _handTest = Nil;
    private int _hot, _cold, _m;
    private int _mc = -1;

    public ClockProPolicy(long frames, ClockProOptions options)
    {
        _options = options;
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

    public void OnResident(ulong pfn) => OnResident(pfn, 0);

    public void OnResident(ulong pfn, ulong key)
    {
        if (_nodeOf[pfn] != Nil) Forget(pfn);
        _bits[pfn] = Arriving; // the faulting access, reported next, is not a reference
        if (key != 0 && _nonResident.Remove(key, out int n))
        {
            // A fault in the test period: the page turns hot (its reuse distance is smaller than the hot pages' recency).
            _state[n] = Resident | Hot;
            _id[n] = pfn;
            _nodeOf[pfn] = n;
            _hot++;
            _m = Math.Max(_m, _hot + _cold);
            GrowCold();
            MoveToHead(n);
            RunHandHot();
            return;
        }
        n = NewNode(pfn, Resident | Test);
        _nodeOf[pfn] = n;
        _cold++;
        _m = Math.Max(_m, _hot + _cold);
        InsertAtHead(n);
    }

    public void OnAccess(ulong pfn)
    {
        if (_nodeOf[pfn] == Nil) return;
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
            return;
        }
        // A cold page evicted in its test period stays in the list, non-resident, until the test period ends.
        _nodeOf[pfn] = Nil;
        _bits[pfn] = 0;
        _cold--;
        if (_nonResident.Remove(key, out int stale)) Unlink(stale);
        _state[n] = Test;
        _id[n] = key;
        _nonResident[key] = n;
        if (_handCold == n) _handCold = _next[n];
        while (_nonResident.Count > _m) HandTest();
    }

    public bool TrySelectVictim(IReclaimView view, out ulong pfn)
    {
        pfn = 0;
        if (_hot + _cold == 0) return false;
        _m = Math.Max(_m, _hot + _cold);
        if (_mc < 0) _mc = Math.Max(_options.MinColdPages, (int)((long)_m * _options.InitialColdPercent / 100));
        while (_cold == 0) HandHot(); // all resident pages hot (pages left since m was reached): demote one
        for (long step = 0, limit = 4L * (_used + 2); step < limit; step++)
        {
            int n = _handCold;
            if ((_state[n] & (Resident | Hot)) != Resident)
            {
                _handCold = _next[n];
                continue;
            }
            ulong frame = _id[n];
            if ((_bits[frame] & Referenced) == 0)
            {
                pfn = frame; // HAND_cold stays on it until it is evicted
                return true;
            }
            _bits[frame] = 0;
            _handCold = _next[n];
            if ((_state[n] & Test) != 0)
            {
                // Accessed in its test period: turns hot.
                _state[n] = Resident | Hot;
                _cold--;
                _hot++;
                GrowCold();
                MoveToHead(n);
                RunHandHot();
                while (_cold == 0) HandHot();
            }
            else
            {
                _state[n] = Resident | Test; // accessed outside its test period: a new one starts at the list head
                MoveToHead(n);
            }
        }
        for (int n = 0; n < _used; n++)
            if ((_state[n] & (Resident | Hot)) == Resident && _nodeOf[_id[n]] == n)
            {
                pfn = _id[n];
                return true;
            }
        return false;
    }

    private void GrowCold()
    {
        if (_options.Adaptive && _mc >= 0) _mc = Math.Min(_mc + 1, Math.Max(_m, _options.MinColdPages));
    }

    private void ShrinkCold()
    {
        if (_options.Adaptive && _mc >= 0) _mc = Math.Max(_mc - 1, _options.MinColdPages);
    }

    private void RunHandHot()
    {
        while (_hot > 0 && _hot > _m - _mc) HandHot();
    }

    /// <summary>One step of HAND_hot: the page it passes is left at the list head.</summary>
    private void HandHot()
    {
        int n = _handHot;
        _handHot = _next[n];
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
            return;
        }
        EndTestPeriod(n, s);
    }

    /// <summary>One step of HAND_test.</summary>
    private void HandTest()
    {
        int n = _handTest;
        _handTest = _next[n];
        byte s = _state[n];
        if ((s & Hot) == 0) EndTestPeriod(n, s);
    }

    /// <summary>A cold page's test period ends without a re-access (m_c - 1); a non-resident one leaves the list.</summary>
    private void EndTestPeriod(int n, byte s)
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
            _free = _next[n];
        }
        else
        {
            if (_used == _id.Length)
            {
                int size = _id.Length * 2;
                Array.Resize(ref _prev, size);
                Array.Resize(ref _next, size);
                Array.Resize(ref _id, size);
                Array.Resize(ref _state, size);
            }
            n = _used++;
        }
        _id[n] = id;
        _state[n] = state;
        return n;
    }

    /// <summary>Places the node just behind HAND_hot: the list head, the last place HAND_hot reaches.</summary>
    private void InsertAtHead(int n)
    {
        if (_handHot == Nil)
        {
            _prev[n] = _next[n] = n;
            _handHot = _handCold = _handTest = n;
            return;
        }
        int after = _prev[_handHot];
        _next[after] = n;
        _prev[n] = after;
        _next[n] = _handHot;
        _prev[_handHot] = n;
    }

    private void MoveToHead(int n)
    {
        Detach(n);
        InsertAtHead(n);
    }

    /// <summary>Takes the node out of the circle; a hand on it moves to the next node.</summary>
    private void Detach(int n)
    {
        int next = _next[n];
        if (next == n)
        {
            _handHot = _handCold = _handTest = Nil;
            return;
        }
        if (_handHot == n) _handHot = next;
        if (_handCold == n) _handCold = next;
        if (_handTest == n) _handTest = next;
        _next[_prev[n]] = next;
        _prev[next] = _prev[n];
    }

    private void Unlink(int n)
    {
        Detach(n);
        _state[n] = 0;
        _next[n] = _free;
        _free = n;
    }
}
