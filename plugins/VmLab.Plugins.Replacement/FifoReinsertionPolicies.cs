using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
using VmLab.Abstractions;
using VmLab.Abstractions.Replacement;

namespace VmLab.Plugins.Replacement;

/// <summary>
/// SIEVE (Zhang et al., NSDI 2024): one FIFO queue, a visited bit per page set by a hit, and a hand that walks from the
/// oldest page towards newer ones, clearing visited bits, and evicts the first unvisited page; the hand then rests on
/// the next newer page, and wraps from the newest back to the oldest. New pages enter at the newest end, unvisited.
/// Survivors stay where they are (no reinsertion), so new pages behind the hand are judged only on its next turn.
/// </summary>
public sealed class SievePolicy(FrameLinks links) : IReplacementPolicy
{
    private const ulong NoFrame = ulong.MaxValue;
    private const byte Visited = 1, Arriving = 2;
    private readonly FrameLists _queue = new(links, 1);
    private readonly byte[] _bits = new byte[links.Count];
    private ulong _hand = NoFrame;

    public ReplacementInput Input => ReplacementInput.EveryAccess;

    public void OnResident(ulong pfn) => OnResident(pfn, 0);

    public void OnResident(ulong pfn, ulong key)
    {
        Leave(pfn);
        _queue.AddTail(0, pfn);
        _bits[pfn] = Arriving; // the faulting access, reported next, is not a hit
    }

    public void OnAccess(ulong pfn)
    {
        if (!_queue.Contains(pfn)) return;
        _bits[pfn] = (_bits[pfn] & Arriving) != 0 ? (byte)0 : Visited;
    }

    public void OnReleased(ulong pfn) => Leave(pfn);
    public void OnEvicted(ulong pfn, ulong key) => Leave(pfn);

    private void Leave(ulong pfn)
    {
        if (!_queue.Contains(pfn)) return;
        if (pfn == _hand) _hand = _queue.TryNext(pfn, out ulong next) ? next : NoFrame;
        _queue.Remove(pfn);
    }

    public bool TrySelectVictim(IReclaimView view, out ulong pfn)
    {
        if (!_queue.TryHead(0, out ulong oldest))
        {
            pfn = 0;
            return false;
        }
        ulong o = _hand != NoFrame ? _hand : oldest;
        while ((_bits[o] & Visited) != 0)
        {
            _bits[o] = 0;
            if (!_queue.TryNext(o, out o)) o = oldest;
        }
        _hand = _queue.TryNext(o, out ulong after) ? after : NoFrame;
        pfn = o;
        return true;
    }
}

public sealed record S3FifoOptions
{
    [Description("Share of the cache for the small FIFO S: eviction takes from S while |S| >= this share of the resident pages (the paper's 10%).")]
    [Range(1, 90)]
    public int SmallPercent { get; init; } = 10;

    [Description("Keys of pages evicted from S that the ghost FIFO G remembers, as a share of the resident pages (the paper: as many as M holds, 90%); 0 for none.")]
    [Range(0, 400)]
    public int GhostPercent { get; init; } = 90;

    [Description("Hits a page needs while in S to move to M when it reaches S's tail (the paper's freq > 1: 2).")]
    [Range(1, 3)]
    public int MoveToMainThreshold { get; init; } = 2;
}

/// <summary>
/// S3-FIFO (Yang et al., SOSP 2023, Algorithm 1): a small FIFO S, a main FIFO M and a ghost FIFO G of keys. A hit adds one
/// to the page's frequency, capped at 3. A missed page remembered in G enters M, else S, with frequency 0. Eviction
/// takes from S while |S| &gt;= 10% of the cache: S's tail moves to M (frequency reset to 0, as in the authors'
/// libCacheSim) when it was hit at least twice, else it is evicted and its key enters G; otherwise M's tail is
/// reinserted at M's head with its frequency decremented while it is above 0, else evicted. One page per miss: a move
/// into a full M does not evict from M at once (Algorithm 1 would evict a second page there; a kernel reclaims exactly
/// one per missing frame), so M exceeds its share until the next eviction takes from it, as in libCacheSim.
/// </summary>
public sealed class S3FifoPolicy(FrameLinks links, S3FifoOptions options) : IReplacementPolicy
{
    private const int Small = 0, Main = 1;
    private const byte Arriving = 0x80, MaxFrequency = 3;
    private readonly FrameLists _lists = new(links, 2);
    private readonly byte[] _freq = new byte[links.Count];
    private readonly GhostList _ghost = new();

    public ReplacementInput Input => ReplacementInput.EveryAccess;

    private int Resident => _lists.Count(Small) + _lists.Count(Main);

    public void OnResident(ulong pfn) => OnResident(pfn, 0);

    public void OnResident(ulong pfn, ulong key)
    {
        _freq[pfn] = Arriving; // the faulting access, reported next, is not a hit
        _lists.MoveToTail(_ghost.Remove(key) ? Main : Small, pfn);
    }

    public void OnAccess(ulong pfn)
    {
        if (!_lists.Contains(pfn)) return;
        byte f = _freq[pfn];
        _freq[pfn] = (f & Arriving) != 0 ? (byte)0 : Math.Min((byte)(f + 1), MaxFrequency);
    }

    public void OnReleased(ulong pfn) => _lists.Remove(pfn);

    public void OnEvicted(ulong pfn, ulong key)
    {
        int resident = Resident; // the victim still counts: its frame goes to the arriving page
        byte list = _lists.ListOf(pfn);
        _lists.Remove(pfn);
        if (list != Small || options.GhostPercent == 0) return;
        _ghost.AddNewest(key);
        while ((long)_ghost.Count * 100 > (long)resident * options.GhostPercent) _ghost.RemoveOldest();
    }

    public bool TrySelectVictim(IReclaimView view, out ulong pfn)
    {
        if ((long)_lists.Count(Small) * 100 >= (long)Resident * options.SmallPercent)
        {
            // evictS: move S's tail to M while it was hit often enough, else evict it.
            while (_lists.TryHead(Small, out pfn))
            {
                if ((_freq[pfn] & ~Arriving) < options.MoveToMainThreshold) return true;
                _freq[pfn] = 0;
                _lists.MoveToTail(Main, pfn);
            }
        }
        // evictM: reinsert M's tail with its frequency decremented while above 0, else evict it.
        while (_lists.TryHead(Main, out pfn))
        {
            byte f = (byte)(_freq[pfn] & ~Arriving);
            if (f == 0) return true;
            _freq[pfn] = (byte)(f - 1);
            _lists.MoveToTail(Main, pfn);
        }
        return _lists.TryHead(Small, out pfn);
    }
}
