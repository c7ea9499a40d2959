using System.Text.Json;

namespace VmLab.Cli.Tests;

/// <summary>
/// samples/UserfaultfdHandler: a fault handler built against VmLab.Abstractions only, acting before the access check and
/// keeping its own per-VMA state, loaded through VMLAB_PLUGIN_PATH by the vmlab command built with these tests (this
/// project references it, so the command and its built-in plugins are complete before any test here runs).
/// </summary>
public sealed class UserfaultfdSampleTests
{
    [Fact]
    public void TheOutOfTreeHandlerLoadsThroughVmlabPluginPathAndServesMissingPagesOfItsRangeOnly()
    {
        string output = Cli.BuildSample("UserfaultfdHandler");
        string experiment = Cli.Repo("samples", "UserfaultfdHandler", "experiment.json");

        // Without the plugin folder the handler's name is unknown: exit 2, naming the key and no other.
        var missing = Cli.RunProcessWithEnvironment(new() { ["VMLAB_PLUGIN_PATH"] = "" }, "run", experiment);
        Assert.Equal(2, missing.ExitCode);
        Assert.Contains("unknown fault-handler plugin 'uffd-missing'", missing.Stderr);
        Assert.Single(missing.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries), l => l.StartsWith("error:"));

        var r = Cli.RunProcessWithEnvironment(new() { ["VMLAB_PLUGIN_PATH"] = output }, "run", experiment, "--json", "-");
        Assert.True(r.ExitCode == 0, r.Stdout + r.Stderr);
        using var json = JsonDocument.Parse(r.Stdout);
        var metrics = json.RootElement.GetProperty("metrics");
        Assert.Equal(3, metrics.GetProperty("uffd.missing").GetInt64());          // a+2p, a+3p, the parent's a+4p
        Assert.Equal(1, metrics.GetProperty("uffd.registered_vmas").GetInt64());  // one VMA registered, split by mprotect later
        Assert.Equal(1, metrics.GetProperty("signals.sigsegv").GetInt64());       // the forbidden write still faults
        Assert.StartsWith("UserfaultfdHandler ", json.RootElement.GetProperty("plugins").GetProperty("uffd-missing").GetString());
    }
}
