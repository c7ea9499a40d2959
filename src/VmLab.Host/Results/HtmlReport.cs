using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using ScottPlot;

namespace VmLab.Host.Results;

/// <summary>A chart of the report: the metric it draws, its title and PNG image.</summary>
public sealed record Chart(string Metric, string Title, byte[] Png);

/// <summary>The scale of the charts' value axis.</summary>
public enum ChartScale
{
    Linear,
    /// <summary>Base 10; values of 0 or less cannot be drawn and are left out, with a note.</summary>
    Log,
}

/// <summary>What the charts draw: the values, their ratios to the baseline, or both (each chart twice).</summary>
[Flags]
public enum ChartValues
{
    Value = 1,
    Ratio = 2,
    Both = Value | Ratio,
}

/// <summary>How the HTML report draws its charts (<c>vmlab report --scale --charts</c>).</summary>
public sealed record HtmlOptions
{
    public ChartScale Scale { get; init; } = ChartScale.Linear;
    public ChartValues Values { get; init; } = ChartValues.Both;
}

/// <summary>
/// The comparison as one self-contained HTML file: the context (description, base, overrides, traces, versions, dates,
/// hosts), a table that fits the page (each ratio under its value), and per chosen metric or rate: a bar chart across
/// cases, bars grouped by each axis with one colour per value of the others, and a curve against each numeric axis
/// (TLB entries, memory frames, ...), each drawn for the values and for their ratios to the baseline. Charts are drawn
/// with ScottPlot and embedded as base64 PNG; the page loads nothing else and runs no script.
/// </summary>
public static class HtmlReport
{
    private const int Height = 420;

    /// <summary>Most cases drawn as bars, one per case (the image grows with them; the chart library fails past ~60,000).</summary>
    public const int MaxBarCases = 500;

    /// <summary>Most points drawn in the curves against one axis.</summary>
    public const int MaxCurvePoints = 20_000;

    /// <summary>Most curves (combinations of the other axes) drawn in one chart.</summary>
    public const int MaxCurves = 40;

    /// <summary>Most colours (combinations of the other axes) in one grouped bar chart.</summary>
    public const int MaxGroupColours = 12;

    public static IReadOnlyList<Chart> Charts(ComparisonReport report) => Charts(report, [], new HtmlOptions());

