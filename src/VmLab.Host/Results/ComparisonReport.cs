using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using VmLab.Abstractions.Plugins;
using VmLab.Host.Config;
using VmLab.Host.Running;

namespace VmLab.Host.Results;

/// <summary>
/// A sweep's results compared case by case: chosen metrics, each with its ratio to the baseline case's value.
/// Rendered as a text table, CSV, JSON or a self-contained HTML page with charts (<see cref="HtmlReport"/>).
/// </summary>
public sealed class ComparisonReport
{
    /// <summary>Metrics shown first when the user names none, if they vary across cases.</summary>
    private static readonly string[] Preferred =
    [
        "tlb.misses", "walk.memrefs", "walk.count", "faults.total", "faults.major", "swap.outs", "swap.ins",
        "pages.resident_peak", "pagetable.pages", "tlb.flushes", "signals.sigsegv",
    ];

    private const int DefaultMetricCount = 6;

    private ComparisonReport(ResultSet results, string baselineId, CaseResult? baseline, IReadOnlyList<string> metrics, IReadOnlyList<string> notes)
    {
        Results = results;
        BaselineId = baselineId;
        Baseline = baseline;
        Metrics = metrics;
        Notes = notes;
    }

    public ResultSet Results { get; }
    public SweepInfo Sweep => Results.Sweep;
    public IReadOnlyList<CaseResult> Cases => Results.Cases;
    public string BaselineId { get; }
    /// <summary>The baseline's result when it completed; ratios are empty without it.</summary>
    public CaseResult? Baseline { get; }
    public IReadOnlyList<string> Metrics { get; }
    /// <summary>Things a reader must know (missing cases, a baseline without results).</summary>
    public IReadOnlyList<string> Notes { get; }

    /// <summary>Axis names in sweep order.</summary>
    public IReadOnlyList<string> AxisNames =>
        [.. Sweep.Axes.Select(a => a!["name"]!.GetValue<string>())];

    public static ComparisonReport Build(ResultSet results, string? baseline = null, IReadOnlyList<string>? metrics = null)
    {
        var notes = new List<string>();
        string baselineId = baseline ?? results.Sweep.BaselineId;
        var ids = results.Cases.Select(c => c.Id).ToList();
        var baseCase = results.Cases.FirstOrDefault(c => c.Id == baselineId);
        if (baseline is not null && baseCase is null)
            throw new VmLabInputException("--baseline", $"no case '{baseline}' in the results; {Suggest.Hint(baseline, ids)}");
        if (baseCase is null) notes.Add($"the baseline case {baselineId} has no result here; ratios are left empty");
        else if (baseCase.Status != RunResult.Completed)
        {
            notes.Add($"the baseline case {baselineId} failed; ratios are left empty");
            baseCase = null;
        }
        int missing = results.Sweep.CaseCount - results.Cases.Count;
        if (missing > 0) notes.Add($"{results.Cases.Count} of {results.Sweep.CaseCount} cases have results (the others are unfinished or ran in other shards)");
        int failed = results.Cases.Count(c => c.Status != RunResult.Completed);
        if (failed > 0) notes.Add($"{failed} case(s) failed");

        var completed = results.Cases.Where(c => c.Status == RunResult.Completed).ToList();
        var available = completed.SelectMany(c => c.Metrics.Keys).Distinct().Order(StringComparer.Ordinal).ToList();
        List<string> chosen;
        if (metrics is { Count: > 0 })
        {
            chosen = [];
            foreach (var m in metrics)
            {
                if (!available.Contains(m, StringComparer.Ordinal))
                    throw new VmLabInputException("--metrics", $"no metric '{m}' in the results; {Suggest.Hint(m, available)}");
                if (!chosen.Contains(m)) chosen.Add(m);
            }
        }
        else
        {
            bool Varies(string m) => completed.Select(c => c.Metrics.GetValueOrDefault(m)).Distinct().Count() > 1;
            chosen = [.. Preferred.Where(m => available.Contains(m) && Varies(m))];
            if (chosen.Count == 0) chosen.AddRange(available.Where(Varies));
            chosen = [.. chosen.Take(DefaultMetricCount)];
            if (chosen.Count == 0) chosen = [.. new[] { "accesses", "tlb.misses", "walk.memrefs" }.Where(available.Contains)];
        }
        return new ComparisonReport(results, baselineId, baseCase, chosen, notes);
    }

    /// <summary>The value of a metric for a case, or null when the case failed or lacks it.</summary>
    public static long? Value(CaseResult c, string metric) =>
        c.Status == RunResult.Completed && c.Metrics.TryGetValue(metric, out var v) ? v : null;

    /// <summary>value / baseline value; null without a baseline, or when the baseline is 0 and the value is not.</summary>
    public double? Ratio(CaseResult c, string metric)
    {
        if (Baseline is null || Value(c, metric) is not { } v || Value(Baseline, metric) is not { } b) return null;
        if (b == 0) return v == 0 ? 1.0 : null;
        return (double)v / b;
    }

