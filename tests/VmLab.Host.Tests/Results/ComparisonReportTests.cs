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
        // A TLB sweep shows TLB misses and the miss ratio first; accesses does not vary, so it is not shown by default.
        Assert.Equal(["tlb.misses", "tlb.miss_ratio", "walk.memrefs"], report.Metrics);
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
        var report = ComparisonReport.Build(Results(caseCount: 7, failOne: true), metrics: ["tlb.misses", "walk.memrefs"]);
        string text = report.ToText();
        var lines = text.Split('\n');

        Assert.StartsWith("sweep tlb: 6 case(s), baseline entries=16,policy=lru", lines[0]);
        Assert.StartsWith("  ran 2026-01-01 00:00:00 UTC to 2026-01-01 00:00:00 UTC on host; not recorded in this database: description", lines[1]);
        Assert.Matches(@"^\s+case\s+status\s+tlb\.misses\s+ratio\s+walk\.memrefs\s+ratio\s+seconds$", lines[2]);
        Assert.Matches(@"^\s+entries=8,policy=fifo\s+completed\s+500\s+2\.500\s+2,000\s+2\.500\s+0\.500$", lines[5]);
        Assert.Matches(@"^\s+entries=16,policy=lru \(baseline\)\s+completed\s+200\s+1\.000\s+800\s+1\.000", lines[6]);
        Assert.Matches(@"^\s+entries=16,policy=fifo\s+failed\s+-\s+-\s+-\s+-", lines[7]);
        Assert.Contains("  failed entries=16,policy=fifo: plugin x failed: boom\n", text);
        Assert.Contains("note: 6 of 7 cases have results", text);
        Assert.Contains("note: 1 case(s) failed", text);
    }

    [Fact]
    public void CsvHasOneRowPerCaseWithAxisLabelsValuesAndRatios()
    {
        var csv = ComparisonReport.Build(Results(failOne: true), metrics: ["tlb.misses", "walk.memrefs"]).ToCsv().Split('\n');

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
    public void ChartsPerMetricAreBarsByCaseBarsGroupedByEachAxisAndCurvesAgainstNumericAxesForValuesAndRatios()
    {
        var report = ComparisonReport.Build(Results(), metrics: ["tlb.misses", "walk.memrefs"]);

        var charts = HtmlReport.Charts(report);

        string[] Kinds(string what) => [$"{what} by case", $"{what} by entries", $"{what} by policy", $"{what} against entries"];
        Assert.Equal(
            [.. Kinds("tlb.misses"), .. Kinds("tlb.misses / baseline"), .. Kinds("walk.memrefs"), .. Kinds("walk.memrefs / baseline")],
            charts.Select(c => c.Title));
        foreach (var chart in charts)
        {
            Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, chart.Png[..4]);
            int width = (chart.Png[16] << 24) | (chart.Png[17] << 16) | (chart.Png[18] << 8) | chart.Png[19];
            Assert.True(width >= 640, $"{chart.Title}: {width} px wide");
            Assert.True(chart.Png.Length > 5000, $"{chart.Title}: {chart.Png.Length} bytes");
        }
        string html = HtmlReport.Render(report);
        Assert.Equal(16, html.Split("<img ").Length - 1);
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

        Assert.Contains("no bar charts: 240,000 completed cases, more than 500 bars can show", html);
        Assert.Contains("no curves against entries: 1 curves of 240,000 points in all", html);
        Assert.DoesNotContain("<img ", html);
        Assert.Contains("entries=239999", html); // every case is still in the table
    }

    private static CaseResult WithMetrics(CaseResult c, Dictionary<string, long> metrics) => c with { Metrics = metrics };

    private static ResultSet Sweep(string axisKey, params Dictionary<string, long>[] perCase)
    {
        var axes = new JsonArray(new JsonObject { ["name"] = "x", ["key"] = axisKey, ["values"] = new JsonArray(
            [.. perCase.Select((_, i) => (JsonNode)new JsonObject { ["label"] = $"v{i}", ["value"] = $"v{i}" })]) });
        var cases = perCase.Select((m, i) => WithMetrics(Case(i, 0, "lru", 0, 0) with { Id = $"x=v{i}", Parameters = new JsonObject { ["x"] = $"v{i}" } }, m)).ToList();
        return new ResultSet(new SweepInfo("s", "s.json", "hash", "x=v0", axes, cases.Count), cases);
    }

    private static Dictionary<string, long> Counters(long accesses, long misses, long faults, long majors, long swapOuts, long memrefs) => new()
    {
        ["accesses"] = accesses, ["tlb.misses"] = misses, ["faults.total"] = faults, ["faults.major"] = majors,
        ["swap.outs"] = swapOuts, ["swap.ins"] = majors, ["walk.memrefs"] = memrefs, ["walk.count"] = misses,
    };

    [Fact]
    public void DerivedRatesAreComputedFromTheStoredMetricsOfEachCase()
    {
        var results = Sweep("machine:tlb:options:entries", Counters(2000, 50, 8, 1, 0, 200), Counters(4000, 30, 10, 1, 0, 150));

        var report = ComparisonReport.Build(results, metrics: ["tlb.miss_ratio", "faults.per_kilo_access", "walk.memrefs_per_walk"]);

        var c = report.Cases;
        Assert.Equal(50.0 / 2000, report.ValueOf(c[0], "tlb.miss_ratio"));
        Assert.Equal(1000.0 * 10 / 4000, report.ValueOf(c[1], "faults.per_kilo_access"));
        Assert.Equal(150.0 / 30, report.ValueOf(c[1], "walk.memrefs_per_walk"));
        Assert.Equal((30.0 / 4000) / (50.0 / 2000), report.Ratio(c[1], "tlb.miss_ratio")!.Value, 12);
        var json = report.ToJson();
        Assert.Equal(0.025, json["cases"]![0]!["metrics"]!["tlb.miss_ratio"]!.GetValue<double>());
        Assert.Equal("TLB misses per access: tlb.misses / accesses", json["rates"]!["tlb.miss_ratio"]!.GetValue<string>());
        Assert.False(json["cases"]![0]!["allMetrics"]!.AsObject().ContainsKey("tlb.miss_ratio")); // computed, never stored
        Assert.Equal("x=v0,completed,v0,0.025,1,4,1,4,1,0.5,", report.ToCsv().Split('\n')[1]);
    }

    [Fact]
    public void MpkiNeedsAnInstructionsMetricAndSaysSoWithoutOne()
    {
        var without = Sweep("machine:tlb:options:entries", Counters(2000, 50, 8, 1, 0, 200), Counters(4000, 30, 10, 1, 0, 150));
        var e = Assert.Throws<VmLabInputException>(() => ComparisonReport.Build(without, metrics: ["mpki"]));
        Assert.Equal("--metrics", e.Where);
        Assert.Contains("needs the metric 'instructions'", e.Message);
        Assert.Contains("no built-in workload counts instructions", e.Message);
        Assert.DoesNotContain("mpki", ComparisonReport.Build(without, metrics: ["all"]).Metrics);

        var a = Counters(2000, 50, 8, 1, 0, 200);
        a["instructions"] = 500;
        var b = Counters(4000, 30, 10, 1, 0, 150);
        b["instructions"] = 1500;
        var report = ComparisonReport.Build(Sweep("machine:tlb:options:entries", a, b), metrics: ["mpki"]);
        Assert.Equal(100.0, report.ValueOf(report.Cases[0], "mpki"));
        Assert.Equal(20.0, report.ValueOf(report.Cases[1], "mpki"));
        Assert.Contains("mpki", ComparisonReport.Build(Sweep("machine:tlb:options:entries", a, b), metrics: ["all"]).Metrics);
    }

    [Fact]
    public void AnUnknownRateOrMetricSuggestsTheNearestName()
    {
        var e = Assert.Throws<VmLabInputException>(() => ComparisonReport.Build(Results(), metrics: ["tlb.miss_ratoi"]));
        Assert.Contains("no metric or rate 'tlb.miss_ratoi'", e.Message);
        Assert.Contains("did you mean 'tlb.miss_ratio'?", e.Message);
        var e2 = Assert.Throws<VmLabInputException>(() => ComparisonReport.Build(Results(), metrics: ["tlb.miss"]));
        Assert.Contains("did you mean 'tlb.misses'?", e2.Message);
    }

    [Fact]
    public void MetricsAllIsEveryStoredMetricThenEveryRateTheResultsAllow()
    {
        var report = ComparisonReport.Build(Results(), metrics: ["all"]);

        // The cases store accesses, tlb.misses and walk.memrefs: only the miss ratio can be computed from them.
        Assert.Equal(["accesses", "tlb.misses", "walk.memrefs", "tlb.miss_ratio"], report.Metrics);
    }

    [Fact]
    public void DefaultMetricsFollowWhatTheSweepVaries()
    {
        var small = Counters(2000, 50, 8, 2, 3, 200);
        var large = Counters(2000, 40, 20, 9, 12, 160);

        Assert.Equal(["faults.total", "faults.major", "swap.outs", "swap.ins", "faults.per_kilo_access", "tlb.misses"],
            ComparisonReport.Build(Sweep("machine:memory:userFrames", small, large)).Metrics);
        Assert.Equal(SweepKind.Paging, ComparisonReport.Build(Sweep("machine:replacement:plugin", small, large)).Kind);
        Assert.Equal(["tlb.misses", "tlb.miss_ratio", "walk.memrefs", "walk.count", "faults.total"],
            ComparisonReport.Build(Sweep("machine:tlb", small, large)).Metrics);
        Assert.Equal(["walk.memrefs", "walk.count", "tlb.misses", "faults.total"],
            ComparisonReport.Build(Sweep("machine:pageTable:options:levels", small, large)).Metrics); // memrefs per walk is 4 in both
        Assert.Equal(SweepKind.General, ComparisonReport.Build(Sweep("seed", small, large)).Kind);
        Assert.Equal("tlb.misses", ComparisonReport.Build(Sweep("seed", small, large)).Metrics[0]);
    }

    [Fact]
    public void TheLongCsvHasOneRowPerCaseAndMetricWithTheAxisLabelsAsColumns()
    {
        var csv = ComparisonReport.Build(Results(failOne: true), metrics: ["tlb.misses", "tlb.miss_ratio"]).ToLongCsv().Split('\n');

        Assert.Equal("case,status,entries,policy,metric,value,ratio", csv[0]);
        Assert.Equal("\"entries=8,policy=lru\",completed,8,lru,tlb.misses,400,2", csv[1]);
        Assert.Equal("\"entries=8,policy=lru\",completed,8,lru,tlb.miss_ratio,0.4,2", csv[2]);
        Assert.Equal("\"entries=16,policy=fifo\",failed,16,fifo,tlb.misses,,", csv[7]);
        Assert.Equal(1 + 6 * 2 + 1, csv.Length); // header, 6 cases x 2 metrics, final newline
    }

    private static ResultSet WithContext(ResultSet results, SweepContext context) =>
        results with { Sweep = results.Sweep with { Context = context } };

    [Fact]
    public void EveryOutputCarriesTheContextTheDatabaseRecorded()
    {
        var context = new SweepContext(
            "TLB entries against policy on a tiny trace",
            new BaseExperiment("../base.json", "tiny-base", new JsonObject { ["seed"] = 7 }, true),
            ["machine:memory:frames=4096"],
            [new TraceFile("lackey", "traces/tiny.lackey", 1234, new string('a', 64))],
            ["0.1.0", "0.2.0"]);
        var report = ComparisonReport.Build(WithContext(Results(), context));

        var text = report.ToText().Split('\n');
        Assert.Equal("  TLB entries against policy on a tiny trace", text[1]);
        Assert.Equal("  base ../base.json (tiny-base); --set machine:memory:frames=4096; trace traces/tiny.lackey (1.2 KiB, sha256 aaaaaaaaaaaa); " +
                     "VmLab 0.1.0, 0.2.0; ran 2026-01-01 00:00:00 UTC to 2026-01-01 00:00:00 UTC on host", text[2]);

        var json = report.ToJson()["context"]!;
        Assert.Equal("TLB entries against policy on a tiny trace", json["description"]!.GetValue<string>());
        Assert.Equal("../base.json", json["base"]!["file"]!.GetValue<string>());
        Assert.Equal(7, json["base"]!["config"]!["seed"]!.GetValue<int>());
        Assert.Equal(1234, json["traces"]![0]!["bytes"]!.GetValue<long>());
        Assert.Equal(["0.1.0", "0.2.0"], json["vmlabVersions"]!.AsArray().Select(v => v!.GetValue<string>()));
        Assert.Equal(["VmLab.Plugins.Tlb 0.1.0"], json["plugins"]!["fully-associative"]!.AsArray().Select(v => v!.GetValue<string>()));
        Assert.Equal(["host"], json["hosts"]!.AsArray().Select(v => v!.GetValue<string>()));
        Assert.Empty(json["notRecorded"]!.AsArray());

        string html = HtmlReport.Render(report, new HtmlOptions { Values = ChartValues.Value });
        Assert.Contains("<p class=\"description\">TLB entries against policy on a tiny trace</p>", html);
        Assert.Contains("<code>../base.json</code> (<code>tiny-base</code>)", html);
        Assert.Contains("<code>--set machine:memory:frames=4096</code>", html);
        Assert.Contains(new string('a', 64), html);
        Assert.Contains("<dt>VmLab</dt><dd>0.1.0, 0.2.0</dd>", html);
        Assert.Contains("2026-01-01 00:00:00 UTC to 2026-01-01 00:00:00 UTC", html);
        Assert.DoesNotContain("not recorded", html);
    }

    [Fact]
    public void AReportOfADatabaseWithoutContextSaysWhatIsNotRecorded()
    {
        var old = Results() with { Sweep = Results().Sweep with { SchemaVersion = 1 } };

        var report = ComparisonReport.Build(old);

        string expected = "not recorded in this database: description, base experiment, --set overrides, traces, VmLab version (schema 1: written by a VmLab that did not record them";
        Assert.Contains(expected, report.ToText());
        Assert.Contains(expected, HtmlReport.Render(report, new HtmlOptions { Values = ChartValues.Value }));
        var json = report.ToJson()["context"]!;
        Assert.Null(json["description"]);
        Assert.Equal(1, json["schema"]!.GetValue<int>());
        Assert.Equal(["description", "base experiment", "--set overrides", "traces", "VmLab version"], json["notRecorded"]!.AsArray().Select(v => v!.GetValue<string>()));
    }

    [Fact]
    public void OnALogScaleValuesOfZeroAreLeftOutAndSaid()
    {
        var report = ComparisonReport.Build(Results(), metrics: ["tlb.misses"]); // entries=64,policy=lru has 0 misses

        var notes = new List<string>();
        var charts = HtmlReport.Charts(report, notes, new HtmlOptions { Scale = ChartScale.Log, Values = ChartValues.Value });

        Assert.Equal(["tlb.misses by case (log scale)", "tlb.misses by entries (log scale)", "tlb.misses by policy (log scale)", "tlb.misses against entries (log scale)"],
            charts.Select(c => c.Title));
        Assert.Equal(
            ["tlb.misses by case: 1 value(s) of 0 or less are not drawn on the log scale", "tlb.misses by entries: 1 value(s) of 0 or less are not drawn on the log scale",
             "tlb.misses by policy: 1 value(s) of 0 or less are not drawn on the log scale", "tlb.misses against entries: 1 value(s) of 0 or less are not drawn on the log scale"],
            notes);
        var linear = HtmlReport.Charts(report, [], new HtmlOptions { Values = ChartValues.Value });
        Assert.NotEqual(linear[0].Png, charts[0].Png);
    }
}
