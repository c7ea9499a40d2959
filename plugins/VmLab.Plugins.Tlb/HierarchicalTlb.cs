using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
using System.Numerics;
using System.Runtime.CompilerServices;
using VmLab.Abstractions;
using VmLab.Abstractions.Tlb;
using VmLab.Plugins.Tlb.Policies;

namespace VmLab.Plugins.Tlb;

public sealed record HierarchicalTlbOptions : IValidatableObject
{
    [Description("Replacement inside a set, for every array: lru, fifo, random, plru (power-of-two ways) or srrip.")]
    public TlbPolicy Policy { get; init; } = TlbPolicy.Lru;

    [Description("Inclusive L2: an entry evicted from the L2 is invalidated in both L1s, and an L1 only caches what the L2 holds. False: non-inclusive (fills go to both levels, evictions are independent).")]
    public bool Inclusive { get; init; }

    [Description("L1 instruction TLB (fetches).")]
    public TlbLevelOptions L1i { get; init; } = new() { Arrays = [new() { Entries = 64, Ways = 8 }] };

    [Description("L1 data TLB (reads and writes).")]
    public TlbLevelOptions L1d { get; init; } = new() { Arrays = [new() { Entries = 64, Ways = 4 }] };

    [Description("Unified second-level TLB (STLB), looked up on an L1 miss; leave it out for none.")]
    public TlbLevelOptions? L2 { get; init; }

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (Policy != TlbPolicy.Plru) yield break;
        foreach (var (name, level) in Levels())
        {
            for (int i = 0; i < level.Arrays.Length; i++)
            {
                var a = level.Arrays[i];
                int ways = a.Ways == 0 ? a.Entries : a.Ways;
                if (ways > 64 || !BitOperations.IsPow2(ways))
                    yield return new ValidationResult(
                        $"plru needs a power-of-two number of ways up to 64, got {ways}; use lru, fifo, random or srrip, or change ways",
                        [$"{name}:arrays:{i}:ways"]);
            }
        }
    }

    internal IEnumerable<(string Name, TlbLevelOptions Level)> Levels()
    {
        yield return ("l1i", L1i);
        yield return ("l1d", L1d);
        if (L2 is not null) yield return ("l2", L2);
    }
}

/// <summary>One level of a hierarchy: its arrays (one per group of page sizes) and its hit/miss counters.</summary>
public sealed class TlbLevel<TPolicy> where TPolicy : ITlbReplacementPolicy<TPolicy>
{
    private readonly TlbArray<TPolicy>[] _arrays;
    private readonly TlbArray<TPolicy>?[] _byShift = new TlbArray<TPolicy>?[64];

    public TlbLevel(string name, TlbLevelOptions options, ulong seed, IMetrics metrics)
    {
        Name = name;
        _arrays = new TlbArray<TPolicy>[options.Arrays.Length];
        for (int i = 0; i < _arrays.Length; i++)
        {
            var a = options.Arrays[i];
            int ways = a.Ways == 0 ? a.Entries : a.Ways;
            ulong shifts = PageSizes.Mask(a.PageSizes, "pageSizes", null);
            var array = new TlbArray<TPolicy>(a.Entries / ways, ways, shifts, seed + (ulong)i * 0x9E3779B97F4A7C15UL);
            _arrays[i] = array;
            for (int s = 0; s < 64; s++)
                if ((shifts & (1UL << s)) != 0) _byShift[s] = array;
        }
        Hits = metrics.Counter($"tlb.{name}.hits");
        Misses = metrics.Counter($"tlb.{name}.misses");
    }

    public string Name { get; }
    public Counter Hits { get; }
    public Counter Misses { get; }
    public IReadOnlyList<TlbArray<TPolicy>> Arrays => _arrays;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryLookup(ulong va, ushort asid, out TlbEntry entry)
    {
        var arrays = _arrays;
        for (int i = 0; i < arrays.Length; i++)
        {
            if (arrays[i].TryLookup(va, asid, out entry))
            {
                Hits.Value++;
                return true;
            }
        }
        Misses.Value++;
        entry = default;
        return false;
    }

