using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
using System.Runtime.CompilerServices;
using VmLab.Abstractions;
using VmLab.Abstractions.Tlb;
using VmLab.Plugins.Tlb.Policies;

namespace VmLab.Plugins.Tlb;

public sealed record SetAssociativeTlbOptions : IValidatableObject
{
    [Description("Number of entries.")]
    [Range(1, 1 << 20)]
    public int Entries { get; init; } = 64;

    [Description("Ways per set: 1 = direct-mapped, 0 = fully associative (one set). entries / ways must be a power of two.")]
    [Range(0, 1 << 20)]
    public int Ways { get; init; } = 4;

    [Description("Replacement inside a set: lru, fifo, random, plru (power-of-two ways) or srrip.")]
    public TlbPolicy Policy { get; init; } = TlbPolicy.Lru;

    [Description("Page sizes held (4k, 2m, 1g, ...); several share the one array, each probed with its own set index.")]
    public string[] PageSizes { get; init; } = ["4k"];

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext) =>
        ArrayShape.Validate(Entries, Ways, Policy, PageSizes);
}

/// <summary>
/// A single set-associative TLB (direct-mapped with one way, fully associative with ways = 0), as the MMU is
/// specialised on it: a struct over the array, closed over a struct policy, so a lookup is direct, inlinable code.
/// One lookup class (unified). A hit is repeatable (<see cref="IRepeatHitTlb"/>) when the policy says a repeated hit
/// changes nothing (<see cref="ITlbReplacementPolicy{TSelf}.RepeatedHitChangesNothing"/>: every built-in policy); the
/// TLB keeps no counters of its own.
/// </summary>
public readonly struct SetAssociativeTlb<TPolicy>(TlbArray<TPolicy> array) : IRepeatHitTlb
    where TPolicy : ITlbReplacementPolicy<TPolicy>
{
    public TlbArray<TPolicy> Array => array;

    public bool SeparatesFetches => false;

    /// <summary>When the policy's hit overwrites earlier hits (<see cref="ITlbReplacementPolicy{TSelf}.HitOverwritesEarlierHits"/>).</summary>
    public bool RepeatsPairs => TPolicy.RepeatedHitChangesNothing && TPolicy.HitOverwritesEarlierHits;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryLookup(ulong vaddr, ushort asid, AccessKind kind, out TlbEntry entry) => array.TryLookup(vaddr, asid, out entry);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryLookup(ulong vaddr, ushort asid, AccessKind kind, out TlbEntry entry, out bool repeatable)
    {
        repeatable = TPolicy.RepeatedHitChangesNothing;
        return array.TryLookup(vaddr, asid, out entry);
    }

    public void CountRepeatHits(AccessKind kind, long count)
    {
    }

    public void Insert(ulong vaddr, ushort asid, AccessKind kind, in TlbEntry entry)
    {
        if (array.Holds(entry.PageShift)) array.Insert(vaddr, asid, entry, out _, out _, out _);
    }

    public void Invalidate(ulong vaddr, ushort asid) => array.Invalidate(vaddr, asid);
    public void InvalidateAsid(ushort asid) => array.InvalidateAsid(asid);
    public void InvalidateAll(bool keepGlobal) => array.InvalidateAll(keepGlobal);
}
