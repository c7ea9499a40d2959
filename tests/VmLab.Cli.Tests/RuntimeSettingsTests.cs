using System.Text.Json.Nodes;

namespace VmLab.Cli.Tests;

/// <summary>The command's runtime settings that docs/performance.md measured, in the runtimeconfig every build writes.</summary>
public sealed class RuntimeSettingsTests
{
    [Fact]
    public void TheCommandRunsWithTheMeasuredJitGcAndGlobalizationSettings()
    {
        string configuration = Path.GetFileName(Path.GetDirectoryName(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar))!);
        string file = Cli.Repo("src", "VmLab.Cli", "bin", configuration, "net10.0", "vmlab.runtimeconfig.json");
        Assert.True(File.Exists(file), $"{file} not found");
        var properties = JsonNode.Parse(File.ReadAllText(file))!["runtimeOptions"]!["configProperties"]!;

        Assert.Equal(4096, properties["System.Runtime.TieredCompilation.CallCountThreshold"]!.GetValue<int>());
        Assert.False(properties["System.Runtime.CompilerServices.RuntimeFeature.IsDynamicCodeSupported"]!.GetValue<bool>());
        Assert.False(properties["System.GC.Concurrent"]!.GetValue<bool>());
        Assert.True(properties["System.Globalization.Invariant"]!.GetValue<bool>());
    }
}
