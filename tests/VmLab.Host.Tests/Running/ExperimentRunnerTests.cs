using VmLab.Host.Config;
using VmLab.Host.Plugins;
using VmLab.Host.Running;

namespace VmLab.Host.Tests.Running;

public sealed class ExperimentRunnerTests
{
    private static RunResult RunQuickstart(params string[] overrides) =>
        new ExperimentRunner().Run(new ExperimentLoader(PluginCatalog.CreateDefault()).Load(Repo.Path("configs", "quickstart.json"), overrides));

    [Fact]
    public void QuickstartCountsEveryRecordOfTheRecordedTrace()
    {
        var r = RunQuickstart();
        Assert.Equal(RunResult.Completed, r.Status);
        // 1,016,853 records + 2,884 M records counted twice + 762 records straddling a page boundary (configs/traces/README.md).
        Assert.Equal(1_016_853 + 2_884 + 762, r.Metrics["accesses"]);
        Assert.Equal(r.Metrics["accesses"], r.Metrics["tlb.hits"] + r.Metrics["tlb.misses"]);
        Assert.Equal(4 * r.Metrics["walk.count"] - MissingLevels(r), r.Metrics["walk.memrefs"]);
    }

    [Fact]
    public void QuickstartTouches317PagesEachFaultingOnceForItsFirstTouch()
    {
        var r = RunQuickstart("machine:faultHandlers:1:options:zeroPage=false");
        Assert.Equal(317, r.Metrics["faults.total"]);
        Assert.Equal(317, r.Metrics["faults.minor"]);
        Assert.Equal(317, r.Metrics["pages.allocated"]);
    }

    [Fact]
    public void SameConfigAndSeedGiveTheSameMetrics()
    {
        var a = RunQuickstart();
        var b = RunQuickstart();
        Assert.Equal(a.Metrics, b.Metrics);
    }

    [Fact]
    public void ResultRecordsResolvedConfigAndPluginVersions()
    {
        var r = RunQuickstart();
        var json = r.ToJson();
        foreach (var key in new[] { "name", "seed", "config", "plugins", "metrics", "elapsedSeconds", "status" })
            Assert.True(json.ContainsKey(key), key);
        Assert.Equal(64, json["config"]!["machine"]!["tlb"]!["options"]!["entries"]!.GetValue<int>());
        Assert.StartsWith("VmLab.Plugins.Tlb ", r.Plugins["fully-associative"]);
    }

    private static long MissingLevels(RunResult r) =>
        (r.Metrics["walk.count"] - r.Metrics["walk.memrefs.l1"]) + (r.Metrics["walk.count"] - r.Metrics["walk.memrefs.l2"]) + (r.Metrics["walk.count"] - r.Metrics["walk.memrefs.l3"]);
}