    /// <summary>The charts, metric by metric; a chart too large to draw legibly is left out and <paramref name="notes"/> says which and why.</summary>
    public static IReadOnlyList<Chart> Charts(ComparisonReport report, List<string> notes, HtmlOptions options)
    {
        var charts = new List<Chart>();
        var completed = report.Cases.Where(c => c.Status == Running.RunResult.Completed).ToList();
        if (completed.Count == 0) return charts;
        var variants = new List<Variant>();
        if (options.Values.HasFlag(ChartValues.Value)) variants.Add(Variant.Value);
        if (options.Values.HasFlag(ChartValues.Ratio))
        {
            if (report.Baseline is null) notes.Add("no ratio charts: the baseline has no result");
            else variants.Add(Variant.Ratio);
        }

        bool bars = completed.Count <= MaxBarCases;
        if (!bars)
            notes.Add(string.Create(CultureInfo.InvariantCulture,
                $"no bar charts: {completed.Count:N0} completed cases, more than {MaxBarCases:N0} bars can show; the table, --csv and --json have every case"));

        var axes = report.Sweep.Axes.OfType<JsonObject>().Select(a => new AxisInfo(
            a["name"]?.GetValue<string>() ?? "",
            [.. (a["values"] as JsonArray ?? []).Select(v => v?["label"]?.GetValue<string>() ?? "")],
            [.. (a["values"] as JsonArray ?? []).Select(v => Number(v?["value"]))])).ToList();

        // Grouped bars: by each axis, one colour per combination of the others (when there are other axes).
        var groupings = new List<AxisInfo>();
        if (bars && axes.Count >= 2)
        {
            foreach (var axis in axes)
            {
                int colours = completed.Select(c => OthersKey(report, c, axis.Name)).Distinct(StringComparer.Ordinal).Count();
                if (colours > MaxGroupColours)
                    notes.Add(string.Create(CultureInfo.InvariantCulture,
                        $"no bars grouped by {axis.Name}: {colours} combinations of the other axes, more than {MaxGroupColours} colours can tell apart"));
                else groupings.Add(axis);
            }
        }

        // Curves against each axis whose values are all numbers.
        var curveAxes = new List<AxisInfo>();
        foreach (var axis in axes)
        {
            if (axis.Numbers.Count < 2 || axis.Numbers.Any(v => v is null)) continue;
            int curves = completed.Select(c => OthersKey(report, c, axis.Name)).Distinct(StringComparer.Ordinal).Count();
            if (completed.Count > MaxCurvePoints || curves > MaxCurves)
            {
                notes.Add(string.Create(CultureInfo.InvariantCulture,
                    $"no curves against {axis.Name}: {curves:N0} curves of {completed.Count:N0} points in all, more than {MaxCurves} curves or {MaxCurvePoints:N0} points can show; report a slice with --metrics or a sweep with fewer axes"));
                continue;
            }
            curveAxes.Add(axis);
        }

        foreach (var metric in report.Metrics)
        {
            foreach (var variant in variants)
            {
                var y = Selector(report, metric, variant);
                string what = variant == Variant.Ratio ? $"{metric} / baseline" : metric;
                if (bars) charts.Add(Draw(metric, $"{what} by case", options, notes, (plot, axisFor) => BarChart(plot, axisFor, report, completed, y, variant, what)));
                foreach (var axis in groupings)
                    charts.Add(Draw(metric, $"{what} by {axis.Name}", options, notes, (plot, axisFor) => GroupedBars(plot, axisFor, report, completed, axis, y, variant, what)));
                foreach (var axis in curveAxes)
                    charts.Add(Draw(metric, $"{what} against {axis.Name}", options, notes, (plot, axisFor) => Curve(plot, axisFor, report, completed, axis.Name, y, variant, what)));
            }
        }
        return charts;
    }

    private enum Variant
    {
        Value,
        Ratio,
    }

    private sealed record AxisInfo(string Name, IReadOnlyList<string> Labels, IReadOnlyList<double?> Numbers);

    private static Func<CaseResult, double?> Selector(ComparisonReport report, string metric, Variant variant) =>
        variant == Variant.Ratio ? c => report.Ratio(c, metric) : c => report.ValueOf(c, metric);

    /// <summary>The labels of every axis but <paramref name="axis"/>: the colour (or curve) a case belongs to.</summary>
    private static string OthersKey(ComparisonReport report, CaseResult c, string axis)
    {
        var labels = ComparisonReport.Labels(c);
        return string.Join(",", report.AxisNames.Where(a => a != axis).Select(a => $"{a}={labels.GetValueOrDefault(a, "")}"));
    }

    private static double? Number(JsonNode? node) =>
        node is JsonValue v && v.GetValueKind() == JsonValueKind.Number
            ? double.Parse(v.ToJsonString(), CultureInfo.InvariantCulture)
            : null;

    /// <summary>What a drawing function returns: the image size and how many values the log scale could not draw.</summary>
    private readonly record struct Drawn(int Width, int Height, int LeftOut);

    /// <summary>The value axis: linear, or log10 with a tick at each power of ten (and 2 and 5 between them over short ranges).</summary>
    private sealed class ValueAxis(ChartScale scale, IEnumerable<double> values)
    {
        private readonly List<double> _values = [.. values];

        public bool Log => scale == ChartScale.Log;

        /// <summary>The plotted coordinate of a value, or null when the log scale cannot draw it (0 or less).</summary>
        public double? Y(double v) => !Log ? v : v > 0 ? Math.Log10(v) : null;

        /// <summary>Where bars start: 0, or on a log scale the power of ten at or below the smallest value drawn.</summary>
        public double Floor
        {
            get
            {
                if (!Log) return 0;
                var positive = _values.Where(v => v > 0).ToList();
                return positive.Count == 0 ? 0 : Math.Floor(Math.Log10(positive.Min()));
            }
        }

