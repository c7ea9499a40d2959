using CsCheck;
using VmLab.Abstractions;
using VmLab.Abstractions.Replacement;
using VmLab.Core.Mmu;
using VmLab.Core.Tests.Fakes;

namespace VmLab.Core.Tests.Mmu;

/// <summary>
/// Page runs in the MMU's fast path: an access of the same 4 KiB page and lookup class as the last hit, which the cached
/// entry grants outright, is counted without a lookup, and the repeats reach the TLB's counters in one call before
/// anything leaves the fast path; only for a TLB that declares <c>IRepeatHitTlb</c> and an MMU that observes nothing.
/// </summary>
public sealed class PageRunsTests
{
    private const ulong A = 0x4000_0000, B = 0x4000_1000, C = 0x4000_2000;

    private static MemoryAccess R(ulong va) => new(va, 0, 8, AccessKind.Read, AccessMode.User);
    private static MemoryAccess W(ulong va) => new(va, 0, 8, AccessKind.Write, AccessMode.User);
    private static MemoryAccess F(ulong va) => new(va, 0, 4, AccessKind.Fetch, AccessMode.User);

    private static (Machine Machine, FakeRepeatHitTlb Tlb) Create(bool split = false, IReplacementPolicy? replacement = null, bool pairs = false, int entries = 16)
    {
        FakeRepeatHitTlb? tlb = null;
        var machine = TestMachine.Create(zeroPage: false, replacement: replacement, tlb: _ => tlb = new FakeRepeatHitTlb(entries, split, pairs));
        return (machine, tlb!);
    }

    [Fact]
    public void RepeatsOfTheLastHitAreCountedWithoutLookups()
    {
        var (m, tlb) = Create();
        m.Run(R(A), R(B)); // first touches: misses, faults, walks
        long lookups = tlb.DataLookups;
        m.Run(R(A), R(A + 8), W(A + 16), R(A + 24), R(B), R(B + 8), R(A));
        // Looked up: the first A, the first B, the last A. Repeated: three of A, one of B.
        Assert.Equal(lookups + 3, tlb.DataLookups);
        Assert.Equal(4, tlb.DataRepeats);
        Assert.Equal(1, tlb.CountCalls); // once, at the end of the batch
        Assert.Equal(9, m.M(MetricNames.Accesses));
        Assert.Equal(7, m.M(MetricNames.TlbHits));
        Assert.Equal(m.M(MetricNames.TlbHits), tlb.DataHits);
    }

    [Fact]
    public void SplitClassesKeepOneRunEachAcrossInterleavedFetches()
    {
        var (m, tlb) = Create(split: true);
        m.Run(F(C), R(A));
        long fetches = tlb.FetchLookups, data = tlb.DataLookups;
        m.Run(F(C), R(A), F(C + 4), W(A + 8), F(C + 8), R(A + 16), F(C + 12));
        Assert.Equal(fetches + 1, tlb.FetchLookups);
        Assert.Equal(data + 1, tlb.DataLookups);
        Assert.Equal(3, tlb.FetchRepeats);
        Assert.Equal(2, tlb.DataRepeats);
        Assert.Equal(m.M(MetricNames.TlbHits), tlb.FetchHits + tlb.DataHits);
    }

    [Fact]
    public void AUnifiedTlbKeepsOneRunSoInterleavedClassesAreLookedUp()
    {
        var (m, tlb) = Create(split: false);
        m.Run(F(C), R(A));
        long lookups = tlb.DataLookups;
        m.Run(F(C), R(A), F(C + 4), R(A + 8));
        Assert.Equal(lookups + 4, tlb.DataLookups);
        Assert.Equal(0, tlb.DataRepeats);
    }

    [Fact]
    public void AUnifiedTlbWithPairRunsCountsAccessesAlternatingBetweenTwoPagesWithoutLookups()
    {
        var (m, tlb) = Create(pairs: true);
        m.Run(F(C), R(A));
        long lookups = tlb.DataLookups;
        m.Run(F(C), R(A), F(C + 4), R(A + 8), F(C + 8), W(A + 16));
        // C and A looked up; the four accesses after them alternate between the pair. The page used last, A, is the one
        // the TLB last looked up: nothing to look up again.
        Assert.Equal(lookups + 2, tlb.DataLookups);
        Assert.Equal(4, tlb.DataRepeats);
        Assert.Equal(m.M(MetricNames.TlbHits), tlb.DataHits);
    }