    public bool Holds(int shift) => _byShift[shift] is not null;

    /// <summary>Caches the translation in the array for its page size (none: not cached here); reports an eviction.</summary>
    public bool Insert(ulong va, ushort asid, in TlbEntry entry, out ulong evictedVa, out ushort evictedAsid, out byte evictedShift)
    {
        var array = _byShift[entry.PageShift];
        if (array is null)
        {
            evictedVa = 0;
            evictedAsid = 0;
            evictedShift = 0;
            return false;
        }
        return array.Insert(va, asid, entry, out evictedVa, out evictedAsid, out evictedShift);
    }

    public void InvalidateExact(ulong va, ushort asidTag, int shift) => _byShift[shift]?.InvalidateExact(va, asidTag, shift);

    public void Invalidate(ulong va, ushort asid)
    {
        foreach (var a in _arrays) a.Invalidate(va, asid);
    }

    public void InvalidateAsid(ushort asid)
    {
        foreach (var a in _arrays) a.InvalidateAsid(asid);
    }

    public void InvalidateAll(bool keepGlobal)
    {
        foreach (var a in _arrays) a.InvalidateAll(keepGlobal);
    }
}

/// <summary>
/// Split L1 instruction and data TLBs over an optional unified L2 (STLB). A fetch looks in the L1I, a read or write
/// in the L1D; an L1 miss looks in the L2, whose hit refills the L1; a miss in both is a page walk, whose result
/// fills the L2 and the L1 of the access. Every level counts <c>tlb.&lt;level&gt;.hits</c> and
/// <c>.misses</c> (lookups that reached it). Invalidations apply to every level.
/// </summary>
public sealed class TlbHierarchy<TPolicy> where TPolicy : ITlbReplacementPolicy<TPolicy>
{
    private readonly TlbLevel<TPolicy> _l1i, _l1d;
    private readonly TlbLevel<TPolicy>? _l2;
    private readonly bool _inclusive;

    public TlbHierarchy(HierarchicalTlbOptions options, ulong seed, IMetrics metrics)
    {
        _l1i = new TlbLevel<TPolicy>("l1i", options.L1i, seed ^ 0x1111, metrics);
        _l1d = new TlbLevel<TPolicy>("l1d", options.L1d, seed ^ 0x2222, metrics);
        _l2 = options.L2 is null ? null : new TlbLevel<TPolicy>("l2", options.L2, seed ^ 0x3333, metrics);
        _inclusive = options.Inclusive && _l2 is not null;
    }

    public TlbLevel<TPolicy> L1i => _l1i;
    public TlbLevel<TPolicy> L1d => _l1d;
    public TlbLevel<TPolicy>? L2 => _l2;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryLookup(ulong va, ushort asid, AccessKind kind, out TlbEntry entry)
    {
        var l1 = kind == AccessKind.Fetch ? _l1i : _l1d;
        if (l1.TryLookup(va, asid, out entry)) return true;
        return _l2 is not null && LookupL2(l1, va, asid, out entry);
    }

    /// <summary>
    /// <see cref="TryLookup(ulong, ushort, AccessKind, out TlbEntry)"/>; a hit in the L1 of the class is
    /// <paramref name="repeatable"/> when the policy says a repeated hit changes nothing. A hit in the L2 is not: the
    /// next lookup of the page hits the L1 it refilled (or, when that L1 does not hold the page size, the L2 again,
    /// counting an L1 miss), and lookups of the other class may reorder the shared L2 in between.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryLookup(ulong va, ushort asid, AccessKind kind, out TlbEntry entry, out bool repeatable)
    {
        var l1 = kind == AccessKind.Fetch ? _l1i : _l1d;
        if (l1.TryLookup(va, asid, out entry))
        {
            repeatable = TPolicy.RepeatedHitChangesNothing;
            return true;
        }
        repeatable = false;
        return _l2 is not null && LookupL2(l1, va, asid, out entry);
    }