        public void Apply(Plot plot, string label)
        {
            plot.YLabel(Log ? label + " (log scale)" : label);
            if (!Log) return;
            var positive = _values.Where(v => v > 0).ToList();
            if (positive.Count == 0) return;
            int low = (int)Math.Floor(Math.Log10(positive.Min()));
            int high = (int)Math.Ceiling(Math.Log10(positive.Max()));
            if (high == low) high++;
            var ticks = new List<double>();
            double[] steps = high - low <= 2 ? [1, 2, 5] : [1];
            for (int e = low; e <= high; e++)
                foreach (var s in steps)
                    if (e < high || s == 1) ticks.Add(s * Math.Pow(10, e));
            plot.Axes.Left.SetTicks([.. ticks.Select(Math.Log10)], [.. ticks.Select(TickLabel)]);
            plot.Axes.SetLimitsY(low, high + (high - low) * 0.04);
        }

        private static string TickLabel(double v) =>
            v >= 1 ? v.ToString("N0", CultureInfo.InvariantCulture) : v.ToString("0.##########", CultureInfo.InvariantCulture);
    }

    private static Chart Draw(string metric, string title, HtmlOptions options, List<string> notes, Func<Plot, Func<IEnumerable<double>, ValueAxis>, Drawn> draw)
    {
        var plot = new Plot();
        var drawn = draw(plot, values => new ValueAxis(options.Scale, values));
        string fullTitle = options.Scale == ChartScale.Log ? title + " (log scale)" : title;
        plot.Title(fullTitle);
        if (drawn.LeftOut > 0)
            notes.Add(string.Create(CultureInfo.InvariantCulture, $"{title}: {drawn.LeftOut} value(s) of 0 or less are not drawn on the log scale"));
        return new Chart(metric, fullTitle, plot.GetImageBytes(drawn.Width, drawn.Height, ImageFormat.Png));
    }

    private static Drawn BarChart(Plot plot, Func<IEnumerable<double>, ValueAxis> axisFor, ComparisonReport report, List<CaseResult> cases,
        Func<CaseResult, double?> y, Variant variant, string what)
    {
        var values = cases.Select(c => y(c)).ToList();
        var axis = axisFor(values.OfType<double>());
        int leftOut = 0;
        var bars = new List<Bar>();
        for (int i = 0; i < cases.Count; i++)
        {
            if (values[i] is not { } v) continue;
            if (axis.Y(v) is not { } top)
            {
                leftOut++;
                continue;
            }
            bars.Add(new Bar
            {
                Position = i,
                Value = top,
                ValueBase = axis.Floor,
                FillColor = cases[i].Id == report.BaselineId ? Colors.DarkOrange : Colors.SteelBlue,
                LineWidth = 0,
            });
        }
        plot.Add.Bars(bars);
        if (variant == Variant.Ratio) OneLine(plot, axis);
        plot.Axes.Bottom.SetTicks([.. Enumerable.Range(0, cases.Count).Select(i => (double)i)], [.. cases.Select(c => c.Id)]);
        plot.Axes.Bottom.TickLabelStyle.Rotation = 45;
        plot.Axes.Bottom.TickLabelStyle.Alignment = Alignment.MiddleLeft;
        plot.Axes.Bottom.MajorTickStyle.Length = 0;
        int longest = cases.Max(c => c.Id.Length);
        plot.Axes.Bottom.MinimumSize = Math.Min(400, 16 + longest * 5);
        plot.Axes.Right.MinimumSize = Math.Min(300, 10 + longest * 5);
        if (!axis.Log) plot.Axes.Margins(bottom: 0);
        axis.Apply(plot, what);
        return new Drawn(Math.Max(640, 160 + cases.Count * 28), Height + Math.Min(300, longest * 4), leftOut);
    }

