using VmLab.Abstractions.Plugins;
using VmLab.Host.Config;
using VmLab.Host.Plugins;
using VmLab.Host.Running;

namespace VmLab.Host.Tests.Plugins;

/// <summary>The kernel's own fault handlers are catalog components: listed, nameable in JSON, placed where named.</summary>
public sealed class BuiltInFaultHandlerTests
{
    private static RunResult Run(params string[] overrides) =>
        new ExperimentRunner().Run(new ExperimentLoader(PluginCatalog.CreateDefault()).Load(Repo.Path("configs", "paging-limited.json"),
            ["machine:memory:userFrames=64", "machine:replacement:plugin=lru", .. overrides]));

    [Fact]
    public void TheCatalogListsTheKernelsBuiltInHandlersAsFaultHandlers()
    {
        var catalog = PluginCatalog.CreateDefault();
        foreach (var name in new[] { "swap-in", "accessed-dirty", "device-trap", "dirty-log", "fault-around" })
        {
            var info = catalog.Find(PluginKind.FaultHandler, name);
            Assert.NotNull(info);
            Assert.Equal(PluginCatalog.BuiltInOrigin, info.Folder);
        }
    }

    [Fact]
    public void NamingTheBuiltInsAfterTheHandlersThatNeverClaimTheirFaultsKeepsEveryCount()
    {
        var plain = Run();
        Assert.True(plain.Status == RunResult.Completed, plain.Error);
        Assert.True(plain.Metrics["faults.swap_in"] > 0); // the run swaps: swap-in is exercised
        // The built-ins named after cow and demand-zero (which decline swap entries): swap-in now runs last in its
        // stage, accessed-dirty still in its own, earlier stage.
        var named = Run(
            "machine:faultHandlers:2:plugin=accessed-dirty", "machine:faultHandlers:3:plugin=device-trap",
            "machine:faultHandlers:4:plugin=dirty-log", "machine:faultHandlers:5:plugin=swap-in");
        Assert.True(named.Status == RunResult.Completed, named.Error);
        Assert.Equal(plain.Metrics, named.Metrics);
        Assert.Contains("swap-in", named.Plugins.Keys);
    }
}
