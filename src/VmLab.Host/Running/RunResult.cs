using System.Text.Json.Nodes;

namespace VmLab.Host.Running;

/// <summary>The outcome of one run, as <c>--json</c> writes it.</summary>
public sealed record RunResult(
    string Name,
    ulong Seed,
    JsonObject Config,
    IReadOnlyDictionary<string, string> Plugins,
    IReadOnlyDictionary<string, long> Metrics,
    double ElapsedSeconds,
    string Status,
    string? Error,
    IReadOnlyList<string> Events,
    IReadOnlyList<VmLab.Abstractions.Workloads.Expectation> Expectations)
{
    public const string Completed = "completed";
    public const string Failed = "failed";
    /// <summary>The simulation ran to the end but an expectation did not hold.</summary>
    public const string ExpectationFailed = "expectation-failed";

    public JsonObject ToJson()
    {
        var metrics = new JsonObject();
        foreach (var (k, v) in Metrics) metrics[k] = v;
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
        if (Expectations.Count > 0)
        {
            json["expectations"] = new JsonObject
            {
                ["passed"] = Expectations.Count(e => e.Passed),
                ["failed"] = Expectations.Count(e => !e.Passed),
                ["failures"] = new JsonArray([.. Expectations.Where(e => !e.Passed).Select(e => (JsonNode)JsonValue.Create(e.ToString())!)]),
            };
        }
        return json;
    }
}
