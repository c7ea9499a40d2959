using VmLab.Abstractions.Plugins;
using VmLab.Host.Config;
using VmLab.Host.Plugins;
using VmLab.Host.Running;

namespace VmLab.Host.Tests.Plugins;

public sealed class FaultyPluginTests
{
    [Fact]
    public void APluginWhoseRegistrationThrowsIsReportedWithNameAndFolderWhileTheOthersLoad()
    {
        var catalog = PluginCatalog.CreateDefault();
        catalog.AddDirectory(TestPlugins.Directory); // every test plugin folder, the faulty ones among them

        string bad = TestPlugins.Folder("BadRegistration");
        var error = Assert.Single(catalog.Errors, e => e.Folder == bad);
        Assert.Contains("plugin VmLab.TestPlugins.BadRegistration", error.Message);
        Assert.Contains(bad, error.Message);
        Assert.Contains("registration deliberately fails", error.Message);

        Assert.NotNull(catalog.Find(PluginKind.FaultHandler, "throwing-handler"));
        Assert.NotNull(catalog.Find(PluginKind.FaultHandler, "json-old"));
        Assert.NotNull(catalog.Find(PluginKind.FaultHandler, "json-new"));
        Assert.NotNull(catalog.Find(PluginKind.Tlb, "fully-associative"));
    }

    [Fact]
    public void AComponentThatThrowsMidRunFailsTheRunWithItsNameAndStack()
    {
        using var dir = new TempDir();
        dir.File("t.lackey", " S 7fff0000,8\n S 7fff1000,8\n S 7fff2000,8\n");
        string config = dir.File("exp.json", $$"""
            {
              "pluginPaths": [ {{System.Text.Json.JsonSerializer.Serialize(TestPlugins.Folder("ThrowingHandler"))}} ],
              "machine": { "faultHandlers": [ { "plugin": "quiet-handler" }, { "plugin": "throwing-handler", "options": { "throwOnFault": 2 } }, { "plugin": "demand-zero" } ] },
              "workload": { "plugin": "lackey", "options": { "path": "t.lackey" } }
            }
            """);
        var result = new ExperimentRunner().Run(new ExperimentLoader(PluginCatalog.CreateDefault()).Load(config));

        Assert.Equal(RunResult.Failed, result.Status);
        // quiet-handler comes from the same assembly and ran first on every fault: only the thrower is blamed.
        Assert.StartsWith("plugin throwing-handler (machine:faultHandlers:1, VmLab.TestPlugins.ThrowingHandler) failed: System.InvalidOperationException: handler bug at 0x7fff1000",
            result.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("quiet-handler", result.Error);
        Assert.Contains("at VmLab.TestPlugins.ThrowingHandler.ThrowingHandler.Explode", result.Error); // the stack
        Assert.Equal(1, result.Metrics["faults.demand_zero"]); // the first fault was handled before the second threw
    }

    [Fact]
    public void ABadVictimFromAReplacementPolicyIsBlamedOnThePolicyNotOnTheFaultHandlerThatAllocated()
    {
        using var dir = new TempDir();
        dir.File("t.lackey", string.Concat(Enumerable.Range(0, 12).Select(i => $" S {0x7fff0000 + i * 0x1000:x},8\n")));
        string config = dir.File("exp.json", $$"""
            {
              "pluginPaths": [ {{System.Text.Json.JsonSerializer.Serialize(TestPlugins.Folder("ThrowingHandler"))}} ],
              "machine": { "memory": { "frames": 64, "userFrames": 4 }, "replacement": { "plugin": "lying-policy" } },
              "workload": { "plugin": "lackey", "options": { "path": "t.lackey" } }
            }
            """);
        var result = new ExperimentRunner().Run(new ExperimentLoader(PluginCatalog.CreateDefault()).Load(config));

        Assert.Equal(RunResult.Failed, result.Status);
        Assert.StartsWith("plugin lying-policy (machine:replacement, VmLab.TestPlugins.ThrowingHandler) failed: VmLab.Core.PluginContractException: the replacement policy chose frame 0, which is not a reclaim candidate",
            result.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("plugin demand-zero", result.Error);
    }

    [Fact]
    public void AReferenceCountBugInAHandlerStopsTheRunWithTheInvariantTheFrameAndTheFaultWhenInvariantsAreChecked()
    {
        using var dir = new TempDir();
        dir.File("t.lackey", " S 7fff0000,8\n S 7fff1000,8\n");
        string config = dir.File("exp.json", $$"""
            {
              "pluginPaths": [ {{System.Text.Json.JsonSerializer.Serialize(TestPlugins.Folder("ThrowingHandler"))}} ],
              "machine": { "memory": { "frames": 64 }, "faultHandlers": [ { "plugin": "leaky-handler" } ] },
              "workload": { "plugin": "lackey", "options": { "path": "t.lackey" } }
            }
            """);
        RunResult Run(params string[] overrides) =>
            new ExperimentRunner().Run(new ExperimentLoader(PluginCatalog.CreateDefault()).Load(config, overrides));

        // Without the checker the bug is silent: the run completes.
        Assert.Equal(RunResult.Completed, Run().Status);

        var result = Run("machine:checks:invariants=true");
        Assert.Equal(RunResult.Failed, result.Status);
        // Frames go lowest first: 1 is the process's top-level table, 2 the first page the handler maps.
        Assert.StartsWith("invariant ref-count violated: frame 2 has reference count 2, but 1 leaf entries hold it; "
            + "last operations that touched it: #1 fault pid 0 [0x7fff0000-0x7fff1000) Write User cpu 0 -> Retry", result.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", result.Error); // a finding, not a stack trace
        Assert.Equal(1, result.Metrics["faults.total"]); // stopped at the first fault
    }
}