    /// <summary>A dashed grey line at ratio 1 (the baseline's value), in no bar's colour.</summary>
    private static void OneLine(Plot plot, ValueAxis axis)
    {
        if (axis.Y(1) is not { } one) return;
        var line = plot.Add.HorizontalLine(one);
        line.LinePattern = LinePattern.Dashed;
        line.Color = Colors.Black.WithAlpha(0.6);
        line.LineWidth = 1.5f;
    }

    /// <summary>Bars grouped by the labels of <paramref name="group"/> (in axis order), one colour per combination of the other axes.</summary>
    private static Drawn GroupedBars(Plot plot, Func<IEnumerable<double>, ValueAxis> axisFor, ComparisonReport report, List<CaseResult> cases,
        AxisInfo group, Func<CaseResult, double?> y, Variant variant, string what)
    {
        var colourKeys = cases.Select(c => OthersKey(report, c, group.Name)).Distinct(StringComparer.Ordinal).ToList(); // in expansion order
        var groupLabels = group.Labels.Where(l => cases.Any(c => ComparisonReport.Labels(c).GetValueOrDefault(group.Name) == l)).ToList();
        foreach (var extra in cases.Select(c => ComparisonReport.Labels(c).GetValueOrDefault(group.Name, "")).Distinct(StringComparer.Ordinal))
            if (!groupLabels.Contains(extra)) groupLabels.Add(extra); // an included case's value off the axis
        var axis = axisFor(cases.Select(c => y(c)).OfType<double>());
        var palette = new ScottPlot.Palettes.Category10();
        var bars = new List<Bar>();
        int leftOut = 0;
        int slot = colourKeys.Count + 1;
        for (int g = 0; g < groupLabels.Count; g++)
        {
            for (int k = 0; k < colourKeys.Count; k++)
            {
                var c = cases.FirstOrDefault(c => ComparisonReport.Labels(c).GetValueOrDefault(group.Name, "") == groupLabels[g] && OthersKey(report, c, group.Name) == colourKeys[k]);
                if (c is null || y(c) is not { } v) continue;
                if (axis.Y(v) is not { } top)
                {
                    leftOut++;
                    continue;
                }
                bars.Add(new Bar
                {
                    Position = g * slot + k,
                    Value = top,
                    ValueBase = axis.Floor,
                    FillColor = palette.GetColor(k),
                    LineColor = c.Id == report.BaselineId ? Colors.Black : palette.GetColor(k),
                    LineWidth = c.Id == report.BaselineId ? 2 : 0,
                });
            }
        }
        plot.Add.Bars(bars);
        if (variant == Variant.Ratio) OneLine(plot, axis);
        plot.Axes.Bottom.SetTicks([.. Enumerable.Range(0, groupLabels.Count).Select(g => g * slot + (colourKeys.Count - 1) / 2.0)], [.. groupLabels]);
        plot.Axes.Bottom.MajorTickStyle.Length = 0;
        plot.XLabel(group.Name);
        if (!axis.Log) plot.Axes.Margins(bottom: 0);
        foreach (var (key, k) in colourKeys.Select((key, k) => (key, k)))
            plot.Legend.ManualItems.Add(new LegendItem { LabelText = key.Length == 0 ? what : key, FillColor = palette.GetColor(k) });
        plot.ShowLegend(Edge.Right);
        axis.Apply(plot, what);
        int width = Math.Clamp(360 + groupLabels.Count * slot * 18 + colourKeys.Max(k => k.Length) * 7, 760, 2400);
        return new Drawn(width, Height, leftOut);
    }

