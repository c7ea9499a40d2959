using VmLab.Abstractions;
using VmLab.Abstractions.Tlb;
using VmLab.Plugins.Tlb;
using VmLab.Plugins.Tlb.Policies;

namespace VmLab.Plugins.Tests.Tlb;

/// <summary>Replacement inside one set, on sequences whose outcome is worked out by hand from each published algorithm.</summary>
public sealed class TlbArrayPolicyTests
{
    private const ushort Asid = 1;
    private static readonly TlbEntry Rw = new(100, PageFlags.Present | PageFlags.User | PageFlags.Writable);

    private static ulong Va(ulong page) => page << 12;

    /// <summary>One set of four ways (fully associative over 4 entries).</summary>
    private static TlbArray<T> OneSet<T>(int ways = 4, ulong seed = 1) where T : ITlbReplacementPolicy<T> => new(1, ways, 1UL << 12, seed);

    private static void Fill<T>(TlbArray<T> a, params ulong[] pages) where T : ITlbReplacementPolicy<T>
    {
        foreach (var p in pages) a.Insert(Va(p), Asid, Rw with { Frame = p }, out _, out _, out _);
    }

    private static bool Has<T>(TlbArray<T> a, ulong page) where T : ITlbReplacementPolicy<T>
    {
        // Probing changes replacement state; every assertion below probes only after the step under test.
        return a.TryLookup(Va(page), Asid, out _);
    }

    private static ulong Evicted<T>(TlbArray<T> a, ulong page) where T : ITlbReplacementPolicy<T>
    {
        Assert.True(a.Insert(Va(page), Asid, Rw with { Frame = page }, out ulong va, out _, out _));
        return va >> 12;
    }

    [Fact]
    public void LruEvictsTheLeastRecentlyUsedWay()
    {
        var a = OneSet<LruPolicy>();
        Fill(a, 10, 11, 12, 13);
        Assert.True(Has(a, 10)); // 10 becomes most recent: 11 is now the oldest
        Assert.Equal(11UL, Evicted(a, 14));
    }

    [Fact]
    public void FifoEvictsTheOldestFillWhateverTheHits()
    {
        var a = OneSet<FifoPolicy>();
        Fill(a, 10, 11, 12, 13);
        Assert.True(Has(a, 10));
        Assert.Equal(10UL, Evicted(a, 14));
        Assert.Equal(11UL, Evicted(a, 15));
    }

    /// <summary>
    /// Fills of ways 0..3 leave the tree pointing at way 0; a hit on way 0 turns the root to the right half and that
    /// half's node still points at its left leaf (way 2, set when way 3 was filled), so page 12 goes — where LRU would take 11.
    /// </summary>
    [Fact]
    public void TreePlruFollowsTheTreeBitsNotTrueRecency()
    {
        var a = OneSet<TreePlruPolicy>();
        Fill(a, 10, 11, 12, 13);
        Assert.True(Has(a, 10));
        Assert.Equal(12UL, Evicted(a, 14));
        // The fill of way 2 points the root left again, and the left node points at way 1 (way 0 was hit last).
        Assert.Equal(11UL, Evicted(a, 15));
    }

    /// <summary>
    /// SRRIP-HP: fills get RRPV 2, a hit 0. With no RRPV 3 the set ages (+1 each): 10 → 1, the others → 3, and the
    /// first way at 3 (page 11) goes; the next victim is the next way at 3 (page 12).
    /// </summary>
    [Fact]
    public void SrripEvictsTheFirstDistantWayAfterAgeing()
    {
        var a = OneSet<SrripPolicy>();
        Fill(a, 10, 11, 12, 13);
        Assert.True(Has(a, 10));
        Assert.Equal(11UL, Evicted(a, 14));
        Assert.Equal(12UL, Evicted(a, 15));
        Assert.Equal(13UL, Evicted(a, 16));
        // Now 10 (RRPV 1) and the fills 14, 15, 16 (RRPV 2): ageing once makes 14, 15, 16 distant, 10 survives again.
        Assert.Equal(14UL, Evicted(a, 17));
        Assert.True(Has(a, 10));
    }

    [Fact]
    public void RandomIsReproducibleFromItsSeedAndReachesEveryWay()
    {
        static List<ulong> Victims(ulong seed)
        {
            var a = OneSet<RandomPolicy>(4, seed);
            Fill(a, 0, 1, 2, 3);
            var result = new List<ulong>();
            for (ulong p = 4; p < 404; p++) result.Add(Evicted(a, p));
            return result;
        }
        var first = Victims(7);
        Assert.Equal(first, Victims(7));
        Assert.NotEqual(first, Victims(8));
        // Every way is chosen: the victims' fill order positions cover all four ways.
        var a2 = OneSet<RandomPolicy>(4, 7);
        Fill(a2, 0, 1, 2, 3);
        var waysHit = new HashSet<int>();
        var pageWay = new Dictionary<ulong, int> { [0] = 0, [1] = 1, [2] = 2, [3] = 3 };
        for (ulong p = 4; p < 404; p++)
        {
            ulong victim = Evicted(a2, p);
            int way = pageWay[victim];
            waysHit.Add(way);
            pageWay[p] = way;
        }
        Assert.Equal(4, waysHit.Count);
    }

