using System.Text.Json.Nodes;
using VmLab.Abstractions.Plugins;
using VmLab.Host.Results;

namespace VmLab.Host.Tests.Results;

public sealed class ComparisonReportTests
{
    private static readonly DateTime T0 = new(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc);

    private static CaseResult Case(int ordinal, int entries, string policy, long misses, long memrefs, string status = "completed") => new(
        $"entries={entries},policy={policy}",
        ordinal,
        new JsonObject { ["entries"] = entries, ["policy"] = policy },
        new JsonObject(),
        "h" + ordinal,
        1,
        new Dictionary<string, string> { ["fully-associative"] = "VmLab.Plugins.Tlb 0.1.0" },
        status == "completed" ? new Dictionary<string, long> { ["accesses"] = 1000, ["tlb.misses"] = misses, ["walk.memrefs"] = memrefs } : new Dictionary<string, long>(),
        status,
        status == "completed" ? null : "plugin x failed: boom\n   at somewhere",
        [],
        0.5,
        T0,
        T0,
        "host");

    private static JsonArray Axes() =>
    [
        new JsonObject { ["name"] = "entries", ["key"] = "machine:tlb:options:entries", ["values"] = new JsonArray(
            new JsonObject { ["label"] = "8", ["value"] = 8 }, new JsonObject { ["label"] = "16", ["value"] = 16 }, new JsonObject { ["label"] = "64", ["value"] = 64 }) },
        new JsonObject { ["name"] = "policy", ["key"] = "machine:tlb:options:policy", ["values"] = new JsonArray(
            new JsonObject { ["label"] = "lru", ["value"] = "lru" }, new JsonObject { ["label"] = "fifo", ["value"] = "fifo" }) },
    ];

    private static ResultSet Results(int caseCount = 6, bool failOne = false) => new(
        new SweepInfo("tlb", "tlb.json", "hash", "entries=16,policy=lru", Axes(), caseCount),
        [
            Case(0, 8, "lru", 400, 1600),
            Case(1, 8, "fifo", 500, 2000),
            Case(2, 16, "lru", 200, 800),
            Case(3, 16, "fifo", 250, 1000, failOne ? "failed" : "completed"),
            Case(4, 64, "lru", 0, 400),
            Case(5, 64, "fifo", 50, 400),
        ]);

    [Fact]
    public void RatiosAreValuesDividedByTheBaselineValue()
    {
        var report = ComparisonReport.Build(Results());

        Assert.Equal("entries=16,policy=lru", report.BaselineId);
        Assert.Equal(["tlb.misses", "walk.memrefs"], report.Metrics); // accesses does not vary, so it is not shown by default
        var c = report.Cases;
        Assert.Equal(2.0, report.Ratio(c[0], "tlb.misses"));
        Assert.Equal(2.5, report.Ratio(c[1], "tlb.misses"));
        Assert.Equal(1.0, report.Ratio(c[2], "tlb.misses"));
        Assert.Equal(0.0, report.Ratio(c[4], "tlb.misses"));
        Assert.Equal(0.5, report.Ratio(c[4], "walk.memrefs"));
        Assert.Empty(report.Notes);
    }

    [Fact]
    public void AnotherBaselineChangesEveryRatioAndZeroBaselineValuesGiveNoRatio()
    {
        var report = ComparisonReport.Build(Results(), baseline: "entries=64,policy=lru", metrics: ["tlb.misses", "accesses"]);

        Assert.Equal(["tlb.misses", "accesses"], report.Metrics);
        Assert.Null(report.Ratio(report.Cases[0], "tlb.misses")); // 400 / 0
        Assert.Equal(1.0, report.Ratio(report.Cases[4], "tlb.misses")); // 0 / 0
        Assert.Equal(1.0, report.Ratio(report.Cases[1], "accesses"));
    }

    [Fact]
    public void TheTextTableShowsValuesRatiosFailuresAndMissingCases()
    {
        var report = ComparisonReport.Build(Results(caseCount: 7, failOne: true));
        string text = report.ToText();
        var lines = text.Split('\n');

        Assert.StartsWith("sweep tlb: 6 case(s), baseline entries=16,policy=lru", lines[0]);
        Assert.Matches(@"^\s+case\s+status\s+tlb\.misses\s+ratio\s+walk\.memrefs\s+ratio\s+seconds$", lines[1]);
        Assert.Matches(@"^\s+entries=8,policy=fifo\s+completed\s+500\s+2\.500\s+2,000\s+2\.500\s+0\.500$", lines[4]);
        Assert.Matches(@"^\s+entries=16,policy=lru \(baseline\)\s+completed\s+200\s+1\.000\s+800\s+1\.000", lines[5]);
        Assert.Matches(@"^\s+entries=16,policy=fifo\s+failed\s+-\s+-\s+-\s+-", lines[6]);
        Assert.Contains("  failed entries=16,policy=fifo: plugin x failed: boom\n", text);
        Assert.Contains("note: 6 of 7 cases have results", text);
        Assert.Contains("note: 1 case(s) failed", text);
    }