    private static Drawn Curve(Plot plot, Func<IEnumerable<double>, ValueAxis> axisFor, ComparisonReport report, List<CaseResult> cases, string axisName,
        Func<CaseResult, double?> y, Variant variant, string what)
    {
        var groups = cases
            .Where(c => Number(c.Parameters[axisName]) is not null)
            .GroupBy(c => OthersKey(report, c, axisName)) // in expansion order
            .ToList();
        var xs = cases.Select(c => Number(c.Parameters[axisName])).OfType<double>().Distinct().Order().ToList();
        bool log2 = xs.Count >= 3 && xs.All(x => x > 0 && double.IsInteger(Math.Log2(x))) && xs[^1] / xs[0] >= 8;
        double X(double x) => log2 ? Math.Log2(x) : x;
        var axis = axisFor(cases.Select(c => y(c)).OfType<double>());
        var palette = new ScottPlot.Palettes.Category10();
        int n = 0, leftOut = 0;
        foreach (var g in groups)
        {
            var points = new List<(double X, double Y)>();
            foreach (var c in g)
            {
                if (y(c) is not { } v) continue;
                if (axis.Y(v) is { } top) points.Add((X(Number(c.Parameters[axisName])!.Value), top));
                else leftOut++;
            }
            points.Sort((a, b) => a.X.CompareTo(b.X));
            var scatter = plot.Add.Scatter(points.Select(p => p.X).ToArray(), points.Select(p => p.Y).ToArray());
            scatter.LegendText = g.Key.Length == 0 ? what : g.Key;
            scatter.Color = palette.GetColor(n++);
            scatter.LineWidth = 2;
            scatter.MarkerSize = 7;
        }
        if (variant == Variant.Ratio) OneLine(plot, axis);
        if (log2)
            plot.Axes.Bottom.SetTicks([.. xs.Select(X)], [.. xs.Select(x => x.ToString(CultureInfo.InvariantCulture))]);
        if (groups.Count > 1 || groups.Any(g => g.Key.Length > 0)) plot.ShowLegend(Alignment.UpperRight);
        plot.XLabel(log2 ? axisName + " (log2 scale)" : axisName);
        axis.Apply(plot, what);
        return new Drawn(760, Height, leftOut);
    }

    public static string Render(ComparisonReport report) => Render(report, new HtmlOptions());

