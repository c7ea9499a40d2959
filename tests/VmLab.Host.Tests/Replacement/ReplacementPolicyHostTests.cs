using VmLab.Abstractions.Plugins;
using VmLab.Core.Mmu;
using VmLab.Host.Config;
using VmLab.Host.Plugins;
using VmLab.Host.Running;
using VmLab.Core;
using Microsoft.Extensions.DependencyInjection;

namespace VmLab.Host.Tests.Replacement;

/// <summary>Every replacement plugin, loaded from its folder and run from JSON through the host.</summary>
public sealed class ReplacementPolicyHostTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    public static TheoryData<string> Policies() => new(PolicyNames);

    private static readonly string[] PolicyNames =
        ["fifo", "lru", "clock", "nru", "two-list", "wsclock", "arc", "car", "2q", "lirs", "sieve", "s3-fifo", "lfu-aging", "clock-pro", "mglru", "random", "opt"];

    private static readonly Lazy<long> OptMissesAt32 = new(() =>
        ReferenceCache.Misses(ReferenceCache.PagesOfLackeyTrace(Repo.Path("configs", "traces", "ls.lackey.gz")), 32, "opt"));

    [Theory]
    [MemberData(nameof(Policies))]
    public void PolicyRunsTheLsTraceWithinTheLimitAndNeverBeatsOpt(string policy)
    {
        var r = PagingExactnessTests.Run(Repo.Path("configs", "paging-limited.json"),
            $"machine:replacement:plugin={policy}", "machine:memory:userFrames=32");

        Assert.Equal(RunResult.Completed, r.Status);
        Assert.Equal(32, r.Metrics["pages.resident_peak"]);
        // Every fault is a first touch or a swap-in; no policy can take fewer than Belady's optimum.
        Assert.Equal(r.Metrics["faults.total"], r.Metrics["faults.demand_zero"] + r.Metrics["faults.swap_in"]);
        Assert.True(r.Metrics["faults.total"] >= OptMissesAt32.Value, $"{policy}: {r.Metrics["faults.total"]} < OPT {OptMissesAt32.Value}");
        Assert.Equal(r.Metrics["faults.total"] - 32, r.Metrics["reclaim.direct"]);
        Assert.Equal(policy, r.Plugins.Keys.Single(k => k == policy));
    }

    [Fact]
    public void HardwareClockWithReferenceOnInsertFalseIsAConfigErrorNamingTheKey()
    {
        string config = _dir.File("clock-bad.json", """
            { "machine": { "replacement": { "plugin": "clock", "options": { "mode": "hardware", "referenceOnInsert": false } } },
              "workload": { "plugin": "lackey", "options": { "path": "t.lackey" } } }
            """);
        _dir.File("t.lackey", " L 1000,1\n");
        var e = Assert.Throws<ConfigException>(() => new ExperimentLoader(PluginCatalog.CreateDefault()).Load(config));
        var error = Assert.Single(e.Errors);
        Assert.Contains("clock-bad.json:1:", error.ToString()); // file:line:column of the key
        Assert.Contains("machine:replacement:options:referenceOnInsert", error.ToString(), StringComparison.OrdinalIgnoreCase);
        Assert.Contains("mode textbook", error.Message);
    }

    [Fact]
    public void ClockProColdShareAbove100PercentIsAConfigErrorNamingTheKey()
    {
        string config = _dir.File("clock-pro-bad.json", """
            { "machine": { "replacement": { "plugin": "clock-pro", "options": { "coldPercent": 150 } } },
              "workload": { "plugin": "lackey", "options": { "path": "t.lackey" } } }
            """);
        _dir.File("t.lackey", " L 1000,1\n");
        var e = Assert.Throws<ConfigException>(() => new ExperimentLoader(PluginCatalog.CreateDefault()).Load(config));
        var error = Assert.Single(e.Errors);
        Assert.Contains("clock-pro-bad.json:1:", error.ToString());
        Assert.Contains("machine:replacement:options:coldPercent", error.ToString(), StringComparison.OrdinalIgnoreCase);
        Assert.Contains("100", error.Message);
    }

    [Theory]
    [InlineData("\"maxColdPercent\": 30", "maxColdPercent", "adaptive true")]
    [InlineData("\"variant\": \"linux\"", "variant", "authors")]
    public void ClockProBadOptionIsAConfigErrorNamingTheKey(string options, string key, string allowed)
    {
        string config = _dir.File("clock-pro-bad.json", $$"""
            { "machine": { "replacement": { "plugin": "clock-pro", "options": { {{options}} } } },
              "workload": { "plugin": "lackey", "options": { "path": "t.lackey" } } }
            """);
        _dir.File("t.lackey", " L 1000,1\n");
        var e = Assert.Throws<ConfigException>(() => new ExperimentLoader(PluginCatalog.CreateDefault()).Load(config));
        var error = Assert.Single(e.Errors);
        Assert.Contains("clock-pro-bad.json:1:", error.ToString());
        Assert.Contains($"machine:replacement:options:{key}", error.ToString(), StringComparison.OrdinalIgnoreCase);
        Assert.Contains(allowed, error.Message, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void EveryRegisteredReplacementPluginIsInThePolicyList()
    {
        var registered = PluginCatalog.CreateDefault().All.Where(p => p.Kind == ExtensionPoints.NameOf(PluginKind.Replacement)).Select(p => p.Name).ToList();
        Assert.NotEmpty(registered);
        Assert.Equal(registered.Order(StringComparer.Ordinal), PolicyNames.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void OptMatchesItsReferenceAndEveryOtherPolicyFaultsMore()
    {
        var opt = PagingExactnessTests.Run(Repo.Path("configs", "paging-limited.json"), "machine:replacement:plugin=opt", "machine:memory:userFrames=32");
        Assert.Equal(OptMissesAt32.Value, opt.Metrics["faults.total"]);
    }

    [Fact]
    public void RandomIsDeterministicForASeedAndChangesWithIt()
    {
        string config = Repo.Path("configs", "paging-limited.json");
        var a = PagingExactnessTests.Run(config, "machine:replacement:plugin=random", "machine:memory:userFrames=32");
        var b = PagingExactnessTests.Run(config, "machine:replacement:plugin=random", "machine:memory:userFrames=32");
        var c = PagingExactnessTests.Run(config, "machine:replacement:plugin=random", "machine:memory:userFrames=32", "seed=2");
        Assert.Equal(a.Metrics, b.Metrics);
        Assert.NotEqual(a.Metrics["faults.total"], c.Metrics["faults.total"]);
    }

    /// <summary>Four hot pages read twice per round, then a burst of ten pages never used again; eight frames.</summary>
    private static string HotSetAndScans()
    {
        var refs = new List<int>();
        int scan = 100;
        for (int round = 0; round < 30; round++)
        {
            for (int h = 0; h < 4; h++) refs.Add(h);
            for (int h = 0; h < 4; h++) refs.Add(h);
            for (int s = 0; s < 10; s++) refs.Add(scan++);
        }
        return string.Join(',', refs);
    }

    [Theory]
    [InlineData("arc", "")]
    [InlineData("2q", ", \"options\": { \"koutPercent\": 200 }")]
    [InlineData("lirs", "")]
    public void ScanResistantPoliciesKeepTheHotSetThroughScansWhereLruLosesIt(string policy, string options)
    {
        // LRU: each 10-page scan pushes the 4 hot pages out of 8 frames, so every round misses them again:
        // 4 + 10 misses per round. A scan-resistant policy keeps the re-referenced pages: 304 distinct pages is the
        // optimum, the warm-up round may cost the hot set once more.
        string refs = HotSetAndScans();
        var lru = PagingExactnessTests.Run(TextbookTableTests.Config(_dir, refs, "lru", 8));
        var other = PagingExactnessTests.Run(TextbookTableTests.Config(_dir, refs, policy, 8, options));
        Assert.Equal(30 * 14, lru.Metrics["faults.total"]);
        Assert.InRange(other.Metrics["faults.total"], 304, 304 + 4);
    }

    [Fact]
    public void OnlyAPolicyThatNeedsEveryAccessIsCalledFromTheMmu()
    {
        Type ObserverOf(string policy)
        {
            var e = new ExperimentLoader(PluginCatalog.CreateDefault()).Load(Repo.Path("configs", "paging-limited.json"), [$"machine:replacement:plugin={policy}"]);
            using var sp = ExperimentRunner.Compose(e);
            return sp.GetRequiredService<Machine>().Cpus[0].GetType().GetGenericArguments()[2];
        }
        Assert.Equal(typeof(NoAccessObserver), ObserverOf("clock"));
        Assert.Equal(typeof(NoAccessObserver), ObserverOf("fifo"));
        Assert.Equal(typeof(PolicyAccessObserver), ObserverOf("lru"));
    }

    [Fact]
    public void OptOnAScenarioIsAConfigErrorNamingTheKeyPath()
    {
        string vms = _dir.File("s.vms", "process p\np mmap a 2p rw private\np write every page of a value 1\nexpect p minflt == 2\n");
        string config = _dir.File("opt-scenario.json", $$"""
            { "machine": { "replacement": { "plugin": "opt" } },
              "workload": { "plugin": "scenario", "options": { "path": "s.vms" } } }
            """);
        var e = Assert.Throws<VmLab.Abstractions.Plugins.VmLabInputException>(() => PagingExactnessTests.Run(config));
        Assert.Equal("machine:replacement:plugin", e.Where);
        Assert.Contains("workload:plugin", e.Message);
        Assert.Contains("cannot be read twice", e.Message);
    }
}
