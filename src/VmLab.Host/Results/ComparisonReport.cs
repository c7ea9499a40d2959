using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using VmLab.Abstractions.Plugins;
using VmLab.Abstractions.Timing;
using VmLab.Host.Config;
using VmLab.Host.Running;

namespace VmLab.Host.Results;

/// <summary>What a sweep varies, which decides the metrics its report shows first.</summary>
public enum SweepKind
{
    /// <summary>Nothing below: TLB misses and walks first.</summary>
    General,
    /// <summary>An axis on <c>machine:memory</c> or <c>machine:replacement</c>: faults and swap first.</summary>
    Paging,
    /// <summary>An axis on <c>machine:tlb</c>: TLB misses and the miss ratio first.</summary>
    Tlb,
    /// <summary>An axis on <c>machine:pageTable</c>: walk memory references first.</summary>
    PageTable,
}

/// <summary>
/// A sweep's results compared case by case: chosen metrics and derived rates (<see cref="DerivedRate"/>), each with its
/// ratio to the baseline case's value, and the context the numbers come from. Rendered as a text table, CSV (wide or
/// long), JSON or a self-contained HTML page with charts (<see cref="HtmlReport"/>).
/// </summary>
public sealed class ComparisonReport
{
    /// <summary>The word <c>--metrics</c> takes for every stored metric and every rate the results allow.</summary>
    public const string AllMetrics = "all";