    public static string Render(ComparisonReport report, HtmlOptions options)
    {
        var chartNotes = new List<string>();
        var charts = Charts(report, chartNotes, options);
        var sb = new StringBuilder();
        static string E(string s) => WebUtility.HtmlEncode(s);
        // A long name may break after a dot, underscore, comma or '=' (metric names, case ids), and nowhere else.
        static string Breakable(string s)
        {
            var b = new StringBuilder();
            foreach (char ch in s)
            {
                b.Append(E(ch.ToString()));
                if (ch is '.' or '_' or ',' or '=' or '/' or ':') b.Append("<wbr>");
            }
            return b.ToString();
        }
        sb.Append("""
            <!DOCTYPE html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <link rel="icon" href="data:,">
            """);
        sb.Append(CultureInfo.InvariantCulture, $"<title>VmLab sweep {E(report.Sweep.Name)}</title>\n");
        sb.Append("""
            <style>
            body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
            table { border-collapse: collapse; font-size: 0.85em; }
            th, td { border: 1px solid #ccc; padding: 0.2em 0.45em; }
            th { vertical-align: bottom; overflow-wrap: anywhere; font-weight: 600; }
            th.m { max-width: 8em; }
            td.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
            td.n .r { display: block; font-size: 0.8em; color: #666; }
            td.id { overflow-wrap: anywhere; max-width: 16em; }
            tr.baseline { background: #fff3e0; }
            tr.failed { background: #fdecea; }
            dl.context { display: grid; grid-template-columns: max-content 1fr; gap: 0.2em 1em; margin: 1em 0; }
            dl.context dt { font-weight: 600; }
            dl.context dd { margin: 0; overflow-wrap: anywhere; }
            pre { background: #f6f6f6; padding: 0.6em; overflow-x: auto; max-width: 100%; }
            figure { margin: 1.5em 0; }
            figure img { max-width: 100%; border: 1px solid #eee; }
            .note { color: #8a4b00; }
            .scroll { overflow-x: auto; }
            </style>
            </head>
            <body>
            """);
        sb.Append(CultureInfo.InvariantCulture, $"<h1>Sweep {E(report.Sweep.Name)}</h1>\n");
        RenderContext(sb, report);

        sb.Append("<h2>Cases</h2>\n");
        sb.Append(CultureInfo.InvariantCulture, $"<p>{report.Cases.Count} case(s); baseline <code>{E(report.BaselineId)}</code> (shaded orange). Under each value, its ratio to the baseline's value (value / baseline).");
        var rateNames = report.Metrics.Where(ComparisonReport.IsRate).ToList();
        if (rateNames.Count > 0)
            sb.Append(" Rates are computed from stored metrics: ").AppendJoin("; ", rateNames.Select(r => $"<code>{E(r)}</code> = {E(DerivedRate.Find(r)!.Meaning.Split(": ", 2)[^1])}")).Append('.');
        sb.Append("</p>\n");
        foreach (var n in report.Notes) sb.Append(CultureInfo.InvariantCulture, $"<p class=\"note\">{E(n)}</p>\n");
        RenderTable(sb, report, Breakable);
        foreach (var c in report.Cases.Where(c => c.Status != Running.RunResult.Completed))
            sb.Append(CultureInfo.InvariantCulture, $"<p class=\"note\">failed <code>{E(c.Id)}</code>: {E(ComparisonReport.FirstLine(c.Error))}</p>\n");

        sb.Append("<h2>Charts</h2>\n");
        foreach (var note in chartNotes) sb.Append(CultureInfo.InvariantCulture, $"<p class=\"note\">{E(note)}</p>\n");
        if (charts.Count == 0 && chartNotes.Count == 0) sb.Append("<p>No completed case to draw.</p>\n");
        string? section = null;
        foreach (var chart in charts)
        {
            if (chart.Metric != section)
            {
                section = chart.Metric;
                sb.Append(CultureInfo.InvariantCulture, $"<h3>{E(chart.Metric)}</h3>\n");
            }
            string caption = chart.Title.Contains(" by case", StringComparison.Ordinal) ? $" (orange: the baseline {E(report.BaselineId)})"
                : chart.Title.Contains(" by ", StringComparison.Ordinal) ? " (outlined: the baseline)" : "";
            sb.Append(CultureInfo.InvariantCulture,
                $"<figure class=\"chart\"><img alt=\"{E(chart.Title)}\" src=\"data:image/png;base64,{Convert.ToBase64String(chart.Png)}\"><figcaption>{E(chart.Title)}{caption}</figcaption></figure>\n");
        }
        sb.Append("</body>\n</html>\n");
        return sb.ToString();
    }