    [Fact]
    public void DirectMappedPagesWithTheSameLowBitsEvictEachOther()
    {
        var a = new TlbArray<LruPolicy>(4, 1, 1UL << 12, 1);
        Fill(a, 0, 1, 2, 3);
        Assert.Equal(4, a.Count);
        Assert.Equal(0UL, Evicted(a, 4));   // 4 mod 4 = set 0
        Assert.True(Has(a, 1) && Has(a, 2) && Has(a, 3) && Has(a, 4));
        Assert.False(Has(a, 0));
    }

    [Fact]
    public void SetIndexComesFromTheLowBitsOfThePageNumber()
    {
        var a = new TlbArray<LruPolicy>(2, 2, 1UL << 12, 1);
        Fill(a, 0, 2, 1); // 0 and 2 in set 0, 1 in set 1
        Assert.Equal(0UL, Evicted(a, 4)); // set 0 is full: its LRU page 0 goes, set 1 is untouched
        Assert.True(Has(a, 1));
        Assert.False(a.Insert(Va(3), Asid, Rw, out _, out _, out _)); // set 1 had a free way
    }

    [Fact]
    public void EntriesAreTaggedByAsidAndGlobalOnesMatchEveryAsid()
    {
        var a = OneSet<LruPolicy>();
        a.Insert(Va(1), 1, Rw, out _, out _, out _);
        a.Insert(Va(2), 1, Rw with { Flags = Rw.Flags | PageFlags.Global }, out _, out _, out _);
        Assert.False(a.TryLookup(Va(1), 2, out _));
        Assert.True(a.TryLookup(Va(2), 2, out _));
        a.InvalidateAsid(1);
        Assert.False(a.TryLookup(Va(1), 1, out _));
        Assert.True(a.TryLookup(Va(2), 1, out _));
        a.InvalidateAll(keepGlobal: true);
        Assert.True(a.TryLookup(Va(2), 3, out _));
        a.Invalidate(Va(2), 5); // invlpg drops a global entry too
        Assert.False(a.TryLookup(Va(2), 1, out _));
        Assert.Equal(0, a.Count);
    }

    [Fact]
    public void SharedArrayFindsAHugePageFromAnyAddressInsideIt()
    {
        var a = new TlbArray<LruPolicy>(4, 2, (1UL << 12) | (1UL << 21), 1);
        a.Insert(0x4020_0000, Asid, new TlbEntry(0x400, Rw.Flags, PageShift: 21), out _, out _, out _);
        Assert.True(a.TryLookup(0x4020_0000 + 0x1F_F123, Asid, out var e));
        Assert.Equal(21, e.PageShift);
        Assert.False(a.TryLookup(0x4040_0000, Asid, out _));
        Assert.True(a.Holds(21) && a.Holds(12) && !a.Holds(30));
    }

    [Fact]
    public void UpdatingACachedPageReplacesItInPlaceWithoutEviction()
    {
        var a = OneSet<FifoPolicy>();
        Fill(a, 10, 11, 12, 13);
        Assert.False(a.Insert(Va(11), Asid, Rw with { Frame = 99 }, out _, out _, out _));
        Assert.True(a.TryLookup(Va(11), Asid, out var e));
        Assert.Equal(99UL, e.Frame);
        Assert.Equal(4, a.Count);
    }

    // ---- a policy added outside the plugin ------------------------------------------------------------------

    /// <summary>Most recently used (a user-written struct policy): evicts the way used last.</summary>
    private struct MruPolicy : ITlbReplacementPolicy<MruPolicy>
    {
        private int[] _last;
        public static MruPolicy Create(int sets, int ways, ulong seed) => new() { _last = new int[sets] };
        public readonly void OnHit(int set, int way) => _last[set] = way;
        public readonly void OnFill(int set, int way) => _last[set] = way;
        public readonly int Victim(int set) => _last[set];
    }

    /// <summary>The same policy as a class: the prototype path (shared generic code, an indirect call per access).</summary>
    private sealed class ClassMruPolicy : ITlbReplacementPolicy<ClassMruPolicy>
    {
        private int[] _last = [];
        public static ClassMruPolicy Create(int sets, int ways, ulong seed) => new() { _last = new int[sets] };
        public void OnHit(int set, int way) => _last[set] = way;
        public void OnFill(int set, int way) => _last[set] = way;
        public int Victim(int set) => _last[set];
    }

    [Fact]
    public void UserStructPolicyPlugsIntoTheSetAssociativeTlb()
    {
        var tlb = TlbModule.SetAssociative<MruPolicy>(new SetAssociativeTlbOptions { Entries = 4, Ways = 4 }, 1);
        foreach (ulong p in new ulong[] { 10, 11, 12, 13 }) tlb.Insert(Va(p), Asid, AccessKind.Read, Rw);
        Assert.True(tlb.TryLookup(Va(11), Asid, AccessKind.Read, out _));
        tlb.Insert(Va(14), Asid, AccessKind.Read, Rw);
        Assert.False(tlb.TryLookup(Va(11), Asid, AccessKind.Read, out _));
        Assert.True(tlb.TryLookup(Va(10), Asid, AccessKind.Read, out _));
    }

    [Fact]
    public void UserClassPolicyWorksThroughTheSameArray()
    {
        var a = OneSet<ClassMruPolicy>();
        Fill(a, 10, 11, 12, 13);
        Assert.True(Has(a, 12));
        Assert.Equal(12UL, Evicted(a, 14));
    }
}
