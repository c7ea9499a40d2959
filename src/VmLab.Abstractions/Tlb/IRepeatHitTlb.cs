namespace VmLab.Abstractions.Tlb;

/// <summary>
/// An optional capability of a TLB: a lookup that repeats the one before it changes nothing but hit counters, so the
/// MMU may count such repeats itself instead of looking them up (page runs; docs/tlb.md, "Page runs").
/// <para>
/// A <em>lookup class</em> is the set of access kinds the TLB looks up in the same structures: every kind for a
/// unified TLB; fetches and data (reads and writes) for a TLB with split instruction and data TLBs
/// (<see cref="SeparatesFetches"/>). A lookup's result must depend only on the 4 KiB page number
/// (<c>vaddr &gt;&gt; 12</c>), the tag and the lookup class, never on the offset in the page or on the kind within a class.
/// </para>
/// <para>
/// The promise: when <see cref="TryLookup(ulong, ushort, AccessKind, out TlbEntry, out bool)"/> hits and reports
/// <c>repeatable</c>, then, as long as the TLB sees no other call but lookups of <em>other</em> classes that hit, a
/// lookup of the same 4 KiB page, tag and class would hit the same entry and change no state that any later result
/// depends on (replacement order, random draws, anything), only counters; and it would count exactly what
/// <see cref="CountRepeatHits"/> counts for one hit of that class. A lookup of the same class for another page, any
/// insert, invalidation or miss ends the promise. A TLB whose hits change state each time (a per-hit counter, an
/// age) reports <c>repeatable</c> false for them, or does not implement this interface.
/// </para>
/// <para>
/// The MMU uses it only while nothing else needs to see every access (no replacement policy observing every access,
/// no data cache): it looks up the first access of a page, then counts the following accesses of the same page and
/// class that the returned entry grants outright without calling the TLB, and hands their number to
/// <see cref="CountRepeatHits"/> before anything can read counters (before it leaves its fast path, at the end of a
/// batch). A TLB that does not implement this interface is looked up on every access, as before.
/// </para>
/// </summary>
public interface IRepeatHitTlb : ITlb
{
    /// <summary>
    /// Whether fetches form a lookup class of their own (split L1 instruction and data TLBs). When true, a lookup of
    /// one class must not change what a repeatable hit of the other class promised, as long as it hits.
    /// </summary>
    bool SeparatesFetches { get; }

    /// <summary>
    /// Whether runs may alternate between two pages of a class (since contract 1.8; the default, false, keeps one page
    /// per class). True promises more than repeatable hits: after a repeatable hit of page X and then one of page Y
    /// (same class, nothing else of that class in between), any further lookups of X and Y that the TLB is not asked
    /// for leave it, as far as any later result depends, as a lookup of the one of them used last would leave it: a
    /// hit's effect depends only on the entry hit and overwrites what an earlier hit of that entry did (it moves the
    /// entry to the front, stamps it with the latest time, points bits away from it, sets its prediction), never adds
    /// to it. The MMU then counts hits alternating between two pages, as a Lackey trace alternates between a code page
    /// and a data page in a unified TLB, without lookups, and when the page used last is not the one it last looked up
    /// it looks that page up once more before anything else reaches the TLB (a hit that <see cref="CountRepeatHits"/>
    /// then does not count again).
    /// </summary>
    bool RepeatsPairs => false;

    /// <summary>
    /// <see cref="ITlb.TryLookup"/>, with the same effects, also telling whether the hit is <paramref name="repeatable"/>:
    /// whether looking up the same page, tag and class again right away would change nothing but what
    /// <see cref="CountRepeatHits"/> counts (see the interface's remarks). Meaningless on a miss.
    /// </summary>
    bool TryLookup(ulong vaddr, ushort asid, AccessKind kind, out TlbEntry entry, out bool repeatable);

    /// <summary>
    /// Counts <paramref name="count"/> lookups of the class of <paramref name="kind"/> that repeated a repeatable hit:
    /// whatever counters the TLB keeps (per level, per array) grow as that many lookups would have grown them. Nothing
    /// else may change. The MMU counts <c>tlb.hits</c> itself.
    /// </summary>
    void CountRepeatHits(AccessKind kind, long count);
}
