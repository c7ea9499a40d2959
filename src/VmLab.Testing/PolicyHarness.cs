using VmLab.Abstractions.Replacement;

namespace VmLab.Testing;

/// <summary>
/// Drives a policy as the kernel does, on a string of page numbers with a fixed number of frames: a resident page is an
/// access (OnAccess for EveryAccess policies, the Accessed bit otherwise); a miss evicts the policy's victim when the
/// frames are full (OnEvicted with the page's key), then the page arrives (OnResident with its key if it was seen before).
/// As the kernel's direct reclaim does, the victim is chosen knowing the arriving page's key (<see cref="IReclaimView.TryGetArrivingPage"/>),
/// unless <paramref name="background"/>: then reclaim runs as kswapd's, with no arriving page.
/// </summary>
public sealed class PolicyHarness(IReplacementPolicy policy, int frames, bool background = false) : IReclaimView
{
    private ulong? _arriving;
    private readonly Dictionary<int, ulong> _frameOf = [];
    private readonly Dictionary<ulong, int> _pageIn = [];
    private readonly HashSet<ulong> _accessed = [];
    private readonly HashSet<ulong> _dirty = [];
    private readonly Stack<ulong> _free = new(Enumerable.Range(1, frames).Select(i => (ulong)(frames + 1 - i)));

    public long Misses { get; private set; }

    public bool TestAndClearAccessed(ulong pfn, bool clear) => clear ? _accessed.Remove(pfn) : _accessed.Contains(pfn);
    public bool IsDirty(ulong pfn) => _dirty.Contains(pfn);

    public bool TryGetArrivingPage(out ulong key)
    {
        key = _arriving ?? 0;
        return _arriving is not null;
    }

    public void Run(IEnumerable<int> pages, bool write = false)
    {
        foreach (var page in pages) Access(page, write);
    }

    public bool IsResident(int page) => _frameOf.ContainsKey(page);

    public void Access(int page, bool write = false)
    {
        if (!_frameOf.TryGetValue(page, out ulong pfn))
        {
            Misses++;
            if (_free.Count == 0)
            {
                _arriving = background ? null : (ulong)page + 1;
                if (!policy.TrySelectVictim(this, out ulong victim))
                    throw new InvalidOperationException($"the policy chose no victim with {frames} frames full, for page {page}");
                _arriving = null;
                int victimPage = _pageIn[victim];
                _frameOf.Remove(victimPage);
                _pageIn.Remove(victim);
                _accessed.Remove(victim);
                _dirty.Remove(victim);
                policy.OnEvicted(victim, (ulong)victimPage + 1);
                _free.Push(victim);
            }
            pfn = _free.Pop();
            _frameOf[page] = pfn;
            _pageIn[pfn] = page;
            policy.OnResident(pfn, (ulong)page + 1);
        }
        _accessed.Add(pfn);
        if (write) _dirty.Add(pfn);
        if (policy.Input == ReplacementInput.EveryAccess) policy.OnAccess(pfn);
    }
}
