using System.Text.RegularExpressions;
using VmLab.Abstractions.Plugins;
using VmLab.Host.Config;
using VmLab.Host.Plugins;
using VmLab.Host.Running;

namespace VmLab.Host.Tests.Plugins;

/// <summary>
/// The plugin template, for every kind, as a plugin author uses it outside the checkout: the VmLab.Abstractions and
/// VmLab.Testing packages packed into a folder, a project made from the template against that folder, its own tests
/// run, and the five plugins it built loaded from their folders into one machine that runs.
/// </summary>
[Collection(DotnetBuildCollection.Name)]
public sealed partial class PluginTemplateTests
{
    private static readonly (string Kind, string Project, PluginKind PluginKind)[] Kinds =
    [
        ("replacement", "QueuePolicy", PluginKind.Replacement),
        ("tlb", "LfuTlb", PluginKind.Tlb),
        ("page-table", "FourLevelTable", PluginKind.PageTable),
        ("fault-handler", "FreshFrames", PluginKind.FaultHandler),
        ("workload", "StrideSweep", PluginKind.Workload),
    ];

    [GeneratedRegex("""<VmLabVersion Condition="[^"]*">([0-9.]+)</VmLabVersion>""")]
    private static partial Regex TemplateVersion();

    [Fact]
    public void TheTemplateNamesTheContractVersionAsThePackagesVersion()
    {
        string props = File.ReadAllText(Repo.Path("templates", "vmlab-plugin", "Directory.Build.props"));
        var contract = PluginCatalog.ContractVersion;
        Assert.Equal($"{contract.Major}.{contract.Minor}.{contract.Build}", TemplateVersion().Match(props).Groups[1].Value);
    }

    [Fact]
    public void EveryKindOfTheTemplateBuildsAgainstThePackagesPassesItsTestsAndRunsInAMachine()
    {
        using var dir = new TempDir();
        string feed = Path.Combine(dir.PathName, "feed");
        string hive = Path.Combine(dir.PathName, "hive"); // a private template store: the user's is left alone
        string work = Path.Combine(dir.PathName, "work");
        // A version of its own, so no package a previous build left in NuGet's global cache stands in for this one.
        string version = $"{PluginCatalog.ContractVersion.Major}.{PluginCatalog.ContractVersion.Minor}.{PluginCatalog.ContractVersion.Build}-test.{Guid.NewGuid():N}";

        // Built in a folder of its own (--artifacts-path), so it races no other build of the checkout.
        try
        {
            RunEveryKind(dir.PathName, feed, hive, work, version);
        }
        finally
        {
            // The test's own package versions leave NuGet's global cache with it.
            string cache = Environment.GetEnvironmentVariable("NUGET_PACKAGES")
                           ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
            foreach (var id in new[] { "vmlab.abstractions", "vmlab.testing" })
            {
                string cached = Path.Combine(cache, id, version.ToLowerInvariant());
                if (Directory.Exists(cached)) Directory.Delete(cached, recursive: true);
            }
        }
    }

    private static void RunEveryKind(string root, string feed, string hive, string work, string version)
    {
        DotnetCli.Run(Repo.Root, "pack", "VmLab.Packages.slnf", "-c", "Release", "-o", feed, "--artifacts-path", Path.Combine(root, "build"),
                      "-v", "q", "-nologo", $"-p:PackageVersion={version}");
        DotnetCli.Run(root, "new", "install", Repo.Path("templates", "vmlab-plugin"), "--debug:custom-hive", hive);
        foreach (var (kind, project, _) in Kinds)
            DotnetCli.Run(root, "new", "vmlab-plugin", "--kind", kind, "-n", project, "-o", Path.Combine(work, project), "--feed", feed, "--debug:custom-hive", hive);

        // One solution over the five, so one restore and one build serve them all.
        File.WriteAllText(Path.Combine(work, "All.slnx"),
            "<Solution>\n" + string.Concat(Kinds.Select(k =>
                $"  <Project Path=\"{k.Project}/src/{k.Project}/{k.Project}.csproj\" />\n  <Project Path=\"{k.Project}/tests/{k.Project}.Tests/{k.Project}.Tests.csproj\" />\n")) + "</Solution>\n");
        // Every project's nuget.config names the feed; the solution folder needs it too for one restore.
        File.Copy(Path.Combine(work, Kinds[0].Project, "nuget.config"), Path.Combine(work, "nuget.config"));
        DotnetCli.Run(work, "test", "All.slnx", "-v", "q", "-nologo", $"-p:VmLabVersion={version}");

        var machine = new List<string>();
        var plugins = Path.Combine(root, "plugins");
        var catalog = PluginCatalog.CreateDefault();
        foreach (var (_, project, pluginKind) in Kinds)
        {
            string output = Path.Combine(work, project, "src", project, "bin", "Debug", "net10.0");
            Assert.False(File.Exists(Path.Combine(output, "VmLab.Abstractions.dll")), "a plugin must share the host's Abstractions");
            catalog.AddDirectory(output);
            var found = catalog.Find(pluginKind, StrictBinder.KebabCase(project));
            Assert.True(found is not null, $"{pluginKind} {StrictBinder.KebabCase(project)} not found; errors: {string.Join("; ", catalog.Errors)}");
            Assert.Equal(PluginCatalog.ContractVersion, found!.ContractVersion);
            CopyDirectory(output, Path.Combine(plugins, project));
        }
        Assert.Empty(catalog.Errors);

        string config = Path.Combine(root, "all.json");
        File.WriteAllText(config, """
            {
              "name": "template-plugins",
              "seed": 1,
              "pluginPaths": [ "plugins" ],
              "machine": {
                "memory": { "frames": 4096, "swapSlots": 4096, "userFrames": 64 },
                "pageTable": { "plugin": "four-level-table" },
                "tlb": { "plugin": "lfu-tlb", "options": { "entries": 16 } },
                "faultHandlers": [ { "plugin": "cow" }, { "plugin": "fresh-frames" }, { "plugin": "demand-zero" } ],
                "replacement": { "plugin": "queue-policy" },
                "signals": { "plugin": "posix" }
              },
              "workload": { "plugin": "stride-sweep", "options": { "pages": 100, "passes": 3, "stride": 7, "writePercent": 25 } }
            }
            """);
        var result = new ExperimentRunner().Run(new ExperimentLoader(PluginCatalog.CreateDefault()).Load(config));
        Assert.True(result.Status == RunResult.Completed, result.Error);
        var m = result.Metrics;
        Assert.Equal(300, m["accesses"]);
        // 100 pages through 64 frames under FIFO, swept three times: every access misses the TLB and faults; the
        // first sweep's 100 are first touches (the template's handler, not demand-zero), the other 200 swap-ins.
        Assert.Equal((300L, 100L, 0L, 200L), (m["tlb.misses"], m["faults.fresh-frames.reads"] + m["faults.fresh-frames.writes"], m["faults.demand_zero"], m["faults.swap_in"]));
        Assert.True(m["tlb.lfu_evictions"] > 0);
        Assert.True(m["walk.memrefs"] > 4 * 300 - 10, "the page table walks four levels");
    }

    private static void CopyDirectory(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var file in Directory.GetFiles(from)) File.Copy(file, Path.Combine(to, Path.GetFileName(file)));
    }
}