    /// <summary>
    /// Counts <paramref name="count"/> repeats of a repeatable hit of the class of <paramref name="kind"/>: each was a
    /// hit in that class's L1, and only its hit counter grows.
    /// </summary>
    public void CountRepeatHits(AccessKind kind, long count) => (kind == AccessKind.Fetch ? _l1i : _l1d).Hits.Value += count;

    [MethodImpl(MethodImplOptions.NoInlining)]
    private bool LookupL2(TlbLevel<TPolicy> l1, ulong va, ushort asid, out TlbEntry entry)
    {
        if (!_l2!.TryLookup(va, asid, out entry)) return false;
        l1.Insert(va, asid, entry, out _, out _, out _);
        return true;
    }

    public void Insert(ulong va, ushort asid, AccessKind kind, in TlbEntry entry)
    {
        var l1 = kind == AccessKind.Fetch ? _l1i : _l1d;
        if (_l2 is not null)
        {
            if (_l2.Insert(va, asid, entry, out ulong eva, out ushort easid, out byte eshift) && _inclusive)
            {
                _l1i.InvalidateExact(eva, easid, eshift);
                _l1d.InvalidateExact(eva, easid, eshift);
            }
            if (_inclusive && !_l2.Holds(entry.PageShift)) return;
        }
        l1.Insert(va, asid, entry, out _, out _, out _);
    }

    public void Invalidate(ulong va, ushort asid)
    {
        _l1i.Invalidate(va, asid);
        _l1d.Invalidate(va, asid);
        _l2?.Invalidate(va, asid);
    }

    public void InvalidateAsid(ushort asid)
    {
        _l1i.InvalidateAsid(asid);
        _l1d.InvalidateAsid(asid);
        _l2?.InvalidateAsid(asid);
    }

    public void InvalidateAll(bool keepGlobal)
    {
        _l1i.InvalidateAll(keepGlobal);
        _l1d.InvalidateAll(keepGlobal);
        _l2?.InvalidateAll(keepGlobal);
    }
}

/// <summary>
/// The hierarchy as the MMU is specialised on it. Fetches and data are separate lookup classes
/// (<see cref="IRepeatHitTlb"/>): a repeatable hit is one in the L1 of its class, which a lookup of the other class
/// (its own L1, the L2, a refill of its own L1) never touches.
/// </summary>
public readonly struct HierarchicalTlb<TPolicy>(TlbHierarchy<TPolicy> hierarchy) : IRepeatHitTlb
    where TPolicy : ITlbReplacementPolicy<TPolicy>
{
    public TlbHierarchy<TPolicy> Hierarchy => hierarchy;

    public bool SeparatesFetches => true;

    /// <summary>
    /// When the policy's hit overwrites earlier hits (<see cref="ITlbReplacementPolicy{TSelf}.HitOverwritesEarlierHits"/>):
    /// both pages of a pair were repeatable hits in the L1 of their class, and alternating between them touches only
    /// that L1.
    /// </summary>
    public bool RepeatsPairs => TPolicy.RepeatedHitChangesNothing && TPolicy.HitOverwritesEarlierHits;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryLookup(ulong vaddr, ushort asid, AccessKind kind, out TlbEntry entry) => hierarchy.TryLookup(vaddr, asid, kind, out entry);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryLookup(ulong vaddr, ushort asid, AccessKind kind, out TlbEntry entry, out bool repeatable) =>
        hierarchy.TryLookup(vaddr, asid, kind, out entry, out repeatable);

    public void CountRepeatHits(AccessKind kind, long count) => hierarchy.CountRepeatHits(kind, count);

    public void Insert(ulong vaddr, ushort asid, AccessKind kind, in TlbEntry entry) => hierarchy.Insert(vaddr, asid, kind, entry);
    public void Invalidate(ulong vaddr, ushort asid) => hierarchy.Invalidate(vaddr, asid);
    public void InvalidateAsid(ushort asid) => hierarchy.InvalidateAsid(asid);
    public void InvalidateAll(bool keepGlobal) => hierarchy.InvalidateAll(keepGlobal);
}
