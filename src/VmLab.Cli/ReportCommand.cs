using System.CommandLine;
using System.Text.Json;
using VmLab.Host.Results;

namespace VmLab.Cli;

/// <summary>
/// <c>vmlab report &lt;results.db&gt; [--html file] [--csv file] [--csv-format wide|long] [--json file|-] [--baseline CASE]
/// [--metrics m1,m2|all] [--scale linear|log] [--charts value|ratio|both]</c>: the comparison table on stdout, and the
/// same comparison as HTML with charts, CSV or JSON.
/// </summary>
internal sealed class ReportCommand(TextWriter stdout)
{
    public Command Definition() => Opt.Command("report", "Compare the cases of a results database: a table on stdout, HTML with charts, CSV or JSON.",
        Opt.Positional("results.db", "the results database a sweep wrote"),
        [
            Opt.Value("--html", "file", "write the comparison as an HTML page with charts"),
            Opt.Value("--csv", "file", "write the comparison as CSV"),
            Opt.Value("--json", "file|-", "write the comparison as JSON to a file, or to stdout with - (instead of the table)"),
            Opt.Value("--baseline", "CASE", "the case ratios are computed against (default: the sweep's baseline)"),
            Opt.Value("--metrics", "m1,m2|all", "the metrics and derived rates to compare, separated by commas, or all (names: docs/metrics.md)"),
            Opt.Choice("--csv-format", "wide: one row per case (default); long: one row per case and metric, for data frames", "wide", "long"),
            Opt.Choice("--scale", "the charts' value axis: linear (default) or log (base 10)", "linear", "log"),
            Opt.Choice("--charts", "what the HTML charts draw: the values, their ratios to the baseline, or both (default)", "value", "ratio", "both"),
        ], Run);

    private int Run(Arguments a)
    {
        if (a.Positionals.Count != 1)
            throw new UsageException("report takes one results database, e.g. vmlab report results.db --html report.html");
        var metrics = a.Value("--metrics")?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (metrics is { Length: 0 }) throw new UsageException("--metrics expects metric names separated by commas, e.g. --metrics tlb.misses,walk.memrefs, or all");
        bool longCsv = a.Value("--csv-format") switch
        {
            null or "wide" => false,
            "long" => true,
            { } other => throw new UsageException($"--csv-format expects wide (one row per case, the default) or long (one row per case and metric), got '{other}'"),
        };
        var html = new HtmlOptions
        {
            Scale = a.Value("--scale") switch
            {
                null or "linear" => ChartScale.Linear,
                "log" => ChartScale.Log,
                { } other => throw new UsageException($"--scale expects linear (the default) or log, got '{other}'"),
            },
            Values = a.Value("--charts") switch
            {
                null or "both" => ChartValues.Both,
                "value" => ChartValues.Value,
                "ratio" => ChartValues.Ratio,
                { } other => throw new UsageException($"--charts expects value, ratio or both (the default), got '{other}'"),
            },
        };

        // Every output is checked before anything is read or rendered.
        foreach (var option in new[] { "--json", "--csv", "--html" })
            if (a.Value(option) is { } target && !(option == "--json" && target == "-")) OutputTarget.Check(target);

        ResultSet results;
        using (var store = ResultStore.OpenReadOnly(a.Positionals[0])) results = store.Read(); // the database is only read: its file and journal mode stay as they are
        var report = ComparisonReport.Build(results, a.Value("--baseline"), metrics);

        // Render everything before writing anything: a bad option leaves no file behind.
        string? json = a.Value("--json");
        string? jsonText = json is null ? null : report.ToJson().ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n";
        string? csvText = a.Value("--csv") is null ? null : longCsv ? report.ToLongCsv() : report.ToCsv();
        string? htmlText = a.Value("--html") is null ? null : HtmlReport.Render(report, html);

        if (json is not null && json != "-") OutputTarget.WriteText(json, jsonText!);
        if (a.Value("--csv") is { } csv) OutputTarget.WriteText(csv, csvText!);
        if (a.Value("--html") is { } htmlFile) OutputTarget.WriteText(htmlFile, htmlText!);
        if (json == "-") stdout.Write(jsonText);
        else stdout.Write(report.ToText());
        return VmLabCommand.ExitOk;
    }
}