    [Fact]
    public void APairEndingOnThePageLookedUpFirstLooksItUpOnceMoreInsteadOfCountingItAsARepeat()
    {
        var (m, tlb) = Create(pairs: true);
        m.Run(F(C), R(A));
        long lookups = tlb.DataLookups, repeats = tlb.DataRepeats;
        m.Run(F(C), R(A), F(C + 4), R(A + 8), F(C + 8));
        // Looked up: C, A, and C again at the end of the batch, so the TLB has C as its latest use; of the three
        // repeats, the last is that lookup.
        Assert.Equal(lookups + 3, tlb.DataLookups);
        Assert.Equal(repeats + 2, tlb.DataRepeats);
        Assert.Equal(m.M(MetricNames.TlbHits), tlb.DataHits);
    }

    [Fact]
    public void AThirdPageAfterAPairEvictsWhatLookingUpEveryAccessEvicts()
    {
        // Two entries, holding C and A: after C, A, C, A, C the least recently used is A, so B replaces A and C still
        // hits. Were the TLB not told that C was used after A, B would replace C and the last access would miss.
        var (on, tlb) = Create(pairs: true, entries: 2);
        var off = TestMachine.Create(zeroPage: false, tlb: _ => new FakeTlb(2));
        foreach (var m in new[] { on, off }) m.Run(R(B), R(C), R(A));
        long misses = on.M(MetricNames.TlbMisses), lookups = tlb.DataLookups;
        foreach (var m in new[] { on, off }) m.Run(R(C), R(A), R(C + 8), R(A + 8), R(C + 16), R(B), R(C + 24));
        Assert.Equal(off.Metrics.Snapshot(), on.Metrics.Snapshot());
        Assert.Equal(misses + 1, on.M(MetricNames.TlbMisses)); // B only
        // Looked up: C, A, C again before B (the third repeat), B, the last C; two repeats handed over.
        Assert.Equal(lookups + 5, tlb.DataLookups);
        Assert.Equal(2, tlb.DataRepeats);
        on.Run(R(A));
        Assert.Equal(misses + 2, on.M(MetricNames.TlbMisses));
    }

    [Fact]
    public void AWriteThroughACleanEntryEndsTheRunAndSetsDirty()
    {
        var (m, tlb) = Create();
        m.Run(W(A));
        var p = m.Kernel.GetOrCreateImplicitProcess(0, 0);
        var leaf = m.Kernel.PageTable.Read(p.PageTableRoot, A);
        m.Kernel.AddressSpaces.UpdatePageFlags(p, A, leaf.Flags & ~(PageFlags.Dirty | PageFlags.Present));
        m.Kernel.AddressSpaces.FlushTlbPage(p, A, 0);
        long lookups = tlb.DataLookups, dirty = m.M(MetricNames.WalkDirtyUpdates);
        m.Run(R(A), R(A + 8), W(A + 16), W(A + 24), W(A + 32));
        // R(A) misses (flushed) and walks, out of line; R(A+8) is looked up and starts a run; the write is of its page
        // but not granted outright by the clean entry: looked up, it sets Dirty out of line and ends the run; the next
        // write is looked up and starts a run, the last repeats it.
        Assert.Equal(dirty + 1, m.M(MetricNames.WalkDirtyUpdates));
        Assert.Equal(lookups + 4, tlb.DataLookups);
        Assert.Equal(1, tlb.DataRepeats);
        Assert.Equal(1, tlb.CountCalls);
        Assert.Equal(m.M(MetricNames.TlbHits), tlb.DataHits);
        Assert.True(m.Kernel.PageTable.Read(p.PageTableRoot, A).Has(PageFlags.Dirty));
    }

    [Fact]
    public void AMissEndsTheRunBeforeTheWalk()
    {
        var (m, tlb) = Create();
        m.Run(R(A));
        long lookups = tlb.DataLookups;
        m.Run(R(A), R(A + 8), R(B), R(A + 16));
        // A looked up, one repeat; B misses (the repeat handed over before the fault path); A looked up again after it.
        Assert.Equal(lookups + 3, tlb.DataLookups);
        Assert.Equal(1, tlb.DataRepeats);
        Assert.Equal(1, tlb.CountCalls);
        Assert.Equal(m.M(MetricNames.TlbHits), tlb.DataHits);
    }

    private sealed class EveryAccessPolicy : IReplacementPolicy
    {
        public ReplacementInput Input => ReplacementInput.EveryAccess;
        public long Accesses;
        public void OnResident(ulong pfn) { }
        public void OnReleased(ulong pfn) { }
        public void OnAccess(ulong pfn) => Accesses++;
        public bool TrySelectVictim(IReclaimView view, out ulong pfn)
        {
            pfn = 0;
            return false;
        }
    }

    [Fact]
    public void AnMmuThatObservesEveryAccessLooksUpEveryAccess()
    {
        var policy = new EveryAccessPolicy();
        var (m, tlb) = Create(replacement: policy);
        Assert.Equal(typeof(NoPageRuns<FakeRepeatHitTlb>), m.Cpus[0].GetType().GetGenericArguments()[3]);
        m.Run(R(A));
        long lookups = tlb.DataLookups, seen = policy.Accesses;
        m.Run(R(A), R(A + 8), R(A + 16));
        Assert.Equal(lookups + 3, tlb.DataLookups);
        Assert.Equal(seen + 3, policy.Accesses);
        Assert.Equal(0, tlb.DataRepeats);
    }

