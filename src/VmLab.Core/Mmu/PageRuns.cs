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
    public static bool TryLookup(ref TTlb tlb, ulong vaddr, ushort asid, AccessKind kind, out TlbEntry entry, out bool repeatable) =>
        tlb.TryLookup(vaddr, asid, kind, out entry, out repeatable);

    public static void CountRepeatHits(ref TTlb tlb, AccessKind kind, long count) => tlb.CountRepeatHits(kind, count);
}

/// <summary>
/// The last repeatable hit of one lookup class in the engine's fast path, and the repeats of that class not yet handed
/// to the TLB. <see cref="Page"/> is <see cref="None"/> when there is no run to extend.
/// </summary>
internal struct PageRun
{
    /// <summary>No page: 4 KiB page numbers have at most 52 bits.</summary>
    public const ulong None = ulong.MaxValue;

    public ulong Page;
    public TlbEntry Entry;
    public long Repeats;
}
