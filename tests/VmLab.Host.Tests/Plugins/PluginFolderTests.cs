using System.Diagnostics;
using VmLab.Abstractions.Plugins;
using VmLab.Host.Config;
using VmLab.Host.Plugins;
using VmLab.Host.Running;

namespace VmLab.Host.Tests.Plugins;

[Collection(DotnetBuildCollection.Name)]
public sealed class PluginFolderTests
{
    [Fact]
    public void BuiltInPluginsAreFoundBesideTheHost()
    {
        var catalog = PluginCatalog.CreateDefault();
        Assert.Empty(catalog.Errors);
        Assert.NotNull(catalog.Find(PluginKind.PageTable, "x86-64"));
        Assert.NotNull(catalog.Find(PluginKind.Tlb, "fully-associative"));
        Assert.NotNull(catalog.Find(PluginKind.FaultHandler, "demand-zero"));
        Assert.NotNull(catalog.Find(PluginKind.FaultHandler, "cow"));
        Assert.NotNull(catalog.Find(PluginKind.Signals, "posix"));
        Assert.NotNull(catalog.Find(PluginKind.Workload, "lackey"));
    }

    [Fact]
    public void AFolderOfAssembliesWithoutADepsFileIsWarnedAboutNotPassedOverInSilence()
    {
        using var dir = new TempDir();
        string folder = Path.Combine(dir.PathName, "MyTlb");
        Directory.CreateDirectory(folder);
        // An assembly copied without its .deps.json, as a hand-made plugin folder often is.
        File.Copy(typeof(IPluginModule).Assembly.Location, Path.Combine(folder, "MyTlb.dll"));
        var catalog = PluginCatalog.CreateDefault();
        int before = catalog.Errors.Count;
        catalog.AddDirectory(dir.PathName);
        var warning = Assert.Single(catalog.Errors.Skip(before));
        Assert.Equal(folder, warning.Folder);
        Assert.Contains("holds 1 assembly but no .deps.json, so no plugin in it was loaded", warning.Message);
        Assert.Contains("MyTlb.deps.json", warning.Message);
    }

    [Fact]
    public void APluginProjectBuiltSeparatelyLoadsFromItsFolderAndRuns()
    {
        using var dir = new TempDir();
        string project = Repo.Path("tests", "TestPlugins", "VmLab.TestPlugins.CountingTlb");
        var build = Process.Start(new ProcessStartInfo("dotnet", ["build", project, "-c", "Debug", "-v", "q", "-nologo"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        string log = build.StandardOutput.ReadToEnd() + build.StandardError.ReadToEnd();
        build.WaitForExit();
        Assert.True(build.ExitCode == 0, log);

        // Drop the built folder into a plugin directory, as a user would.
        string output = Path.Combine(dir.PathName, "plugins", "VmLab.TestPlugins.CountingTlb");
        Directory.CreateDirectory(output);
        foreach (var file in Directory.GetFiles(Path.Combine(project, "bin", "Debug", "net10.0")))
            File.Copy(file, Path.Combine(output, Path.GetFileName(file)));
        Assert.False(File.Exists(Path.Combine(output, "VmLab.Abstractions.dll")), "the plugin must share the host's Abstractions");

        string trace = dir.File("t.lackey", " S 7fff0000,8\n L 7fff0000,8\n L 7fff0008,8\n");
        string config = dir.File("exp.json", """
            {
              "pluginPaths": [ "plugins" ],
              "machine": { "tlb": { "plugin": "no-tlb", "options": { "counter": "test.lookups" } } },
              "workload": { "plugin": "lackey", "options": { "path": "t.lackey" } }
            }
            """);
        var experiment = new ExperimentLoader(PluginCatalog.CreateDefault()).Load(config);
        var result = new ExperimentRunner().Run(experiment);

        Assert.Equal(RunResult.Completed, result.Status);
        Assert.Equal(3, result.Metrics["test.lookups"]);
        Assert.Equal(3, result.Metrics["tlb.misses"]); // a TLB that caches nothing: every access walks
        Assert.StartsWith("VmLab.TestPlugins.CountingTlb", result.Plugins["no-tlb"]);
    }

    [Fact]
    public void AMissingPluginPathIsAConfigErrorAtItsKey()
    {
        using var dir = new TempDir();
        dir.File("t.lackey", " L 1000,8\n");
        string config = dir.File("exp.json", """{ "pluginPaths": [ "nowhere" ], "workload": { "plugin": "lackey", "options": { "path": "t.lackey" } } }""");
        var e = Assert.Throws<ConfigException>(() => new ExperimentLoader(PluginCatalog.CreateDefault()).Load(config));
        Assert.Contains(e.Errors, x => x.Message.StartsWith("pluginPaths:0: plugin directory not found", StringComparison.Ordinal));
    }
}
