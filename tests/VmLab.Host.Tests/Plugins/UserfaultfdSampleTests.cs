using System.Diagnostics;

namespace VmLab.Host.Tests.Plugins;

/// <summary>
/// samples/UserfaultfdHandler: a fault handler built against VmLab.Abstractions only, acting before the access check and
/// keeping its own per-VMA state, loaded through VMLAB_PLUGIN_PATH by the real vmlab command.
/// </summary>
[Collection(DotnetBuildCollection.Name)]
public sealed class UserfaultfdSampleTests
{
    private static (int Code, string Stdout, string Stderr) Vmlab(Dictionary<string, string> environment, params string[] args)
    {
        // The vmlab command built with the tests (same configuration).
        string configuration = AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}") ? "Release" : "Debug";
        string cli = Repo.Path("src", "VmLab.Cli", "bin", configuration, "net10.0", "vmlab.dll");
        var psi = new ProcessStartInfo("dotnet", [cli, .. args]) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var (k, v) in environment) psi.Environment[k] = v;
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        string output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, output, err.Result);
    }

    [Fact]
    public void TheOutOfTreeHandlerLoadsThroughVmlabPluginPathAndServesMissingPagesOfItsRangeOnly()
    {
        string project = Repo.Path("samples", "UserfaultfdHandler");
        DotnetCli.Run(Repo.Root, "build", project, "-c", "Debug", "-v", "q", "-nologo");
        string output = Path.Combine(project, "bin", "Debug", "net10.0");
        string experiment = Path.Combine(project, "experiment.json");

        // Without the plugin folder the handler's name is unknown: exit 2, naming the key.
        var missing = Vmlab(new() { ["VMLAB_PLUGIN_PATH"] = "" }, "run", experiment);
        Assert.Equal(2, missing.Code);
        Assert.Contains("uffd-missing", missing.Stderr);

        var r = Vmlab(new() { ["VMLAB_PLUGIN_PATH"] = output }, "run", experiment, "--json", "-");
        Assert.True(r.Code == 0, r.Stdout + r.Stderr);
        using var json = System.Text.Json.JsonDocument.Parse(r.Stdout);
        var metrics = json.RootElement.GetProperty("metrics");
        Assert.Equal(3, metrics.GetProperty("uffd.missing").GetInt64());          // a+2p, a+3p, the parent's a+4p
        Assert.Equal(1, metrics.GetProperty("uffd.registered_vmas").GetInt64());  // one VMA registered, split by mprotect later
        Assert.Equal(1, metrics.GetProperty("signals.sigsegv").GetInt64());       // the forbidden write still faults
        Assert.StartsWith("UserfaultfdHandler ", json.RootElement.GetProperty("plugins").GetProperty("uffd-missing").GetString());
    }
}
