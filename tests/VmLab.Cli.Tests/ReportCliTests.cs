using System.Text.Json.Nodes;

namespace VmLab.Cli.Tests;

/// <summary>vmlab report's options for rates, all metrics, the long CSV and the charts, and its answers to bad ones.</summary>
public sealed class ReportCliTests : IDisposable
{
    private readonly Scratch _s = new();

    public void Dispose() => _s.Dispose();

    private string Sweep()
    {
        string sweep = _s.File("s.json", $$"""
            {
              "name": "rates",
              "description": "TLB entries on the tiny trace",
              "base": { "machine": { "tlb": { "plugin": "fully-associative" } },
                        "workload": { "plugin": "lackey", "options": { "path": "{{Cli.Repo("configs", "traces", "tiny.lackey")}}" } } },
              "matrix": { "machine:tlb:options:entries": [1, 4], "machine:tlb:options:policy": ["lru", "fifo"] }
            }
            """);
        string db = _s.PathOf("r.db");
        Assert.Equal(0, Cli.Run("sweep", sweep, "--db", db, "--isolation", "none").ExitCode);
        return db;
    }

    [Fact]
    public void MetricsAllWithTheLongCsvGivesOneRowPerCaseAndEveryMetricAndRate()
    {
        string db = Sweep();

        var r = Cli.Run("report", db, "--metrics", "all", "--csv-format", "long", "--csv", _s.PathOf("long.csv"), "--json", _s.PathOf("r.json"));

        Assert.Equal(0, r.ExitCode);
        var json = JsonNode.Parse(File.ReadAllText(_s.PathOf("r.json")))!;
        var metrics = json["metrics"]!.AsArray().Select(m => m!.GetValue<string>()).ToList();
        var stored = json["cases"]![0]!["allMetrics"]!.AsObject().Select(p => p.Key).ToList();
        Assert.Equal([.. stored, "tlb.miss_ratio", "faults.per_kilo_access", "walk.memrefs_per_walk"], metrics); // no instructions metric: no mpki
        var lines = File.ReadAllLines(_s.PathOf("long.csv"));
        Assert.Equal("case,status,entries,policy,metric,value,ratio", lines[0]);
        Assert.Equal(1 + 4 * metrics.Count, lines.Length);
        var first = json["cases"]![0]!;
        double misses = first["allMetrics"]!["tlb.misses"]!.GetValue<long>(), accesses = first["allMetrics"]!["accesses"]!.GetValue<long>();
        string ratioRow = lines.Single(l => l.StartsWith($"\"{first["id"]!.GetValue<string>()}\",", StringComparison.Ordinal) && l.Contains(",tlb.miss_ratio,", StringComparison.Ordinal));
        Assert.Equal(misses / accesses, double.Parse(ratioRow.Split(',')[^2], System.Globalization.CultureInfo.InvariantCulture), 12);
    }

    [Fact]
    public void TheTextAndJsonSayWhereTheNumbersComeFrom()
    {
        string db = Sweep();

        var text = Cli.Run("report", db);
        var json = JsonNode.Parse(Cli.Run("report", db, "--json", "-").Stdout)!["context"]!;

        var lines = text.Stdout.Split('\n');
        Assert.Equal("  TLB entries on the tiny trace", lines[1]);
        Assert.Matches(@"^  base inline; trace .*tiny\.lackey \([\d.]+ (B|KiB), sha256 [0-9a-f]{12}\); VmLab \d+\.\d+\.\d+\S*; ran \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC to .* UTC on \S+", lines[2]);
        Assert.Equal("TLB entries on the tiny trace", json["description"]!.GetValue<string>());
        Assert.True(json["base"]!["resolved"]!.GetValue<bool>());
        Assert.Equal("lackey", json["base"]!["config"]!["workload"]!["plugin"]!.GetValue<string>());
        Assert.Equal(Environment.MachineName, json["hosts"]![0]!.GetValue<string>());
        Assert.True(json["plugins"]!.AsObject().ContainsKey("fully-associative"));
    }

    [Theory]
    [InlineData("--metrics", "tlb.miss_ratoi", "error: --metrics: no metric or rate 'tlb.miss_ratoi' in the results; did you mean 'tlb.miss_ratio'?")]
    [InlineData("--metrics", "mpki", "error: --metrics: the rate 'mpki' (TLB misses per 1,000 instructions")]
    [InlineData("--scale", "log2", "--scale expects linear (the default) or log, got 'log2'")]
    [InlineData("--charts", "bars", "--charts expects value, ratio or both (the default), got 'bars'")]
    [InlineData("--csv-format", "tall", "--csv-format expects wide (one row per case, the default) or long (one row per case and metric), got 'tall'")]
    public void ABadReportOptionExitsWith2AndWritesNothing(string option, string value, string expected)
    {
        string db = Sweep();
        byte[] before = File.ReadAllBytes(db);

        var r = Cli.Run("report", db, option, value, "--html", _s.PathOf("out.html"), "--csv", _s.PathOf("out.csv"), "--json", _s.PathOf("out.json"));

        Assert.Equal(2, r.ExitCode);
        Assert.Contains(expected, r.Stderr);
        Assert.DoesNotContain("   at ", r.Stderr);
        Assert.Equal("", r.Stdout);
        Assert.False(File.Exists(_s.PathOf("out.html")) || File.Exists(_s.PathOf("out.csv")) || File.Exists(_s.PathOf("out.json")));
        Assert.Equal(before, File.ReadAllBytes(db));
    }

    [Fact]
    public void TheLogScaleAndRatioOnlyChartsAreWhatTheHtmlHolds()
    {
        string db = Sweep();

        Assert.Equal(0, Cli.Run("report", db, "--metrics", "tlb.misses", "--scale", "log", "--charts", "ratio", "--html", _s.PathOf("log.html")).ExitCode);

        string html = File.ReadAllText(_s.PathOf("log.html"));
        Assert.Equal(
            ["tlb.misses / baseline by case (log scale)", "tlb.misses / baseline by entries (log scale)",
             "tlb.misses / baseline by policy (log scale)", "tlb.misses / baseline against entries (log scale)"],
            System.Text.RegularExpressions.Regex.Matches(html, "<img alt=\"([^\"]*)\"").Select(m => System.Net.WebUtility.HtmlDecode(m.Groups[1].Value)));
    }
}
