using VmLab.Host.Running;

namespace VmLab.Plugins.Tests.Tlb;

/// <summary>The TLB plugins and configs through the host from JSON: they run, check clean, and bad options are rejected by key path.</summary>
public sealed class TlbConfigTests
{
    [Theory]
    [InlineData("tlb-unified-fa.json")]
    [InlineData("tlb-set-associative.json")]
    [InlineData("tlb-golden-cove.json")]
    [InlineData("tlb-neoverse-n2.json")]
    [InlineData("quickstart.json")]
    public void ReadyConfigsRunCleanWithTheCoherenceCheckOn(string config)
    {
        var r = Repo.Run(config, "machine:checks:tlb=true");
        Assert.True(r.Status == RunResult.Completed, r.Error);
        Assert.Equal(r.Metrics["accesses"], r.Metrics["tlb.hits"] + r.Metrics["tlb.misses"]);
    }

    [Theory]
    [InlineData("lru")]
    [InlineData("fifo")]
    [InlineData("random")]
    [InlineData("plru")]
    [InlineData("srrip")]
    public void EverySetAssociativePolicyRunsFromJsonWithTheCheckOn(string policy)
    {
        var r = Repo.Run("tlb-set-associative.json", $"machine:tlb:options:policy={policy}", "machine:checks:tlb=true");
        Assert.True(r.Status == RunResult.Completed, r.Error);
        // 317 pages through 64 entries: some misses beyond the cold ones, far fewer than accesses.
        Assert.InRange(r.Metrics["tlb.misses"], 318, 20_000);
    }

    [Theory]
    [InlineData("random")]
    [InlineData("plru")]
    public void UnifiedFullyAssociativeTakesRandomAndPlru(string policy)
    {
        var r = Repo.Run("tlb-unified-fa.json", $"machine:tlb:options:policy={policy}", "machine:tlb:options:entries=16");
        Assert.True(r.Status == RunResult.Completed, r.Error);
        Assert.InRange(r.Metrics["tlb.misses"], 318, 200_000);
    }

    [Fact]
    public void RandomPolicyIsDeterministicPerSeed()
    {
        string[] set = ["machine:tlb:options:policy=random", "machine:tlb:options:entries=16"];
        long a = Repo.Run("tlb-unified-fa.json", set).Metrics["tlb.misses"];
        long b = Repo.Run("tlb-unified-fa.json", set).Metrics["tlb.misses"];
        long c = Repo.Run("tlb-unified-fa.json", [.. set, "seed=2"]).Metrics["tlb.misses"];
        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
    }

    [Fact]
    public void WorkloadTraceIsChosenByConfig()
    {
        var r = Repo.Run("tlb-unified-fa.json", "workload:options:path=traces/tiny.lackey");
        Assert.True(r.Status == RunResult.Completed, r.Error);
        Assert.Equal(11, r.Metrics["tlb.misses"]); // tiny.lackey touches 11 distinct pages, all fit in 64 entries
    }

    [Theory]
    [InlineData("tlb-set-associative.json", "machine:tlb:options:ways=6|machine:tlb:options:entries=96", "machine:tlb:options:ways", "plru needs a power-of-two number of ways")]
    [InlineData("tlb-set-associative.json", "machine:tlb:options:ways=5", "machine:tlb:options:ways", "must be a power of two")]
    [InlineData("tlb-set-associative.json", "machine:tlb:options:pageSizes:0=3k", "machine:tlb:options:pageSizes:0", "is not a page size")]
    [InlineData("tlb-unified-fa.json", "machine:tlb:options:policy=srrip", "machine:tlb:options:policy", "allowed: lru, fifo, random, plru")]
    [InlineData("tlb-set-associative.json", "machine:tlb:options:policy=lfu", "machine:tlb:options:policy", "lru, fifo, random, plru, srrip")]
    [InlineData("tlb-golden-cove.json", "machine:tlb:options:policy=plru", "machine:tlb:options:l1d:arrays:0:ways", "got 6")]
    [InlineData("tlb-golden-cove.json", "machine:tlb:options:l2:arrays:1:pageSizes:0=2m", "machine:tlb:options:l2:arrays:1:pageSizes", "earlier array")]
    [InlineData("tlb-golden-cove.json", "machine:pcids=0", "machine:pcids", "out of range")]
    public void BadTlbOptionsAreRejectedNamingTheKey(string config, string set, string key, string message)
    {
        var errors = Repo.Errors(config, set.Split('|'));
        Assert.Contains(errors, e => e.Message.Contains(key + ":", StringComparison.Ordinal) && e.Message.Contains(message, StringComparison.Ordinal));
    }
}
