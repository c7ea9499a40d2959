using VmLab.Host.Config;
using VmLab.Host.Plugins;
using VmLab.Host.Running;

namespace VmLab.Host.Tests.Replacement;

/// <summary>
/// configs/paging-limited.json: one process on the recorded ls trace, zero page off, resident set limited by
/// machine:memory:userFrames, no watermark slack. Every fault is then exactly one miss of a fully-associative cache of
/// page numbers of that size: a first touch is a miss (demand-zero), a touch of an evicted page is a miss (swap-in,
/// major), a hit costs no fault (swap-in maps writable, so a later write does not fault), and the kernel evicts one
/// page exactly when the limit is reached.
/// </summary>
public sealed class PagingExactnessTests
{
    private static readonly Lazy<List<ulong>> LsPages = new(() => ReferenceCache.PagesOfLackeyTrace(Repo.Path("configs", "traces", "ls.lackey.gz")));

    internal static RunResult Run(string config, params string[] overrides) =>
        new ExperimentRunner().Run(new ExperimentLoader(PluginCatalog.CreateDefault()).Load(config, overrides));

    [Theory]
    [InlineData("lru", 8)]
    [InlineData("lru", 64)]
    [InlineData("lru", 200)]
    [InlineData("fifo", 8)]
    [InlineData("fifo", 64)]
    [InlineData("fifo", 200)]
    [InlineData("opt", 8)]
    [InlineData("opt", 64)]
    [InlineData("opt", 200)]
    public void FaultsEqualTheMissesOfATextbookCacheOfThatSizeOnTheLsTrace(string policy, int frames)
    {
        long expected = ReferenceCache.Misses(LsPages.Value, frames, policy);

        var r = Run(Repo.Path("configs", "paging-limited.json"),
            $"machine:replacement:plugin={policy}", $"machine:memory:userFrames={frames}");

        Assert.Equal(RunResult.Completed, r.Status);
        Assert.Equal(expected, r.Metrics["faults.total"]);
        Assert.Equal(317, r.Metrics["faults.demand_zero"]); // the first touches: the pages the trace uses
        Assert.Equal(expected - 317, r.Metrics["faults.major"]); // every other miss reads the page back from swap
        Assert.Equal(frames, r.Metrics["pages.resident_peak"]);
    }

    [Fact]
    public void TheReferenceStreamHasOnePageNumberPerTranslation()
    {
        // The quickstart counts 1,016,853 records + 2,884 modifies + 762 straddles as accesses; the model sees the same stream.
        Assert.Equal(1_016_853 + 2_884 + 762, LsPages.Value.Count);
        Assert.Equal(317, LsPages.Value.Distinct().Count());
    }

    [Fact]
    public void OptNeverFaultsMoreThanLruOrFifoAndLruBeatsFifoOnLs()
    {
        long opt = ReferenceCache.Misses(LsPages.Value, 64, "opt");
        long lru = ReferenceCache.Misses(LsPages.Value, 64, "lru");
        long fifo = ReferenceCache.Misses(LsPages.Value, 64, "fifo");
        Assert.True(opt < lru && lru < fifo, $"opt {opt}, lru {lru}, fifo {fifo}");
    }
}
