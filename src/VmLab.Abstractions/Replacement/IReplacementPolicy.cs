namespace VmLab.Abstractions.Replacement;

/// <summary>What a replacement policy needs the MMU to tell it.</summary>
public enum ReplacementInput : byte
{
    /// <summary>Only mappings coming and going, and the Accessed/Dirty bits it reads itself (cheap).</summary>
    AccessedBits = 0,
    /// <summary>Every access to a resident page (exact LRU and similar; costs a call per access).</summary>
    EveryAccess = 1,
}

/// <summary>What the reclaim path lets a policy see and do with a resident frame.</summary>
public interface IReclaimView
{
    /// <summary>Reads and optionally clears the Accessed bits of every mapping of the frame; true when any was set.</summary>
    bool TestAndClearAccessed(ulong pfn, bool clear);
    bool IsDirty(ulong pfn);
}

/// <summary>A page-replacement policy over resident user frames.</summary>
public interface IReplacementPolicy
{
    ReplacementInput Input { get; }
    void OnResident(ulong pfn);
    void OnReleased(ulong pfn);
    void OnAccess(ulong pfn);
    /// <summary>Chooses a resident frame to evict; false when there is none.</summary>
    bool TrySelectVictim(IReclaimView view, out ulong pfn);
}