    [Fact]
    public void TheMmuIsClosedOverPageRunsForATlbThatDeclaresThem()
    {
        var (m, _) = Create();
        Assert.Equal(typeof(PageRuns<FakeRepeatHitTlb>), m.Cpus[0].GetType().GetGenericArguments()[3]);
        Assert.Equal(typeof(NoPageRuns<FakeTlb>), TestMachine.Create().Cpus[0].GetType().GetGenericArguments()[3]);
    }

    /// <summary>
    /// Random batches (page runs, interleaved kinds, kernel mode, straddles, other pids) and flushes between them, on
    /// split and unified TLBs, with and without pair runs, with room for every page or for only a few (so that the
    /// order the runs leave decides what is evicted).
    /// </summary>
    [Theory]
    [InlineData(true, false, 16)]
    [InlineData(true, true, 3)]
    [InlineData(false, true, 2)]
    [InlineData(false, true, 4)]
    [InlineData(false, false, 3)]
    public void RandomStreamsCountTheSameAsLookingUpEveryAccess(bool split, bool pairs, int entries)
    {
        // An element is `repeat` accesses of one page, or, with a second page, alternating between the two (the second
        // with the next kind: a fetch after a data access, as in a trace); mostly of pid 0, so runs get long.
        var genAccess = Gen.Select(Gen.Int[0, 5], Gen.Int[-3, 5], Gen.Int[0, 4095], Gen.Int[0, 2], Gen.Int[0, 15], Gen.Int[0, 5], Gen.Int[1, 8],
            (page, page2, offset, kind, mode, pid, repeat) => (page, page2, offset, kind, mode, pid: pid > 3 ? pid - 3 : 0, repeat));
        var genBatch = genAccess.Array[1, 30];
        var genProgram = Gen.Select(genBatch, Gen.Int[0, 3]).Array[1, 12];
        genProgram.Sample(program =>
        {
            var (on, tlb) = Create(split, pairs: pairs, entries: entries);
            var off = TestMachine.Create(zeroPage: false, tlb: _ => new FakeRepeatHitTlbLookingUpAll(entries, split));
            foreach (var (batch, flush) in program)
            {
                var accesses = new List<MemoryAccess>();
                foreach (var (page, page2, offset, kind, mode, pid, repeat) in batch)
                    for (int j = 0; j < repeat; j++)
                    {
                        bool second = page2 >= 0 && j % 2 == 1;
                        accesses.Add(new MemoryAccess(0x4000_0000UL + ((ulong)(second ? page2 : page) << 12) + (ulong)((offset + 8 * j) % 4096), pid, 8,
                            (AccessKind)(second ? (kind + 1) % 3 : kind), mode == 0 ? AccessMode.Kernel : AccessMode.User));
                    }
                on.Execute(accesses.ToArray());
                off.Execute(accesses.ToArray());
                foreach (var m in new[] { on, off })
                {
                    var p = m.Kernel.GetOrCreateImplicitProcess(0, 0);
                    if (flush == 1) m.Kernel.AddressSpaces.FlushTlbMm(p, 0);
                    if (flush == 2) m.Kernel.AddressSpaces.FlushTlbPage(p, 0x4000_0000UL, 0);
                }
            }
            Assert.Equal(off.Metrics.Snapshot(), on.Metrics.Snapshot());
            Assert.Equal(on.M(MetricNames.TlbHits), tlb.DataHits + tlb.FetchHits);
        }, iter: 200, threads: 1);
    }

    /// <summary>The same TLB seen as a plain ITlb: looked up on every access.</summary>
    private sealed class FakeRepeatHitTlbLookingUpAll(int entries, bool split) : VmLab.Abstractions.Tlb.ITlb
    {
        private readonly FakeRepeatHitTlb _inner = new(entries, separatesFetches: split);
        public bool TryLookup(ulong vaddr, ushort asid, AccessKind kind, out VmLab.Abstractions.Tlb.TlbEntry entry) => _inner.TryLookup(vaddr, asid, kind, out entry);
        public void Insert(ulong vaddr, ushort asid, AccessKind kind, in VmLab.Abstractions.Tlb.TlbEntry entry) => _inner.Insert(vaddr, asid, kind, entry);
        public void Invalidate(ulong vaddr, ushort asid) => _inner.Invalidate(vaddr, asid);
        public void InvalidateAsid(ushort asid) => _inner.InvalidateAsid(asid);
        public void InvalidateAll(bool keepGlobal) => _inner.InvalidateAll(keepGlobal);
    }
}
