using VmLab.Host.Running;
using VmLab.Host.Tests.Replacement.References;

namespace VmLab.Host.Tests.Replacement;

/// <summary>
/// Every policy with a published definition, run through the whole machine (configs/paging-limited.json on the recorded
/// ls trace: every fault is one miss of a cache of userFrames pages, see <see cref="PagingExactnessTests"/>), faults
/// exactly as often as an implementation written from its paper (tests/.../Replacement/References, separate code) on
/// the same page stream, parsed from the trace on its own and decoded once for all cases.
/// </summary>
public sealed class PublishedReferenceTests
{
    private static readonly Lazy<List<(ulong Page, bool Write)>> LsTouches = new(() => ReferenceCache.TouchesOfLackeyTrace(Repo.Path("configs", "traces", "ls.lackey.gz")));
    private static readonly Lazy<List<ulong>> LsPages = new(() => LsTouches.Value.ConvertAll(t => t.Page));

    public static TheoryData<string, int> Cases()
    {
        var data = new TheoryData<string, int>();
        foreach (var policy in References.Keys)
            foreach (int frames in policy is "clock-textbook-clear" or "clock-hardware-tlb1" or "two-list-no-workingset-tlb1" or "clock-pro-paper-adaptive" or "clock-pro-authors-adaptive" ? (int[])[16, 64, 256] : [16, 32, 64, 128, 256])
                data.Add(policy, frames);
        return data;
    }

