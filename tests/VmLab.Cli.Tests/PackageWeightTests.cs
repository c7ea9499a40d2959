using System.Text.Json.Nodes;

namespace VmLab.Cli.Tests;

/// <summary>
/// The command carries native libraries (SkiaSharp, HarfBuzz, SQLite) only for the common platforms
/// (build/VmLab.Runtimes.targets), which keeps the .NET tool package at about half its former size.
/// </summary>
public sealed class PackageWeightTests
{
    private static readonly string[] Kept =
        ["linux-x64", "linux-arm64", "linux-musl-x64", "linux-musl-arm64", "osx", "osx-x64", "osx-arm64", "win-x64", "win-arm64"];

    [Fact]
    public void TheCommandsDependenciesListNativeLibrariesOnlyForTheCommonPlatforms()
    {
        // The CLI's own build output, which this test project builds first; its deps.json is written by every build.
        string configuration = Path.GetFileName(Path.GetDirectoryName(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar))!);
        string deps = Cli.Repo("src", "VmLab.Cli", "bin", configuration, "net10.0", "vmlab.deps.json");
        Assert.True(File.Exists(deps), $"{deps} not found");

        var rids = new SortedSet<string>(StringComparer.Ordinal);
        var libraries = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var (_, target) in JsonNode.Parse(File.ReadAllText(deps))!["targets"]!.AsObject())
            foreach (var (library, entry) in target!.AsObject())
                if (entry?["runtimeTargets"] is JsonObject runtimeTargets)
                    foreach (var (file, asset) in runtimeTargets)
                    {
                        rids.Add(asset!["rid"]!.GetValue<string>());
                        libraries.Add(Path.GetFileName(file));
                    }

        Assert.Empty(rids.Except(Kept));
        // What the report and the results database need is still there for this machine's platform.
        Assert.Contains("linux-x64", rids);
        Assert.Contains("libSkiaSharp.so", libraries);
        Assert.Contains("libHarfBuzzSharp.so", libraries);
        Assert.Contains("libe_sqlite3.so", libraries);
    }
}
