using VmLab.Abstractions.Plugins;
using VmLab.Host.Config;
using VmLab.Host.Plugins;
using VmLab.Host.Running;

namespace VmLab.Host.Tests.Plugins;

public sealed class PluginIsolationTests
{
    [Fact]
    public void TwoPluginsWithDifferentVersionsOfOneLibraryEachSeeTheirOwn()
    {
        var catalog = PluginCatalog.CreateDefault();
        catalog.AddDirectory(TestPlugins.Folder("JsonOld"));
        catalog.AddDirectory(TestPlugins.Folder("JsonNew"));
        Assert.Empty(catalog.Errors);
        // Each registration describes the Newtonsoft.Json its own load context resolved, at registration time.
        Assert.Contains("Newtonsoft.Json 12.0.0.0", catalog.Find(PluginKind.FaultHandler, "json-old")!.Registration.Description);
        Assert.Contains("Newtonsoft.Json 13.0.0.0", catalog.Find(PluginKind.FaultHandler, "json-new")!.Registration.Description);
    }

    [Fact]
    public void TwoPluginsWithDifferentVersionsOfOneLibraryRunSideBySideInOneMachine()
    {
        using var dir = new TempDir();
        dir.File("t.lackey", " S 7fff0000,8\n L 7fff0000,8\n");
        string config = dir.File("exp.json", $$"""
            {
              "pluginPaths": [ {{Json(TestPlugins.Folder("JsonOld"))}}, {{Json(TestPlugins.Folder("JsonNew"))}} ],
              "machine": { "faultHandlers": [ { "plugin": "json-old" }, { "plugin": "json-new" }, { "plugin": "cow" }, { "plugin": "demand-zero" } ] },
              "workload": { "plugin": "lackey", "options": { "path": "t.lackey" } }
            }
            """);
        var result = new ExperimentRunner().Run(new ExperimentLoader(PluginCatalog.CreateDefault()).Load(config));

        Assert.Equal(RunResult.Completed, result.Status);
        Assert.Equal(12, result.Metrics["json-old.newtonsoft.major"]);
        Assert.Equal(13, result.Metrics["json-new.newtonsoft.major"]);
        Assert.Equal(1, result.Metrics["faults.demand_zero"]); // both declined the one fault; the chain went on
    }

    private static string Json(string s) => System.Text.Json.JsonSerializer.Serialize(s);
}
