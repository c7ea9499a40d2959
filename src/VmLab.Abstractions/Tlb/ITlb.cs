namespace VmLab.Abstractions.Tlb;

/// <summary>A cached translation.</summary>
public readonly record struct TlbEntry(ulong Frame, PageFlags Flags, byte PageShift = 12, byte ProtectionKey = 0)
{
    public static TlbEntry From(in PageMapping leaf) => new(leaf.Frame, leaf.Flags, leaf.PageShift, leaf.ProtectionKey);
}

/// <summary>
/// A translation lookaside buffer for one CPU. Lookups and inserts are on the hot path: implement it on a struct
/// holding references to its state (copies then share the state) so the MMU is specialised on it; a class works too
/// (one interface call per access) and is the quick way to prototype. A struct may also keep its state inline: each
/// CPU's MMU holds the only live copy, and every flush the kernel makes reaches it through that MMU.
/// </summary>
public interface ITlb
{
    /// <summary>Looks up the page of <paramref name="vaddr"/> for <paramref name="asid"/> (global entries match any ASID); updates replacement state on a hit.</summary>
    bool TryLookup(ulong vaddr, ushort asid, AccessKind kind, out TlbEntry entry);

    /// <summary>Caches a translation after a walk, evicting per the TLB's policy when full.</summary>
    void Insert(ulong vaddr, ushort asid, AccessKind kind, in TlbEntry entry);

    /// <summary>Drops the entry for one page of one address space (x86 <c>invlpg</c>); global entries too.</summary>
    void Invalidate(ulong vaddr, ushort asid);

    /// <summary>Drops every non-global entry of one address space.</summary>
    void InvalidateAsid(ushort asid);

    /// <summary>Drops everything, or everything but global entries.</summary>
    void InvalidateAll(bool keepGlobal);
}