    /// <summary>Metrics shown first when the user names none, by what the sweep varies; those that do not vary are left out.</summary>
    private static readonly Dictionary<SweepKind, string[]> Preferred = new()
    {
        [SweepKind.Paging] =
        [
            "faults.total", "faults.major", "swap.outs", "swap.ins", "faults.per_kilo_access", "reclaim.direct", "pages.resident_peak",
            "tlb.misses", "walk.memrefs",
        ],
        [SweepKind.Tlb] = ["tlb.misses", "tlb.miss_ratio", "walk.memrefs", "walk.count", "tlb.flushes", "faults.total", "mpki"],
        [SweepKind.PageTable] = ["walk.memrefs", "walk.memrefs_per_walk", "walk.count", "tlb.misses", "pagetable.pages", "faults.total"],
        [SweepKind.General] =
        [
            "tlb.misses", "walk.memrefs", "walk.count", "faults.total", "faults.major", "swap.outs", "swap.ins",
            "pages.resident_peak", "pagetable.pages", "tlb.flushes", "signals.sigsegv",
        ],
    };

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
    /// <summary>The chosen columns: stored metrics and derived rates, in order.</summary>
    public IReadOnlyList<string> Metrics { get; }
    /// <summary>What the sweep varies (which decided the default metrics).</summary>
    public SweepKind Kind => KindOf(Sweep);
    public SweepContext Context => Sweep.Context;
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
        var stored = completed.SelectMany(c => c.Metrics.Keys).Distinct().Order(StringComparer.Ordinal).ToList();
        var storedSet = stored.ToHashSet(StringComparer.Ordinal);
        var rates = DerivedRate.All.Where(r => completed.Any(c => c.Metrics.ContainsKey(r.Numerator) && c.Metrics.ContainsKey(r.Denominator)))
                                   .Select(r => r.Name).ToList();
        List<string> chosen;
        if (metrics is { Count: > 0 })
        {
            chosen = [];
            foreach (var m in metrics)
            {
                if (m == AllMetrics)
                {
                    foreach (var name in stored.Concat(rates)) if (!chosen.Contains(name)) chosen.Add(name);
                    continue;
                }
                if (!storedSet.Contains(m) && !rates.Contains(m))
                {
                    if (DerivedRate.Find(m) is { } rate)
                    {
                        string lacking = string.Join(" and ", new[] { rate.Numerator, rate.Denominator }.Where(x => !storedSet.Contains(x)).Select(x => $"'{x}'"));
                        throw new VmLabInputException("--metrics", $"the rate '{m}' ({rate.Meaning}) needs the metric {lacking}, which no completed case here holds" +
                            (rate.Denominator == DerivedRate.Instructions ? "; no built-in workload counts instructions (docs/metrics.md, \"Derived rates\")" : ""));
                    }
                    throw new VmLabInputException("--metrics", $"no metric or rate '{m}' in the results; {Suggest.Hint(m, [.. stored, .. DerivedRate.All.Select(r => r.Name), AllMetrics])}");
                }
                if (!chosen.Contains(m)) chosen.Add(m);
            }
        }
        else
        {
            bool Varies(string m) => completed.Select(c => RateOrMetric(c, m)).Distinct().Count() > 1;
            bool Known(string m) => storedSet.Contains(m) || rates.Contains(m);
            chosen = [.. Preferred[KindOf(results.Sweep)].Where(m => Known(m) && Varies(m))];
            if (chosen.Count == 0) chosen.AddRange(stored.Where(Varies));
            // With a timing model the cases compare by estimated time first: seconds (comparable across clocks) and cycles.
            string[] time = [.. ((string[])[TimeMetrics.Seconds, TimeMetrics.Cycles]).Where(Known)];
            chosen = [.. time, .. chosen.Where(m => !time.Contains(m)).Take(DefaultMetricCount - time.Length)];
            if (chosen.Count == 0) chosen = [.. new[] { "accesses", "tlb.misses", "walk.memrefs" }.Where(storedSet.Contains)];
        }
        return new ComparisonReport(results, baselineId, baseCase, chosen, notes);
    }

    /// <summary>What a sweep varies, from its axes' keys: paging before TLB before page table.</summary>
    public static SweepKind KindOf(SweepInfo sweep)
    {
        var keys = sweep.Axes.OfType<JsonObject>().Select(a => a["key"] is JsonValue v && v.TryGetValue<string>(out var k) ? k : "").ToList();
        bool Any(params string[] prefixes) =>
            keys.Any(k => prefixes.Any(p => k.Equals(p, StringComparison.OrdinalIgnoreCase) || k.StartsWith(p + ":", StringComparison.OrdinalIgnoreCase)));
        if (Any("machine:memory", "machine:replacement")) return SweepKind.Paging;
        if (Any("machine:tlb")) return SweepKind.Tlb;
        if (Any("machine:pageTable")) return SweepKind.PageTable;
        return SweepKind.General;
    }

    /// <summary>Whether a chosen column is a derived rate (computed) rather than a stored metric.</summary>
    public static bool IsRate(string name) => DerivedRate.Find(name) is not null;

    private static double? RateOrMetric(CaseResult c, string name)
    {
        if (c.Status != RunResult.Completed) return null;
        if (DerivedRate.Find(name) is { } rate) return rate.Of(c.Metrics);
        return c.Metrics.TryGetValue(name, out var v) ? v : null;
    }

    /// <summary>The value of a chosen metric or rate for a case, or null when the case failed or lacks it.</summary>
    public double? ValueOf(CaseResult c, string name) => RateOrMetric(c, name);

    /// <summary>value / baseline value; null without a baseline, or when the baseline is 0 and the value is not.</summary>
    public double? Ratio(CaseResult c, string metric)
    {
        if (Baseline is null || RateOrMetric(c, metric) is not { } v || RateOrMetric(Baseline, metric) is not { } b) return null;
        if (b == 0) return v == 0 ? 1.0 : null;
        return v / b;
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

    /// <summary>A value as the tables show it: a metric with thousands separators, a rate with four significant digits.</summary>
    public static string Format(string name, double? v)
    {
        if (v is not { } x) return "-";
        if (!IsRate(name)) return x.ToString("N0", CultureInfo.InvariantCulture);
        if (x == 0) return "0";
        if (Math.Abs(x) >= 1000) return x.ToString("N0", CultureInfo.InvariantCulture);
        int decimals = Math.Clamp(3 - (int)Math.Floor(Math.Log10(Math.Abs(x))), 0, 12);
        return x.ToString("N" + decimals.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);
    }

    public static string RatioText(double? r) => r is { } x ? x.ToString("0.000", CultureInfo.InvariantCulture) : "-";

    /// <summary>Plugin name → the versions the cases ran (more than one when cases ran with different builds).</summary>
    public SortedDictionary<string, List<string>> PluginVersions()
    {
        var result = new SortedDictionary<string, List<string>>(StringComparer.Ordinal);
        foreach (var c in Cases)
            foreach (var (plugin, version) in c.Plugins)
            {
                if (!result.TryGetValue(plugin, out var list)) result[plugin] = list = [];
                if (!list.Contains(version)) list.Add(version);
            }
        return result;
    }

    /// <summary>When the stored cases ran: the first start and the last finish (UTC), or null without cases.</summary>
    public (DateTime From, DateTime To)? RunDates() =>
        Cases.Count == 0 ? null : (Cases.Min(c => c.StartedUtc), Cases.Max(c => c.FinishedUtc));

    /// <summary>The hosts the stored cases ran on, in order of first appearance.</summary>
    public IReadOnlyList<string> Hosts() => [.. Cases.Select(c => c.Host).Distinct(StringComparer.Ordinal)];

    public static string Date(DateTime utc) => utc.ToUniversalTime().ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture) + " UTC";

    /// <summary>Why parts of the context are missing, or null when all are recorded.</summary>
    public string? MissingContext()
    {
        var missing = Context.Missing();
        if (missing.Count == 0) return null;
        return $"not recorded in this database: {string.Join(", ", missing)}" +
               (Sweep.SchemaVersion < 2 ? $" (schema {Sweep.SchemaVersion.ToString(CultureInfo.InvariantCulture)}: written by a VmLab that did not record them; run the sweep again into a new --db to have them)" : "");
    }

    /// <summary>The context in one line, as the text table's header gives it.</summary>
    public string ContextLine()
    {
        var parts = new List<string>();
        if (Context.Base is { } b)
            parts.Add($"base {b.File ?? "inline"}{(b.Name is null ? "" : $" ({b.Name})")}");
        if (Context.Overrides is { Count: > 0 } overrides) parts.Add("--set " + string.Join(" --set ", overrides));
        if (Context.Traces is { } traces)
            parts.Add(traces.Count == 0 ? "no trace file" : string.Join(", ", traces.Select(t => $"trace {t.Path} ({SweepContext.Size(t.Bytes)}, sha256 {(t.Sha256.Length >= 12 ? t.Sha256[..12] : "?")})")));
        if (Context.VmLabVersions is { } versions) parts.Add("VmLab " + string.Join(", ", versions));
        if (RunDates() is { } dates) parts.Add($"ran {Date(dates.From)} to {Date(dates.To)} on {string.Join(", ", Hosts())}");
        if (MissingContext() is { } missing) parts.Add(missing);
        return string.Join("; ", parts);
    }

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
                row.Add(Format(m, ValueOf(c, m)));
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
        if (Context.Description is { Length: > 0 } description) sb.AppendLine(CultureInfo.InvariantCulture, $"  {FirstLine(description)}");
        sb.AppendLine(CultureInfo.InvariantCulture, $"  {ContextLine()}");
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
                row.Add(CsvNumber(ValueOf(c, m)));
                row.Add(CsvNumber(Ratio(c, m)));
            }
            row.Add(c.ElapsedSeconds.ToString("R", CultureInfo.InvariantCulture));
            row.Add(FirstLine(c.Error));
            sb.AppendJoin(',', row.Select(Csv)).Append('\n');
        }
        return sb.ToString();
    }

    private static string Csv(string s) => CsvCell.Of(s);

    /// <summary>A number for CSV and JSON readers: integers as integers, others round-trippable; empty for none.</summary>
    private static string CsvNumber(double? v) => v is not { } x ? ""
        : double.IsInteger(x) && Math.Abs(x) < 1e15 ? ((long)x).ToString(CultureInfo.InvariantCulture)
        : x.ToString("R", CultureInfo.InvariantCulture);

    private static JsonNode? JsonNumber(double? v) => v is not { } x ? null
        : double.IsInteger(x) && Math.Abs(x) < 1e15 ? JsonValue.Create((long)x)
        : JsonValue.Create(x);

    /// <summary>
    /// The comparison in long form, for data frames: one row per case and chosen metric or rate, with the case's
    /// axis labels as columns: <c>case,status,AXIS...,metric,value,ratio</c>. A failed case has its rows with empty values.
    /// </summary>
    public string ToLongCsv()
    {
        var sb = new StringBuilder();
        var header = new List<string> { "case", "status" };
        header.AddRange(AxisNames);
        header.AddRange(["metric", "value", "ratio"]);
        sb.AppendJoin(',', header.Select(Csv)).Append('\n');
        foreach (var c in Cases)
        {
            var labels = Labels(c);
            var prefix = new List<string> { c.Id, c.Status };
            prefix.AddRange(AxisNames.Select(a => labels.GetValueOrDefault(a, "")));
            foreach (var m in Metrics)
            {
                sb.AppendJoin(',', prefix.Select(Csv)).Append(',');
                sb.AppendJoin(',', new[] { m, CsvNumber(ValueOf(c, m)), CsvNumber(Ratio(c, m)) }.Select(Csv)).Append('\n');
            }
        }
        return sb.ToString();
    }

    public JsonObject ToJson()
    {
        var cases = new JsonArray();
        foreach (var c in Cases)
        {
            var metrics = new JsonObject();
            var ratios = new JsonObject();
            foreach (var m in Metrics)
            {
                metrics[m] = JsonNumber(ValueOf(c, m));
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
                ["startedUtc"] = c.StartedUtc.ToString("O", CultureInfo.InvariantCulture),
                ["finishedUtc"] = c.FinishedUtc.ToString("O", CultureInfo.InvariantCulture),
                ["host"] = c.Host,
            };
            if (c.Error is not null) o["error"] = c.Error;
            cases.Add(o);
        }
        var context = Context.ToJson();
        context["schema"] = Sweep.SchemaVersion;
        var plugins = new JsonObject();
        foreach (var (plugin, versions) in PluginVersions())
            plugins[plugin] = new JsonArray([.. versions.Select(v => (JsonNode)JsonValue.Create(v)!)]);
        context["plugins"] = plugins;
        var dates = RunDates();
        context["firstStartedUtc"] = dates?.From.ToString("O", CultureInfo.InvariantCulture);
        context["lastFinishedUtc"] = dates?.To.ToString("O", CultureInfo.InvariantCulture);
        context["hosts"] = new JsonArray([.. Hosts().Select(h => (JsonNode)JsonValue.Create(h)!)]);
        var rates = new JsonObject();
        foreach (var m in Metrics)
            if (DerivedRate.Find(m) is { } rate) rates[m] = rate.Meaning;
        return new JsonObject
        {
            ["sweep"] = Sweep.Name,
            ["file"] = Sweep.File,
            ["kind"] = Kind.ToString().ToLowerInvariant(),
            ["context"] = context,
            ["baseline"] = BaselineId,
            ["metrics"] = new JsonArray([.. Metrics.Select(m => (JsonNode)JsonValue.Create(m)!)]),
            ["rates"] = rates,
            ["cases"] = cases,
            ["notes"] = new JsonArray([.. Notes.Select(n => (JsonNode)JsonValue.Create(n)!)]),
        };
    }
}
