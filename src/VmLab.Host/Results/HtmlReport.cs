using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using ScottPlot;

namespace VmLab.Host.Results;

/// <summary>A chart of the report: its title and PNG image.</summary>
public sealed record Chart(string Title, byte[] Png);

/// <summary>
/// The comparison as one self-contained HTML file: the table, a bar chart per chosen metric across cases, and a
/// curve per chosen metric against each numeric axis (TLB entries, memory frames, ...), one line per combination of
/// the other axes. Charts are drawn with ScottPlot and embedded as base64 PNG; the page loads nothing else and runs
/// no script.
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

    public static IReadOnlyList<Chart> Charts(ComparisonReport report) => Charts(report, []);

    /// <summary>The charts; a chart too large to draw legibly is left out and <paramref name="notes"/> says which and why.</summary>
    public static IReadOnlyList<Chart> Charts(ComparisonReport report, List<string> notes)
    {
        var charts = new List<Chart>();
        var completed = report.Cases.Where(c => c.Status == Running.RunResult.Completed).ToList();
        if (completed.Count == 0) return charts;
        if (completed.Count <= MaxBarCases)
        {
            foreach (var metric in report.Metrics)
                charts.Add(new Chart($"{metric} by case", BarChart(report, completed, metric)));
        }
        else
        {
            notes.Add(string.Create(CultureInfo.InvariantCulture,
                $"no bar chart by case: {completed.Count:N0} completed cases, more than {MaxBarCases:N0} bars can show; the table, --csv and --json have every case"));
        }
        foreach (var axis in report.Sweep.Axes.OfType<JsonObject>())
        {
            string name = axis["name"]?.GetValue<string>() ?? "";
            var values = (axis["values"] as JsonArray ?? []).Select(v => Number(v?["value"])).ToList();
            if (values.Count < 2 || values.Any(v => v is null)) continue;
            int curves = completed.Select(c => string.Join(",", report.AxisNames.Where(a => a != name).Select(a => ComparisonReport.Labels(c).GetValueOrDefault(a, ""))))
                                  .Distinct(StringComparer.Ordinal).Count();
            if (completed.Count > MaxCurvePoints || curves > MaxCurves)
            {
                notes.Add(string.Create(CultureInfo.InvariantCulture,
                    $"no curves against {name}: {curves:N0} curves of {completed.Count:N0} points in all, more than {MaxCurves} curves or {MaxCurvePoints:N0} points can show; report a slice with --metrics or a sweep with fewer axes"));
                continue;
            }
            foreach (var metric in report.Metrics)
                charts.Add(new Chart($"{metric} against {name}", Curve(report, completed, metric, name)));
        }
        return charts;
    }

    private static double? Number(JsonNode? node) =>
        node is JsonValue v && v.GetValueKind() == System.Text.Json.JsonValueKind.Number
            ? double.Parse(v.ToJsonString(), CultureInfo.InvariantCulture)
            : null;

    private static byte[] BarChart(ComparisonReport report, List<CaseResult> cases, string metric)
    {
        var plot = new Plot();
        var values = cases.Select(c => (double)(ComparisonReport.Value(c, metric) ?? 0)).ToArray();
        var bars = plot.Add.Bars(values);
        for (int i = 0; i < cases.Count; i++)
        {
            bars.Bars[i].FillColor = cases[i].Id == report.BaselineId ? Colors.DarkOrange : Colors.SteelBlue;
            bars.Bars[i].LineWidth = 0;
        }
        plot.Axes.Bottom.SetTicks([.. Enumerable.Range(0, cases.Count).Select(i => (double)i)], [.. cases.Select(c => c.Id)]);
        plot.Axes.Bottom.TickLabelStyle.Rotation = 45;
        plot.Axes.Bottom.TickLabelStyle.Alignment = Alignment.MiddleLeft;
        plot.Axes.Bottom.MajorTickStyle.Length = 0;
        int longest = cases.Max(c => c.Id.Length);
        plot.Axes.Bottom.MinimumSize = Math.Min(400, 16 + longest * 5);
        plot.Axes.Right.MinimumSize = Math.Min(300, 10 + longest * 5);
        plot.Axes.Margins(bottom: 0);
        plot.Title(metric);
        plot.YLabel(metric);
        int width = Math.Max(640, 160 + cases.Count * 28);
        return plot.GetImageBytes(width, Height + Math.Min(300, longest * 4), ImageFormat.Png);
    }

    private static byte[] Curve(ComparisonReport report, List<CaseResult> cases, string metric, string axis)
    {
        var plot = new Plot();
        var others = report.AxisNames.Where(a => a != axis).ToList();
        var groups = cases
            .Where(c => Number(c.Parameters[axis]) is not null)
            .GroupBy(c =>
            {
                var labels = ComparisonReport.Labels(c);
                return string.Join(",", others.Select(o => $"{o}={labels.GetValueOrDefault(o, "")}"));
            })
            .OrderBy(g => g.Key, StringComparer.Ordinal)
            .ToList();
        var xs = cases.Select(c => Number(c.Parameters[axis])).OfType<double>().Distinct().Order().ToList();
        bool log2 = xs.Count >= 3 && xs.All(x => x > 0 && double.IsInteger(Math.Log2(x))) && xs[^1] / xs[0] >= 8;
        double X(double x) => log2 ? Math.Log2(x) : x;
        var palette = new ScottPlot.Palettes.Category10();
        int n = 0;
        foreach (var g in groups)
        {
            var points = g.Select(c => (X: Number(c.Parameters[axis])!.Value, Y: (double)(ComparisonReport.Value(c, metric) ?? 0)))
                          .OrderBy(p => p.X).ToList();
            var scatter = plot.Add.Scatter(points.Select(p => X(p.X)).ToArray(), points.Select(p => p.Y).ToArray());
            scatter.LegendText = g.Key.Length == 0 ? metric : g.Key;
            scatter.Color = palette.GetColor(n++);
            scatter.LineWidth = 2;
            scatter.MarkerSize = 7;
        }
        if (log2)
            plot.Axes.Bottom.SetTicks([.. xs.Select(X)], [.. xs.Select(x => x.ToString(CultureInfo.InvariantCulture))]);
        if (groups.Count > 1 || groups.Any(g => g.Key.Length > 0)) plot.ShowLegend(Alignment.UpperRight);
        plot.Title($"{metric} against {axis}{(log2 ? " (log2 scale)" : "")}");
        plot.XLabel(axis);
        plot.YLabel(metric);
        return plot.GetImageBytes(760, Height, ImageFormat.Png);
    }

    public static string Render(ComparisonReport report)
    {
        var chartNotes = new List<string>();
        var charts = Charts(report, chartNotes);
        var sb = new StringBuilder();
        string E(string s) => WebUtility.HtmlEncode(s);
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
            table { border-collapse: collapse; font-size: 0.9em; }
            th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; }
            td.n { text-align: right; font-variant-numeric: tabular-nums; }
            tr.baseline { background: #fff3e0; }
            tr.failed { background: #fdecea; }
            figure { margin: 1.5em 0; }
            figure img { max-width: 100%; border: 1px solid #eee; }
            .note { color: #8a4b00; }
            .scroll { overflow-x: auto; }
            </style>
            </head>
            <body>
            """);
        sb.Append(CultureInfo.InvariantCulture, $"<h1>Sweep {E(report.Sweep.Name)}</h1>\n");
        sb.Append(CultureInfo.InvariantCulture, $"<p>{report.Cases.Count} case(s); baseline <code>{E(report.BaselineId)}</code>; ratios are value / baseline value.</p>\n");
        foreach (var n in report.Notes) sb.Append(CultureInfo.InvariantCulture, $"<p class=\"note\">{E(n)}</p>\n");

        var rows = report.Table();
        sb.Append("<div class=\"scroll\"><table id=\"comparison\">\n<thead><tr>");
        foreach (var h in rows[0]) sb.Append(CultureInfo.InvariantCulture, $"<th>{E(h)}</th>");
        sb.Append("</tr></thead>\n<tbody>\n");
        for (int r = 1; r < rows.Count; r++)
        {
            var c = report.Cases[r - 1];
            string cls = c.Status != Running.RunResult.Completed ? " class=\"failed\"" : c.Id == report.BaselineId ? " class=\"baseline\"" : "";
            sb.Append(CultureInfo.InvariantCulture, $"<tr{cls}>");
            for (int i = 0; i < rows[r].Length; i++)
                sb.Append(CultureInfo.InvariantCulture, $"<td{(i >= 2 ? " class=\"n\"" : "")}>{E(rows[r][i])}</td>");
            sb.Append("</tr>\n");
        }
        sb.Append("</tbody>\n</table></div>\n");
        foreach (var c in report.Cases.Where(c => c.Status != Running.RunResult.Completed))
            sb.Append(CultureInfo.InvariantCulture, $"<p class=\"note\">failed <code>{E(c.Id)}</code>: {E(ComparisonReport.FirstLine(c.Error))}</p>\n");

        sb.Append("<h2>Charts</h2>\n");
        foreach (var note in chartNotes) sb.Append(CultureInfo.InvariantCulture, $"<p class=\"note\">{E(note)}</p>\n");
        if (charts.Count == 0 && chartNotes.Count == 0) sb.Append("<p>No completed case to draw.</p>\n");
        foreach (var chart in charts)
        {
            sb.Append(CultureInfo.InvariantCulture,
                $"<figure class=\"chart\"><img alt=\"{E(chart.Title)}\" src=\"data:image/png;base64,{Convert.ToBase64String(chart.Png)}\"><figcaption>{E(chart.Title)}{(chart.Title.EndsWith(" by case", StringComparison.Ordinal) ? $" (orange: the baseline {E(report.BaselineId)})" : "")}</figcaption></figure>\n");
        }
        sb.Append("</body>\n</html>\n");
        return sb.ToString();
    }
}