    [Fact]
    public void CsvHasOneRowPerCaseWithAxisLabelsValuesAndRatios()
    {
        var csv = ComparisonReport.Build(Results(failOne: true)).ToCsv().Split('\n');

        Assert.Equal("case,status,entries,policy,tlb.misses,tlb.misses/baseline,walk.memrefs,walk.memrefs/baseline,elapsed_seconds,error", csv[0]);
        Assert.Equal("\"entries=8,policy=lru\",completed,8,lru,400,2,1600,2,0.5,", csv[1]);
        Assert.Equal("\"entries=16,policy=fifo\",failed,16,fifo,,,,,0.5,plugin x failed: boom", csv[4]);
        Assert.Equal(8, csv.Length); // header, 6 rows, final newline
    }

    [Fact]
    public void JsonHoldsChosenMetricsRatiosAndAllMetrics()
    {
        var json = ComparisonReport.Build(Results()).ToJson();

        Assert.Equal("entries=16,policy=lru", json["baseline"]!.GetValue<string>());
        var first = json["cases"]![0]!;
        Assert.Equal(400, first["metrics"]!["tlb.misses"]!.GetValue<long>());
        Assert.Equal(2.0, first["ratios"]!["tlb.misses"]!.GetValue<double>());
        Assert.Equal(1000, first["allMetrics"]!["accesses"]!.GetValue<long>());
        Assert.Equal(8, first["parameters"]!["entries"]!.GetValue<int>());
    }

    [Fact]
    public void UnknownMetricsAndBaselinesAreInputErrorsWithASuggestion()
    {
        var e = Assert.Throws<VmLabInputException>(() => ComparisonReport.Build(Results(), metrics: ["tlb.mises"]));
        Assert.Equal("--metrics", e.Where);
        Assert.Contains("did you mean 'tlb.misses'?", e.Message);

        var e2 = Assert.Throws<VmLabInputException>(() => ComparisonReport.Build(Results(), baseline: "entries=16,policy=lr"));
        Assert.Equal("--baseline", e2.Where);
        Assert.Contains("did you mean 'entries=16,policy=lru'?", e2.Message);
    }

    [Fact]
    public void AFailedBaselineLeavesRatiosEmptyAndSaysSo()
    {
        var report = ComparisonReport.Build(Results(failOne: true), baseline: "entries=16,policy=fifo");
        Assert.Null(report.Ratio(report.Cases[0], "tlb.misses"));
        Assert.Contains("the baseline case entries=16,policy=fifo failed; ratios are left empty", report.Notes);
    }

    [Fact]
    public void ChartsAreABarChartPerMetricAndACurvePerMetricAgainstEachNumericAxis()
    {
        var report = ComparisonReport.Build(Results());

        var charts = HtmlReport.Charts(report);

        Assert.Equal(
            ["tlb.misses by case", "walk.memrefs by case", "tlb.misses against entries", "walk.memrefs against entries"],
            charts.Select(c => c.Title));
        foreach (var chart in charts)
        {
            Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, chart.Png[..4]);
            int width = (chart.Png[16] << 24) | (chart.Png[17] << 16) | (chart.Png[18] << 8) | chart.Png[19];
            Assert.True(width >= 640, $"{chart.Title}: {width} px wide");
            Assert.True(chart.Png.Length > 5000, $"{chart.Title}: {chart.Png.Length} bytes");
        }
        string html = HtmlReport.Render(report);
        Assert.Equal(4, html.Split("<img ").Length - 1);
        Assert.DoesNotContain("<script", html);
        Assert.DoesNotContain("http", html);
    }

    [Fact]
    public void AReportOverAQuarterOfAMillionCasesLeavesOutTheChartsItCannotDrawAndSaysSo()
    {
        const int n = 240_000;
        var axes = new JsonArray(new JsonObject { ["name"] = "entries", ["key"] = "machine:tlb:options:entries",
            ["values"] = new JsonArray([.. Enumerable.Range(1, n).Select(i => (JsonNode)new JsonObject { ["label"] = i.ToString(System.Globalization.CultureInfo.InvariantCulture), ["value"] = i })]) });
        var cases = Enumerable.Range(1, n).Select(i => new CaseResult($"entries={i}", i - 1, new JsonObject { ["entries"] = i }, new JsonObject(), "h", 1,
            new Dictionary<string, string>(), new Dictionary<string, long> { ["tlb.misses"] = 1_000_000 / i }, "completed", null, [], 0.1, T0, T0, "host")).ToList();
        var report = ComparisonReport.Build(new ResultSet(new SweepInfo("big", "big.json", "hash", "entries=1", axes, n), cases), null, ["tlb.misses"]);

        string html = HtmlReport.Render(report);

        Assert.Contains("no bar chart by case: 240,000 completed cases, more than 500 bars can show", html);
        Assert.Contains("no curves against entries: 1 curves of 240,000 points in all", html);
        Assert.DoesNotContain("<img ", html);
        Assert.Contains("entries=239999", html); // every case is still in the table
    }
}
