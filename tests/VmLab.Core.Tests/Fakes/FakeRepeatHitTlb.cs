using VmLab.Abstractions;
using VmLab.Abstractions.Tlb;

namespace VmLab.Core.Tests.Fakes;

/// <summary>
/// A <see cref="FakeTlb"/> per lookup class (one for every kind, or, with <c>separatesFetches</c>, one for fetches and
/// one for data) that declares page runs (<see cref="IRepeatHitTlb"/>) and records what the MMU asks of it: lookups
/// per class, and the repeated hits handed to <see cref="CountRepeatHits"/> per class. Its LRU stamps a hit with the
/// latest time, so a repeated hit changes no order: every hit is repeatable. A stamp overwrites the one before, so with
/// <c>pairs</c> it declares pair runs (<see cref="IRepeatHitTlb.RepeatsPairs"/>).
/// </summary>
public sealed class FakeRepeatHitTlb(int entries, bool separatesFetches = false, bool pairs = false) : IRepeatHitTlb
{
    private readonly FakeTlb _data = new(entries);
    private readonly FakeTlb _fetch = new(entries);

    public bool SeparatesFetches => separatesFetches;

    public bool RepeatsPairs => pairs;

    /// <summary>Lookups the MMU made, data (or all) and fetches.</summary>
    public long DataLookups, FetchLookups;
    /// <summary>Hits of each class: those looked up plus the repeats counted.</summary>
    public long DataHits, FetchHits;
    /// <summary>Repeated hits handed over, per class, and the calls that handed them.</summary>
    public long DataRepeats, FetchRepeats, CountCalls;

    private bool IsFetchClass(AccessKind kind) => separatesFetches && kind == AccessKind.Fetch;

    private FakeTlb For(AccessKind kind) => IsFetchClass(kind) ? _fetch : _data;

    public bool TryLookup(ulong vaddr, ushort asid, AccessKind kind, out TlbEntry entry)
    {
        bool fetch = IsFetchClass(kind);
        if (fetch) FetchLookups++; else DataLookups++;
        bool hit = For(kind).TryLookup(vaddr, asid, kind, out entry);
        if (hit && fetch) FetchHits++;
        else if (hit) DataHits++;
        return hit;
    }

    public bool TryLookup(ulong vaddr, ushort asid, AccessKind kind, out TlbEntry entry, out bool repeatable)
    {
        repeatable = true;
        return TryLookup(vaddr, asid, kind, out entry);
    }

    public void CountRepeatHits(AccessKind kind, long count)
    {
        Assert.True(count > 0, "the MMU hands over only runs with repeats");
        CountCalls++;
        if (IsFetchClass(kind))
        {
            FetchRepeats += count;
            FetchHits += count;
        }
        else
        {
            DataRepeats += count;
            DataHits += count;
        }
    }

    public void Insert(ulong vaddr, ushort asid, AccessKind kind, in TlbEntry entry) => For(kind).Insert(vaddr, asid, kind, entry);

    public void Invalidate(ulong vaddr, ushort asid)
    {
        _data.Invalidate(vaddr, asid);
        _fetch.Invalidate(vaddr, asid);
    }

    public void InvalidateAsid(ushort asid)
    {
        _data.InvalidateAsid(asid);
        _fetch.InvalidateAsid(asid);
    }

    public void InvalidateAll(bool keepGlobal)
    {
        _data.InvalidateAll(keepGlobal);
        _fetch.InvalidateAll(keepGlobal);
    }
}