    /// <summary>Case name → (overrides of machine:replacement, reference misses for c frames).</summary>
    private static readonly Dictionary<string, (string[] Set, Func<IReadOnlyList<ulong>, int, long> Reference)> References = new()
    {
        ["arc"] = (["machine:replacement:plugin=arc"], ArcReference.Misses),
        ["2q"] = (["machine:replacement:plugin=2q"], (p, c) => TwoQueueReference.Misses(p, c)),
        ["clock-textbook"] = (["machine:replacement:plugin=clock", "machine:replacement:options:mode=textbook"],
            (p, c) => FifoFamilyReferences.Clock(p, c, referenceOnInsert: true)),
        ["clock-textbook-clear"] = (["machine:replacement:plugin=clock", "machine:replacement:options:mode=textbook", "machine:replacement:options:referenceOnInsert=false"],
            (p, c) => FifoFamilyReferences.Clock(p, c, referenceOnInsert: false)),
        // Hardware Accessed bits with a one-entry TLB: every access to another page than the last re-walks and sets the
        // bit, so the hand sees what textbook CLOCK sees (the faulting access sets the bit: referenced on insertion).
        ["clock-hardware-tlb1"] = (["machine:replacement:plugin=clock", "machine:tlb:options:entries=1"],
            (p, c) => FifoFamilyReferences.Clock(p, c, referenceOnInsert: true)),
        ["lirs"] = (["machine:replacement:plugin=lirs"], (p, c) => LirsReference.Misses(p, c)),
        ["sieve"] = (["machine:replacement:plugin=sieve"], FifoFamilyReferences.Sieve),
        ["s3-fifo"] = (["machine:replacement:plugin=s3-fifo"], (p, c) => FifoFamilyReferences.S3Fifo(p, c)),
        ["lfu-aging"] = (["machine:replacement:plugin=lfu-aging"], (p, c) => AgingReference.Misses(p, c)),
        ["clock-pro"] = (["machine:replacement:plugin=clock-pro"], (p, c) => ClockProReference.Misses(p, c)),
        ["clock-pro-authors-adaptive"] = (["machine:replacement:plugin=clock-pro", "machine:replacement:options:adaptive=true",
                "machine:replacement:options:coldPercent=1", "machine:replacement:options:maxColdPercent=50"],
            (p, c) => ClockProReference.Misses(p, c, adaptive: true, coldPercent: 1, maxColdPercent: 50)),
        ["clock-pro-paper"] = (["machine:replacement:plugin=clock-pro", "machine:replacement:options:variant=paper"],
            (p, c) => ClockProReference.Misses(p, c, authors: false)),
        ["clock-pro-paper-adaptive"] = (["machine:replacement:plugin=clock-pro", "machine:replacement:options:variant=paper", "machine:replacement:options:adaptive=true"],
            (p, c) => ClockProReference.Misses(p, c, authors: false, adaptive: true)),
        // An Accessed-bit policy with a one-entry TLB: every access to another page than the last re-walks and sets the
        // bit, so the bit the kernel's walks read is "accessed since it was last cleared", what the reference models.
        ["nru-tlb1"] = (["machine:replacement:plugin=nru", "machine:tlb:options:entries=1"], (_, c) => AccessedBitReferences.Nru(LsTouches.Value, c)),
        ["wsclock-tlb1"] = (["machine:replacement:plugin=wsclock", "machine:tlb:options:entries=1"], (_, c) => AccessedBitReferences.WsClock(LsTouches.Value, c)),
        ["car-tlb1"] = (["machine:replacement:plugin=car", "machine:tlb:options:entries=1"], (_, c) => AccessedBitReferences.Car(LsTouches.Value, c)),
        ["two-list-tlb1"] = (["machine:replacement:plugin=two-list", "machine:tlb:options:entries=1"], (p, c) => TwoListReference.Misses(p, c)),
        ["two-list-no-workingset-tlb1"] = (["machine:replacement:plugin=two-list", "machine:replacement:options:workingset=false", "machine:tlb:options:entries=1"],
            (p, c) => TwoListReference.Misses(p, c, workingset: false)),
        ["mglru-tlb1"] = (["machine:replacement:plugin=mglru", "machine:tlb:options:entries=1"], MglruReference.Misses),
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void FaultsOnTheLsTraceEqualTheMissesOfThePapersAlgorithm(string policy, int frames)
    {
        var (set, reference) = References[policy];
        long expected = reference(LsPages.Value, frames);

        var r = PagingExactnessTests.Run(Repo.Path("configs", "paging-limited.json"), [.. set, $"machine:memory:userFrames={frames}"]);

        Assert.Equal(RunResult.Completed, r.Status);
        Assert.Equal(expected, r.Metrics["faults.total"]);
    }

    /// <summary>
    /// The misses of the authors' own simulator, Song Jiang's clock-pro.c (9/29/05, the header's defaults: 5% fixed cold
    /// allocation, at least 2 pages, at most m non-resident pages), on the ls page stream, measured outside the
    /// repository (docs/replacement.md, "How CLOCK-Pro is checked"). The reference of the authors variant reproduces
    /// them, and the plugin equals that reference (above).
    /// </summary>
    [Theory]
    [InlineData(16, 23895)]
    [InlineData(32, 6935)]
    [InlineData(64, 1857)]
    [InlineData(128, 606)]
    [InlineData(256, 335)]
    public void ClockProAuthorsReferenceMissesAsTheAuthorsSimulatorOnTheLsTrace(int frames, long authorsMisses) =>
        Assert.Equal(authorsMisses, ClockProReference.Misses(LsPages.Value, frames));

    /// <summary>As above, with the simulator built with ADAPTIVE_COLD_ALLOC defined and the cold allocation's band 1% to 50%.</summary>
    [Theory]
    [InlineData(16, 23671)]
    [InlineData(32, 6742)]
    [InlineData(64, 1841)]
    [InlineData(128, 620)]
    [InlineData(256, 334)]
    public void ClockProAuthorsAdaptiveReferenceMissesAsTheAuthorsAdaptiveSimulatorOnTheLsTrace(int frames, long authorsMisses) =>
        Assert.Equal(authorsMisses, ClockProReference.Misses(LsPages.Value, frames, adaptive: true, coldPercent: 1, maxColdPercent: 50));
}
