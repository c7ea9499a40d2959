using System.Text.Json.Nodes;

namespace VmLab.Cli.Tests;

public sealed class RunCommandTests
{
    private static readonly string Quickstart = Cli.Repo("configs", "quickstart.json");

    [Fact]
    public void QuickstartPrintsAccessesTlbWalksAndFaults()
    {
        var r = Cli.Run("run", Quickstart);
        Assert.Equal(0, r.ExitCode);
        foreach (var metric in new[] { "accesses", "tlb.hits", "tlb.misses", "walk.count", "walk.memrefs", "faults.total", "faults.minor" })
            Assert.Matches($@"(?m)^\s+{metric.Replace(".", @"\.")}\s+[\d,]+$", r.Stdout);
        Assert.Contains("1,020,499", r.Stdout); // accesses of the recorded trace
        Assert.Equal("", r.Stderr);
    }

    [Fact]
    public void TheTableSaysWhichOverridesWereAppliedAndNothingWhenNone()
    {
        var r = Cli.Run("run", Quickstart, "--set", "machine:tlb:options:entries=32", "--set", "seed=7");
        Assert.Equal(0, r.ExitCode);
        var lines = r.Stdout.Split('\n');
        Assert.StartsWith("quickstart-ls (seed 7) completed", lines[0]);
        Assert.Equal("  with --set machine:tlb:options:entries=32 --set seed=7", lines[1]);
        Assert.DoesNotContain("with --set", Cli.Run("run", Quickstart).Stdout);
        // A scenario's #! header lines are overrides too.
        string scenario = Cli.Repo("configs", "scenarios", "fork-enomem.vms");
        string header = File.ReadLines(scenario).First(l => l.StartsWith("#! --set ", StringComparison.Ordinal));
        Assert.Contains(header["#! ".Length..], Cli.Run("run", scenario).Stdout.Split('\n')[1]);
    }

    [Fact]
    public void JsonToStdoutIsOneObjectWithTheContractKeys()
    {
        var r = Cli.Run("run", Quickstart, "--json", "-", "--set", "machine:tlb:options:entries=32");
        Assert.Equal(0, r.ExitCode);
        var json = JsonNode.Parse(r.Stdout)!.AsObject();
        foreach (var key in new[] { "name", "seed", "config", "plugins", "metrics", "elapsedSeconds", "status" })
            Assert.True(json.ContainsKey(key), key);
        Assert.Equal(32, json["config"]!["machine"]!["tlb"]!["options"]!["entries"]!.GetValue<int>());
        Assert.Equal("completed", json["status"]!.GetValue<string>());
        Assert.Equal(1_020_499, json["metrics"]!["accesses"]!.GetValue<long>());
    }

    [Fact]
    public void SmallerTlbMissesMoreOnTheSameTrace()
    {
        long Misses(int entries) => JsonNode.Parse(Cli.Run("run", Quickstart, "--json", "-", "--set", $"machine:tlb:options:entries={entries}").Stdout)!["metrics"]!["tlb.misses"]!.GetValue<long>();
        Assert.True(Misses(8) > Misses(64));
    }

    [Fact]
    public void JsonAndCsvFilesAreWritten()
    {
        using var s = new Scratch();
        var r = Cli.Run("run", Quickstart, "--json", s.PathOf("r.json"), "--csv", s.PathOf("r.csv"));
        Assert.Equal(0, r.ExitCode);
        Assert.Equal("quickstart-ls", JsonNode.Parse(File.ReadAllText(s.PathOf("r.json")))!["name"]!.GetValue<string>());
        var csv = File.ReadAllLines(s.PathOf("r.csv"));
        Assert.Equal("name,seed,status,metric,value", csv[0]);
        Assert.Contains("quickstart-ls,1,completed,accesses,1020499", csv);
    }

    [Fact]
    public void CheckValidatesWithoutRunning()
    {
        var r = Cli.Run("check", Quickstart);
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("ok", r.Stdout);
        Assert.DoesNotContain("accesses", r.Stdout);
    }

    [Fact]
    public void PluginsListsEveryBuiltInWithItsOptionsAndDefaults()
    {
        var r = Cli.Run("plugins");
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("x86-64", r.Stdout);
        Assert.Contains("levels = 4", r.Stdout);
        Assert.Contains("entries = 64", r.Stdout);
        Assert.Contains("zeroPage = true", r.Stdout);
        Assert.Contains("demand-zero", r.Stdout);
        Assert.Contains("cow", r.Stdout);
        Assert.Contains("posix", r.Stdout);
        Assert.Contains("lackey", r.Stdout);
    }

    [Fact]
    public void PluginsKindFilterShowsOnlyThatKind()
    {
        var r = Cli.Run("plugins", "--kind", "tlb");
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("fully-associative", r.Stdout);
        Assert.DoesNotContain("lackey", r.Stdout);
    }
}

public sealed class PluginDocsTests
{
    [Fact]
    public void DocsPluginsMdIsTheCurrentGeneratedListing()
    {
        var r = Cli.Run("plugins", "--markdown");
        Assert.Equal(0, r.ExitCode);
        string committed = File.ReadAllText(Cli.Repo("docs", "plugins.md"));
        Assert.True(committed == r.Stdout,
            "docs/plugins.md is out of date: regenerate it with `dotnet run --project src/VmLab.Cli -- plugins --markdown > docs/plugins.md`");
    }
}
