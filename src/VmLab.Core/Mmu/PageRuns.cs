using System.Runtime.CompilerServices;
using VmLab.Abstractions;
using VmLab.Abstractions.Tlb;

namespace VmLab.Core.Mmu;

/// <summary>
/// How <see cref="MmuEngine{TTlb, TPageTable, TObserver, TRuns}"/> reaches a TLB's page-run contract
/// (<see cref="IRepeatHitTlb"/>). Chosen once, at composition: <see cref="PageRuns{TTlb}"/> when the TLB declares the
/// capability and the MMU's observer is <see cref="NoAccessObserver"/>, else <see cref="NoPageRuns{TTlb}"/>. Static
/// members on a struct: <see cref="Enabled"/> is a constant to the JIT, so the engine compiled without runs has none of
/// their code.
/// </summary>
public interface IPageRunAccess<TTlb> where TTlb : ITlb
{
    /// <summary>Whether the engine keeps page runs.</summary>
    static abstract bool Enabled { get; }

    /// <summary><see cref="IRepeatHitTlb.SeparatesFetches"/>.</summary>
    static abstract bool SeparatesFetches(ref TTlb tlb);

    /// <summary><see cref="IRepeatHitTlb.RepeatsPairs"/>.</summary>
    static abstract bool RepeatsPairs(ref TTlb tlb);

    /// <summary><see cref="IRepeatHitTlb.TryLookup(ulong, ushort, AccessKind, out TlbEntry, out bool)"/>.</summary>
    static abstract bool TryLookup(ref TTlb tlb, ulong vaddr, ushort asid, AccessKind kind, out TlbEntry entry, out bool repeatable);

    /// <summary><see cref="IRepeatHitTlb.CountRepeatHits"/>.</summary>
    static abstract void CountRepeatHits(ref TTlb tlb, AccessKind kind, long count);
}

/// <summary>No page runs: every access is looked up.</summary>
public readonly struct NoPageRuns<TTlb> : IPageRunAccess<TTlb> where TTlb : ITlb
{
    public static bool Enabled => false;

    public static bool SeparatesFetches(ref TTlb tlb) => false;

    public static bool RepeatsPairs(ref TTlb tlb) => false;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool TryLookup(ref TTlb tlb, ulong vaddr, ushort asid, AccessKind kind, out TlbEntry entry, out bool repeatable)
    {
        repeatable = false;
        return tlb.TryLookup(vaddr, asid, kind, out entry);
    }

    public static void CountRepeatHits(ref TTlb tlb, AccessKind kind, long count) =>
        throw new InvalidOperationException("page runs are off: there are no repeated hits to count");
}

/// <summary>Page runs over a TLB that declares <see cref="IRepeatHitTlb"/>: direct, inlinable calls for a struct TLB.</summary>
public readonly struct PageRuns<TTlb> : IPageRunAccess<TTlb> where TTlb : IRepeatHitTlb
{
    public static bool Enabled => true;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool SeparatesFetches(ref TTlb tlb) => tlb.SeparatesFetches;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool RepeatsPairs(ref TTlb tlb) => tlb.RepeatsPairs;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool TryLookup(ref TTlb tlb, ulong vaddr, ushort asid, AccessKind kind, out TlbEntry entry, out bool repeatable) =>
        tlb.TryLookup(vaddr, asid, kind, out entry, out repeatable);

    public static void CountRepeatHits(ref TTlb tlb, AccessKind kind, long count) => tlb.CountRepeatHits(kind, count);
}

/// <summary>
/// The page run of one lookup class in the engine's fast path: the last repeatable hit (<see cref="Page"/>, or
/// <see cref="None"/> when there is no run to extend), with pair runs the repeatable hit of another page before it
/// (<see cref="Other"/>), and the repeats of the class not yet handed to the TLB. <see cref="Stale"/>: the page the TLB
/// last looked up for this class is <see cref="Other"/>, though <see cref="Page"/> was used after it; the TLB is told
/// with one more lookup of <see cref="Page"/> before anything else reaches it.
/// </summary>
internal struct PageRun
{
    /// <summary>No page: 4 KiB page numbers have at most 52 bits.</summary>
    public const ulong None = ulong.MaxValue;

    public ulong Page;
    public TlbEntry Entry;
    public ulong Other;
    public TlbEntry OtherEntry;
    public long Repeats;
    public bool Stale;

    /// <summary>No run: both pages forgotten (the repeats are the caller's to hand over first).</summary>
    public void Forget()
    {
        Page = None;
        Other = None;
        Stale = false;
    }

    /// <summary>The other page of the pair was used: it becomes the page used last.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Swap()
    {
        (Page, Other) = (Other, Page);
        (Entry, OtherEntry) = (OtherEntry, Entry);
        Stale = !Stale;
    }
}
