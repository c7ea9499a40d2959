using System.Text.Json.Nodes;

namespace VmLab.Host.Running;

/// <summary>The outcome of one run, as <c>--json</c> writes it.</summary>
/// <param name="ResolvedConfig">The experiment's resolved config, built when first asked for (<see cref="Config"/>).</param>
public sealed record RunResult(
    string Name,
    ulong Seed,
    Lazy<JsonObject> ResolvedConfig,
    IReadOnlyDictionary<string, string> Plugins,
    IReadOnlyDictionary<string, long> Metrics,
    double ElapsedSeconds,
    string Status,
    string? Error,
    IReadOnlyList<string> Events,
    IReadOnlyList<VmLab.Abstractions.Workloads.Expectation> Expectations)
{
    /// <summary>The experiment's resolved config (<see cref="VmLab.Host.Config.Experiment.ResolvedConfig"/>).</summary>
    public JsonObject Config => ResolvedConfig.Value;

    /// <summary>What the run's event recording produced, when it recorded events.</summary>
    public VmLab.Host.Events.EventSummary? EventStream { get; init; }

    public const string Completed = "completed";
    public const string Failed = "failed";
    /// <summary>The simulation ran to the end but an expectation did not hold.</summary>
    public const string ExpectationFailed = "expectation-failed";

    public JsonObject ToJson()
    {
        var metrics = new JsonObject();
        // time.seconds is derived from time.cycles and the profile's clock (not a counter): written among the metrics, in name order.
        double? seconds = VmLab.Abstractions.Timing.TimeMetrics.SecondsOf(Metrics);
        foreach (var (k, v) in Metrics)
        {
            if (seconds is { } sec && string.CompareOrdinal(k, VmLab.Abstractions.Timing.TimeMetrics.Seconds) > 0 && !metrics.ContainsKey(VmLab.Abstractions.Timing.TimeMetrics.Seconds))
                metrics[VmLab.Abstractions.Timing.TimeMetrics.Seconds] = sec;
            metrics[k] = v;
        }
        if (seconds is { } last && !metrics.ContainsKey(VmLab.Abstractions.Timing.TimeMetrics.Seconds)) metrics[VmLab.Abstractions.Timing.TimeMetrics.Seconds] = last;
        var plugins = new JsonObject();
        foreach (var (k, v) in Plugins) plugins[k] = v;
        var json = new JsonObject
        {
            ["name"] = Name,
            ["seed"] = Seed,
            ["config"] = Config.DeepClone(),
            ["plugins"] = plugins,
            ["metrics"] = metrics,
            ["elapsedSeconds"] = Math.Round(ElapsedSeconds, 6),
            ["status"] = Status,
        };
        if (Error is not null) json["error"] = Error;
        if (Events.Count > 0) json["events"] = new JsonArray([.. Events.Select(e => (JsonNode)JsonValue.Create(e)!)]);
        if (EventStream is { } s)
        {
            var stream = new JsonObject
            {
                ["recorded"] = s.Recorded,
                ["written"] = s.Written,
                ["leftOut"] = s.LeftOut,
            };
            if (s.Path is not null) stream["path"] = s.Path;
            if (s.Attribute != VmLab.Host.Events.AttributionMode.None)
            {
                stream["attribution"] = new JsonObject
                {
                    ["by"] = s.Attribute.ToString().ToLowerInvariant(),
                    ["keys"] = s.Keys,
                    ["top"] = new JsonArray([.. s.Top.Select(r => (JsonNode)new JsonObject
                    {
                        ["key"] = r.Key,
                        ["misses"] = r.Misses,
                        ["walks"] = r.Walks,
                        ["faults"] = r.Faults,
                    })]),
                };
            }
            json["eventStream"] = stream;
        }
        if (Expectations.Count > 0)
        {
            json["expectations"] = new JsonObject
            {
                ["passed"] = Expectations.Count(e => e.Passed),
                ["failed"] = Expectations.Count(e => !e.Passed),
                ["failures"] = new JsonArray([.. Expectations.Where(e => !e.Passed).Select(e => (JsonNode)JsonValue.Create(e.ToString())!)]),
                ["results"] = new JsonArray([.. Expectations.Select(e => (JsonNode)new JsonObject
                {
                    ["where"] = e.Where,
                    ["text"] = e.Text,
                    ["passed"] = e.Passed,
                    ["actual"] = e.Actual,
                })]),
            };
        }
        return json;
    }
}