    private static void RenderContext(StringBuilder sb, ComparisonReport report)
    {
        static string E(string s) => WebUtility.HtmlEncode(s);
        var context = report.Context;
        if (context.Description is { Length: > 0 } description) sb.Append(CultureInfo.InvariantCulture, $"<p class=\"description\">{E(description)}</p>\n");
        sb.Append("<dl class=\"context\">\n");
        void Item(string term, string html) => sb.Append(CultureInfo.InvariantCulture, $"<dt>{E(term)}</dt><dd>{html}</dd>\n");
        Item("Sweep file", $"<code>{E(report.Sweep.File)}</code>");
        if (context.Description is null) Item("Description", "<span class=\"note\">not recorded</span>");
        if (context.Base is { } b)
            Item("Base experiment", (b.File is null ? "written inline in the sweep file" : $"<code>{E(b.File)}</code>") + (b.Name is null ? "" : $" (<code>{E(b.Name)}</code>)"));
        if (context.Overrides is { Count: > 0 } overrides)
            Item("Overrides", string.Join(" ", overrides.Select(o => $"<code>--set {E(o)}</code>")));
        if (context.Traces is { } traces)
            Item(traces.Count == 1 ? "Trace" : "Traces", traces.Count == 0 ? "no trace file (generated or scripted workloads)"
                : string.Join("<br>", traces.Select(t => $"<code>{E(t.Path)}</code> ({E(t.Workload)}, {E(SweepContext.Size(t.Bytes))}, SHA-256 <code>{E(t.Sha256)}</code>)")));
        if (context.VmLabVersions is { } versions) Item("VmLab", E(string.Join(", ", versions)));
        var plugins = report.PluginVersions();
        if (plugins.Count > 0)
            Item("Plugins", string.Join(", ", plugins.Select(p => $"<code>{E(p.Key)}</code> {E(string.Join(" / ", p.Value))}")));
        if (report.RunDates() is { } dates) Item("Ran", $"{E(ComparisonReport.Date(dates.From))} to {E(ComparisonReport.Date(dates.To))}");
        var hosts = report.Hosts();
        if (hosts.Count > 0) Item(hosts.Count == 1 ? "Host" : "Hosts", E(string.Join(", ", hosts)));
        sb.Append("</dl>\n");
        if (report.MissingContext() is { } missing) sb.Append(CultureInfo.InvariantCulture, $"<p class=\"note\">Context {E(missing)}.</p>\n");
        if (context.Base is { } based)
        {
            string json = based.Config.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
            sb.Append(CultureInfo.InvariantCulture,
                $"<details><summary>Base experiment {(based.Resolved ? "as resolved (overrides applied, defaults filled)" : "as written (not a valid experiment without the sweep's axes), overrides applied when run")}</summary><pre>{E(json)}</pre></details>\n");
        }
    }

    private static void RenderTable(StringBuilder sb, ComparisonReport report, Func<string, string> breakable)
    {
        static string E(string s) => WebUtility.HtmlEncode(s);
        var axes = report.AxisNames;
        bool byAxis = axes.Count > 0;
        bool anyFailed = report.Cases.Any(c => c.Status != Running.RunResult.Completed);
        sb.Append("<div class=\"scroll\"><table id=\"comparison\">\n<thead><tr>");
        if (byAxis) foreach (var a in axes) sb.Append(CultureInfo.InvariantCulture, $"<th class=\"axis\">{breakable(a)}</th>");
        else sb.Append("<th>case</th>");
        if (anyFailed) sb.Append("<th>status</th>");
        foreach (var m in report.Metrics)
        {
            string title = DerivedRate.Find(m) is { } rate ? $" title=\"{E(rate.Meaning)}\"" : "";
            sb.Append(CultureInfo.InvariantCulture, $"<th class=\"m\"{title}>{breakable(m)}</th>");
        }
        sb.Append("<th>seconds</th></tr></thead>\n<tbody>\n");
        foreach (var c in report.Cases)
        {
            bool baseline = c.Id == report.BaselineId;
            string cls = c.Status != Running.RunResult.Completed ? " class=\"failed\"" : baseline ? " class=\"baseline\"" : "";
            sb.Append(CultureInfo.InvariantCulture, $"<tr{cls} title=\"{E(c.Id)}{(baseline ? " (baseline)" : "")}\">");
            if (byAxis)
            {
                var labels = ComparisonReport.Labels(c);
                foreach (var a in axes) sb.Append(CultureInfo.InvariantCulture, $"<td class=\"id\">{breakable(labels.GetValueOrDefault(a, ""))}</td>");
            }
            else sb.Append(CultureInfo.InvariantCulture, $"<td class=\"id\">{breakable(c.Id)}{(baseline ? " (baseline)" : "")}</td>");
            if (anyFailed) sb.Append(CultureInfo.InvariantCulture, $"<td>{E(c.Status)}</td>");
            foreach (var m in report.Metrics)
            {
                string value = ComparisonReport.Format(m, report.ValueOf(c, m));
                string ratio = report.Ratio(c, m) is { } r ? "×" + ComparisonReport.RatioText(r) : "";
                sb.Append(CultureInfo.InvariantCulture, $"<td class=\"n\">{E(value)}<span class=\"r\">{E(ratio)}</span></td>");
            }
            sb.Append(CultureInfo.InvariantCulture, $"<td class=\"n\">{c.ElapsedSeconds.ToString("0.000", CultureInfo.InvariantCulture)}</td></tr>\n");
        }
        sb.Append("</tbody>\n</table></div>\n");
    }
}
