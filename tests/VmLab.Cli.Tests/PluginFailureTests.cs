using System.Text.Json;
using System.Text.Json.Nodes;

namespace VmLab.Cli.Tests;

/// <summary>Faulty and incompatible plugins seen through the command line (test plugins from tests/TestPlugins).</summary>
public sealed class PluginFailureTests
{
    private static string TestPlugin(string name) => Path.Combine(AppContext.BaseDirectory, "testplugins", "VmLab.TestPlugins." + name);

    private static string Config(Scratch s, string pluginFolder, string machine)
    {
        s.File("t.lackey", " S 7fff0000,8\n S 7fff1000,8\n");
        return s.File("exp.json", $$"""
            {
              "name": "faulty",
              "pluginPaths": [ {{JsonSerializer.Serialize(pluginFolder)}} ],
              "machine": {{machine}},
              "workload": { "plugin": "lackey", "options": { "path": "t.lackey" } }
            }
            """);
    }

    [Fact]
    public void AComponentThatThrowsFailsTheRunWithExitOneAndTheStackInJsonNotTheProcess()
    {
        using var s = new Scratch();
        string config = Config(s, TestPlugin("ThrowingHandler"),
            """{ "faultHandlers": [ { "plugin": "throwing-handler", "options": { "throwOnFault": 2 } }, { "plugin": "demand-zero" } ] }""");

        var r = Cli.RunProcess("run", config, "--json", "-");

        Assert.Equal(1, r.ExitCode);
        var json = JsonNode.Parse(r.Stdout)!.AsObject();
        Assert.Equal("failed", json["status"]!.GetValue<string>());
        string error = json["error"]!.GetValue<string>();
        Assert.StartsWith("plugin throwing-handler (machine:faultHandlers:0, VmLab.TestPlugins.ThrowingHandler) failed: System.InvalidOperationException", error, StringComparison.Ordinal);
        Assert.Contains("at VmLab.TestPlugins.ThrowingHandler.ThrowingHandler.Handle", error);
        Assert.Equal(1, json["metrics"]!["faults.demand_zero"]!.GetValue<long>()); // what ran before the failure is kept
        Assert.Contains("error: run faulty failed: plugin throwing-handler", r.Stderr);
        Assert.DoesNotContain("Unhandled exception", r.Stderr);
    }

    [Fact]
    public void UsingAPluginBuiltAgainstAnotherContractIsBadInputSayingWhy()
    {
        using var s = new Scratch();
        string config = Config(s, TestPlugin("FutureContract"), """{ "tlb": { "plugin": "future-tlb" } }""");

        var r = Cli.Run("run", config);

        Assert.Equal(2, r.ExitCode);
        Assert.Contains("machine:tlb:plugin: tlb plugin 'future-tlb' is unavailable", r.Stderr);
        Assert.Contains($"built against VmLab.Abstractions 2.0.0.0 but this vmlab has {typeof(VmLab.Abstractions.Plugins.IPluginModule).Assembly.GetName().Version}", r.Stderr);
        Assert.Equal("", r.Stdout);
    }

    [Fact]
    public void PluginsListWarnsAboutRefusedAndBrokenFoldersAndListsTheRest()
    {
        var r = Cli.RunProcessWithEnvironment(new() { ["VMLAB_PLUGIN_PATH"] = Path.Combine(AppContext.BaseDirectory, "testplugins") }, "plugins");

        Assert.Equal(0, r.ExitCode);
        Assert.Contains($"warning: {TestPlugin("FutureContract")}: plugin VmLab.TestPlugins.FutureContract in {TestPlugin("FutureContract")} is refused", r.Stderr);
        Assert.Contains($"warning: {TestPlugin("BadRegistration")}: plugin VmLab.TestPlugins.BadRegistration in {TestPlugin("BadRegistration")} failed to register: InvalidOperationException", r.Stderr);
        Assert.Contains("throwing-handler", r.Stdout);
        Assert.Contains("throwOnFault = 1  (an integer) The fault (1-based) on which the handler throws", r.Stdout);
        // An option with no [Description] is described by its XML doc summary, whitespace collapsed, cref as a name.
        Assert.Contains("message = \"handler bug\"  (a string) What the exception says (documented only in XML, to show ThrowingHandlerOptions descriptions come from doc comments too).", r.Stdout);
        Assert.Contains("json-old", r.Stdout);
        Assert.Contains("x86-64", r.Stdout);
        Assert.DoesNotContain("future-tlb", r.Stdout);
    }

    [Fact]
    public void KindIsAnyRegisteredExtensionPointIncludingOneAPluginDefines()
    {
        var env = new Dictionary<string, string> { ["VMLAB_PLUGIN_PATH"] = TestPlugin("ExtensionPoint") };
        var r = Cli.RunProcessWithEnvironment(env, "plugins", "--kind", "prefetcher");
        Assert.Equal(0, r.ExitCode);
        Assert.StartsWith("prefetcher:", r.Stdout);
        Assert.Contains("next-line", r.Stdout);
        Assert.Contains("degree = 1", r.Stdout);
        Assert.DoesNotContain("fully-associative", r.Stdout);
        Assert.Contains("which no one registered; did you mean 'prefetcher'?", r.Stderr);

        var typo = Cli.RunProcessWithEnvironment(env, "plugins", "--kind", "prefetchr");
        Assert.Equal(2, typo.ExitCode);
        Assert.Contains("unknown kind 'prefetchr'; did you mean 'prefetcher'? allowed: page-table, tlb, replacement, fault-handler, signals, workload, device, trace-format, timing, cache, prefetcher", typo.Stderr);
    }
}

public sealed class VersionTests
{
    [Fact]
    public void VersionNamesThePluginContractVersion()
    {
        var r = Cli.Run("--version");
        Assert.Equal(0, r.ExitCode);
        Assert.Matches(@"^vmlab \S+ \(plugin contract VmLab\.Abstractions \d+\.\d+\.\d+\.\d+\)\s*$", r.Stdout);
        Assert.Contains(typeof(VmLab.Abstractions.Plugins.IPluginModule).Assembly.GetName().Version!.ToString(), r.Stdout);
    }
}