    /// <summary>A case's axis labels, axis name → label, read from its id (<c>name=label,...</c>).</summary>
    public static Dictionary<string, string> Labels(CaseResult c)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        if (c.Id == "base") return result;
        foreach (var part in c.Id.Split(','))
        {
            int eq = part.IndexOf('=');
            if (eq > 0) result[part[..eq]] = part[(eq + 1)..];
        }
        return result;
    }

    private static string Number(long? v) => v is { } x ? x.ToString("N0", CultureInfo.InvariantCulture) : "-";
    private static string RatioText(double? r) => r is { } x ? x.ToString("0.000", CultureInfo.InvariantCulture) : "-";

    /// <summary>The table as rows of cells: header first.</summary>
    public List<string[]> Table()
    {
        var header = new List<string> { "case", "status" };
        foreach (var m in Metrics)
        {
            header.Add(m);
            header.Add("ratio");
        }
        header.Add("seconds");
        var rows = new List<string[]> { header.ToArray() };
        foreach (var c in Cases)
        {
            var row = new List<string> { c.Id == BaselineId ? c.Id + " (baseline)" : c.Id, c.Status };
            foreach (var m in Metrics)
            {
                row.Add(Number(Value(c, m)));
                row.Add(RatioText(Ratio(c, m)));
            }
            row.Add(c.ElapsedSeconds.ToString("0.000", CultureInfo.InvariantCulture));
            rows.Add(row.ToArray());
        }
        return rows;
    }

    public string ToText()
    {
        var sb = new StringBuilder();
        sb.AppendLine(CultureInfo.InvariantCulture, $"sweep {Sweep.Name}: {Cases.Count} case(s), baseline {BaselineId}");
        var rows = Table();
        var widths = new int[rows[0].Length];
        foreach (var row in rows)
            for (int i = 0; i < row.Length; i++) widths[i] = Math.Max(widths[i], row[i].Length);
        for (int r = 0; r < rows.Count; r++)
        {
            var cells = rows[r].Select((cell, i) => i < 2 ? cell.PadRight(widths[i]) : cell.PadLeft(widths[i]));
            sb.Append("  ").AppendJoin("  ", cells).AppendLine();
            if (r == 0) sb.Append("  ").AppendJoin("  ", widths.Select(w => new string('-', w))).AppendLine();
        }
        foreach (var c in Cases.Where(c => c.Status != RunResult.Completed))
            sb.AppendLine(CultureInfo.InvariantCulture, $"  failed {c.Id}: {FirstLine(c.Error)}");
        foreach (var n in Notes) sb.AppendLine(CultureInfo.InvariantCulture, $"  note: {n}");
        return sb.ToString();
    }

    public static string FirstLine(string? text) => text is null ? "" : text.Split('\n')[0].TrimEnd('\r');

    public string ToCsv()
    {
        var sb = new StringBuilder();
        var header = new List<string> { "case", "status" };
        header.AddRange(AxisNames);
        foreach (var m in Metrics)
        {
            header.Add(m);
            header.Add(m + "/baseline");
        }
        header.Add("elapsed_seconds");
        header.Add("error");
        sb.AppendJoin(',', header.Select(Csv)).Append('\n');
        foreach (var c in Cases)
        {
            var labels = Labels(c);
            var row = new List<string> { c.Id, c.Status };
            row.AddRange(AxisNames.Select(a => labels.GetValueOrDefault(a, "")));
            foreach (var m in Metrics)
            {
                row.Add(Value(c, m)?.ToString(CultureInfo.InvariantCulture) ?? "");
                row.Add(Ratio(c, m)?.ToString("R", CultureInfo.InvariantCulture) ?? "");
            }
            row.Add(c.ElapsedSeconds.ToString("R", CultureInfo.InvariantCulture));
            row.Add(FirstLine(c.Error));
            sb.AppendJoin(',', row.Select(Csv)).Append('\n');
        }
        return sb.ToString();
    }

    private static string Csv(string s) => CsvCell.Of(s);

    public JsonObject ToJson()
    {
        var cases = new JsonArray();
        foreach (var c in Cases)
        {
            var metrics = new JsonObject();
            var ratios = new JsonObject();
            foreach (var m in Metrics)
            {
                metrics[m] = Value(c, m);
                ratios[m] = Ratio(c, m);
            }
            var all = new JsonObject();
            foreach (var (k, v) in c.Metrics) all[k] = v;
            var o = new JsonObject
            {
                ["id"] = c.Id,
                ["status"] = c.Status,
                ["parameters"] = c.Parameters.DeepClone(),
                ["seed"] = c.Seed,
                ["metrics"] = metrics,
                ["ratios"] = ratios,
                ["allMetrics"] = all,
                ["elapsedSeconds"] = c.ElapsedSeconds,
            };
            if (c.Error is not null) o["error"] = c.Error;
            cases.Add(o);
        }
        return new JsonObject
        {
            ["sweep"] = Sweep.Name,
            ["baseline"] = BaselineId,
            ["metrics"] = new JsonArray([.. Metrics.Select(m => (JsonNode)JsonValue.Create(m)!)]),
            ["cases"] = cases,
            ["notes"] = new JsonArray([.. Notes.Select(n => (JsonNode)JsonValue.Create(n)!)]),
        };
    }
}
