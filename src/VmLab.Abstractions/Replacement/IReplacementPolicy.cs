namespace VmLab.Abstractions.Replacement;

/// <summary>What a replacement policy needs the MMU to tell it.</summary>
public enum ReplacementInput : byte
{
    /// <summary>Only pages coming and going, and the Accessed/Dirty bits it reads itself through <see cref="IReclaimView"/> (cheap).</summary>
    AccessedBits = 0,
    /// <summary>Every access to a resident page, TLB hits included (exact LRU, OPT; costs one call per access).</summary>
    EveryAccess = 1,
}

/// <summary>What the reclaim path lets a policy see and do with a resident frame.</summary>
public interface IReclaimView
{
    /// <summary>Reads and optionally clears the Accessed bits of every mapping of the frame (x86: no TLB flush); true when any was set.</summary>
    bool TestAndClearAccessed(ulong pfn, bool clear);
    /// <summary>True when a mapping of the frame is dirty, or the page is dirty against its backing copy.</summary>
    bool IsDirty(ulong pfn);

    /// <summary>
    /// The page a fault is bringing in, when reclaim runs to find it a frame (direct reclaim on the fault path): true,
    /// with the <paramref name="key"/> it will arrive with in <see cref="IReplacementPolicy.OnResident(ulong, ulong)"/>
    /// (its swap slot + 1, its file page, or 0 for a new page). False when no page is arriving: background reclaim
    /// (kswapd) or a frame wanted for something else. Lets a policy follow a published algorithm that chooses its victim
    /// knowing the missed page (ARC's REPLACE(x, p), 2Q's reclaimfor(X)). Contract 1.3; by default no page is arriving.
    /// </summary>
    bool TryGetArrivingPage(out ulong key)
    {
        key = 0;
        return false;
    }
}

/// <summary>
/// A page-replacement policy over the reclaimable user frames of a machine (anonymous pages, swap-cache and
/// page-cache pages). The kernel tells it which frames are candidates and asks it for victims; the policy never
/// evicts anything itself.
/// </summary>
public interface IReplacementPolicy
{
    ReplacementInput Input { get; }

    /// <summary>The frame became a candidate (first mapped, read in from swap or a file).</summary>
    void OnResident(ulong pfn);

    /// <summary>The frame is no longer a candidate (unmapped and freed, evicted, or withdrawn by reclaim for now).</summary>
    void OnReleased(ulong pfn);

    /// <summary>An access to a resident frame; called only when <see cref="Input"/> is <see cref="ReplacementInput.EveryAccess"/>.</summary>
    void OnAccess(ulong pfn);

    /// <summary>Chooses a candidate to evict (it stays a candidate until it is released or evicted); false when there is none.</summary>
    bool TrySelectVictim(IReclaimView view, out ulong pfn);

    /// <summary>
    /// The frame became a candidate; <paramref name="key"/> names its contents across evictions (its swap slot + 1, or
    /// its file page), so policies with history (ARC, CAR, 2Q, LIRS) recognise a page that comes back; 0 is a new page.
    /// The kernel calls this overload; by default it is <see cref="OnResident(ulong)"/>.
    /// </summary>
    void OnResident(ulong pfn, ulong key) => OnResident(pfn);

    /// <summary>
    /// The kernel is evicting the frame the policy chose; <paramref name="key"/> is how it will be named if it comes back.
    /// Called while the frame is still allocated: its <see cref="FrameLinks"/> go back to the free lists right after.
    /// By default it is <see cref="OnReleased"/>.
    /// </summary>
    void OnEvicted(ulong pfn, ulong key) => OnReleased(pfn);
}
