using System.Text.Json.Nodes;

namespace VmLab.Cli.Tests;

/// <summary><c>vmlab mrc</c> through the command line: its outputs, its size syntax and its refusals.</summary>
public sealed class MrcCommandTests : IDisposable
{
    private readonly Scratch _s = new();

    public void Dispose() => _s.Dispose();

    private static string Quickstart => Cli.Repo("configs", "quickstart.json");

    [Fact]
    public void WritesTheSameCurveAsTableJsonCsvAndHtmlChart()
    {
        string json = _s.PathOf("c.json"), csv = _s.PathOf("c.csv"), html = _s.PathOf("c.html");
        var r = Cli.Run("mrc", Quickstart, "--sizes", "8,64", "--json", json, "--csv", csv, "--html", html);

        Assert.True(r.ExitCode == 0, r.Stderr);
        // tlb.misses of quickstart.json (64 entries) and of the same with 8 entries: docs/tlb.md and the exactness tests.
        Assert.Matches(@"\n\s+8\s+45,499\s+0\.044585", r.Stdout);
        Assert.Matches(@"\n\s+64\s+1,703\s+0\.001669", r.Stdout);
        var doc = JsonNode.Parse(File.ReadAllText(json))!;
        Assert.Equal("exact", (string?)doc["method"]);
        Assert.Equal(1_703, (double)doc["points"]![1]!["misses"]!);
        Assert.Equal(1_020_499, (long)doc["accesses"]!);
        static string Ratio(long misses) => (misses / 1_020_499.0).ToString("R", System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(["size,misses,miss_ratio", $"8,45499,{Ratio(45_499)}", $"64,1703,{Ratio(1_703)}"], File.ReadAllLines(csv));
        string page = File.ReadAllText(html);
        Assert.Contains("data:image/png;base64,", page);
        Assert.Contains("<td>45,499</td>", page);
    }

    [Fact]
    public void JsonToStdoutReplacesTheTable()
    {
        var r = Cli.Run("mrc", Quickstart, "--sizes", "64", "--json", "-");
        Assert.Equal(0, r.ExitCode);
        Assert.Equal(1_703, (double)JsonNode.Parse(r.Stdout)!["points"]![0]!["misses"]!);
    }

    [Theory]
    [InlineData(new[] { "--sizes", "4..16", "--step", "4" }, new long[] { 4, 8, 12, 16 })]
    [InlineData(new[] { "--sizes", "8..100", "--geometric", "2" }, new long[] { 8, 16, 32, 64, 100 })]
    [InlineData(new[] { "--sizes", "3..6" }, new long[] { 3, 4, 5, 6 })]
    [InlineData(new[] { "--sizes", "64,8,8,16" }, new long[] { 8, 16, 64 })]
    public void SizesAreARangeAStepAGeometricSeriesOrAList(string[] args, long[] sizes)
    {
        var r = Cli.Run(["mrc", Quickstart, .. args, "--json", "-"]);
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Equal(sizes, JsonNode.Parse(r.Stdout)!["points"]!.AsArray().Select(p => (long)p!["size"]!));
    }

    private CliResult RunBad(params string[] args)
    {
        string json = _s.PathOf("out.json");
        var r = Cli.Run(["mrc", .. args, "--json", json]);
        Assert.Equal(2, r.ExitCode);
        Assert.DoesNotContain("   at ", r.Stderr);
        Assert.DoesNotContain("Exception", r.Stderr);
        Assert.False(File.Exists(json), "nothing is written on bad input");
        return r;
    }

    [Theory]
    [InlineData("8..4", "the range ends below its start")]
    [InlineData("0..64", "'0' is not a whole number >= 1")]
    [InlineData("8..x", "'x' is not a whole number >= 1")]
    [InlineData("8,,16", "'' is not a whole number >= 1")]
    [InlineData("1..2000000", "more than 1,000,000 sizes")]
    public void BadSizesExitTwoSayingWhatIsAllowed(string sizes, string message)
    {
        var r = RunBad(Quickstart, "--sizes", sizes);
        Assert.Contains(message, r.Stderr);
        Assert.Contains("--sizes", r.Stderr);
    }

    [Fact]
    public void MissingSizesStepWithAListAndBothSeriesAreRefused()
    {
        Assert.Contains("mrc needs --sizes", RunBad(Quickstart).Stderr);
        Assert.Contains("go with a range", RunBad(Quickstart, "--sizes", "8,16", "--step", "2").Stderr);
        Assert.Contains("exclude each other", RunBad(Quickstart, "--sizes", "8..16", "--step", "2", "--geometric", "2").Stderr);
        Assert.Contains("--geometric expects a factor > 1", RunBad(Quickstart, "--sizes", "8..16", "--geometric", "1").Stderr);
        Assert.Contains("--sample-rate expects a rate in (0, 1]", RunBad(Quickstart, "--sizes", "8", "--sample-rate", "2").Stderr);
    }

    [Fact]
    public void AnExactCurveForAPolicyOtherThanLruExitsTwo()
    {
        var r = RunBad(Quickstart, "--sizes", "8..64", "--policy", "fifo");
        Assert.Contains("error: --policy: an exact curve in one pass exists for lru only", r.Stderr);
        Assert.Contains("--sample-rate", r.Stderr);
    }

    [Fact]
    public void AnUnknownPolicyForSampledFramesExitsTwoNamingTheKey()
    {
        var r = RunBad(Cli.Repo("configs", "paging-limited.json"), "--of", "frames", "--sizes", "8", "--policy", "clok", "--sample-rate", "0.5");
        Assert.Contains("machine:replacement:plugin", r.Stderr);
        Assert.Contains("clock", r.Stderr); // the nearest name
    }

    [Fact]
    public void AWorkloadThatIsNotATraceExitsTwo()
    {
        string scenario = _s.File("s.json", $$"""
            { "machine": { }, "workload": { "plugin": "scenario", "options": { "path": "{{Cli.Repo("configs", "scenarios", "brk-heap.vms").Replace("\\", "/")}}" } } }
            """);
        var r = RunBad(scenario, "--sizes", "8");
        Assert.Contains("workload:plugin", r.Stderr);
        Assert.Contains("needs a trace workload", r.Stderr);
    }
}
