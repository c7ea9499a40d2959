using System.Text.Json.Nodes;
using VmLab.Host.Config;

namespace VmLab.Host.Sweeps;

/// <summary>One value an axis takes: the JSON value set at the axis key, its label in case ids, and where it was written.</summary>
public sealed record SweepValue(string Label, JsonNode Value, string Where)
{
    /// <summary>The value as a number when it is one (for curves against a swept size).</summary>
    public double? Number => Value is JsonValue v && v.GetValueKind() == System.Text.Json.JsonValueKind.Number
        ? double.Parse(v.ToJsonString(), System.Globalization.CultureInfo.InvariantCulture)
        : null;
}

/// <summary>
/// One varied key of the sweep: the config key path it sets (<c>machine:tlb:options:entries</c>), the short name
/// used in case ids (<c>entries</c>) and its values in file order.
/// </summary>
public sealed record SweepAxis(string Key, string Name, IReadOnlyList<SweepValue> Values, string Where)
{
    /// <summary>Every value is a number: results can be drawn as a curve against this axis.</summary>
    public bool IsNumeric => Values.Count > 0 && Values.All(v => v.Number is not null);
}

/// <summary>
/// One combination: its stable id (<c>entries=64,policy=lru</c>, made of the axis names and value labels, sorted by
/// axis name), its position in the expansion, the value of each axis and the validated experiment it runs.
/// </summary>
public sealed record SweepCase(string Id, int Ordinal, IReadOnlyList<(SweepAxis Axis, SweepValue Value)> Assignment, Experiment Experiment)
{
    /// <summary>The axis values as a JSON object, axis name → value.</summary>
    public JsonObject Parameters()
    {
        var o = new JsonObject();
        foreach (var (axis, value) in Assignment) o[axis.Name] = value.Value.DeepClone();
        return o;
    }
}

/// <summary>
/// A validated sweep: a base experiment expanded over a matrix of axes, filtered, every case resolved and checked
/// by <see cref="ExperimentLoader"/>. <see cref="DefinitionHash"/> identifies the expansion (ids and resolved configs):
/// shards of the same sweep share it.
/// </summary>
public sealed record Sweep(
    string Name,
    string File,
    IReadOnlyList<SweepAxis> Axes,
    IReadOnlyList<SweepCase> Cases,
    string BaselineId,
    string DefinitionHash)
{
    /// <summary>The sweep file's <c>description</c>, or null when it has none.</summary>
    public string? Description { get; init; }

    /// <summary>The base experiment's file as the sweep file names it (relative to the sweep file), or null for an inline base.</summary>
    public string? BaseFile { get; init; }

    /// <summary>The base experiment's own <c>name</c>, or null when it has none.</summary>
    public string? BaseName { get; init; }

    /// <summary>
    /// The base experiment with the <c>--set</c> overrides applied: resolved (defaults filled, without machine-local
    /// <c>pluginPaths</c>) when it is a valid experiment on its own, else as written (<see cref="BaseResolved"/> false).
    /// </summary>
    public JsonObject? BaseConfig { get; init; }

    /// <summary>Whether <see cref="BaseConfig"/> is resolved (true) or as written, because the base alone is not a valid experiment.</summary>
    public bool BaseResolved { get; init; }

    /// <summary>The <c>--set key=value</c> overrides applied to the base of every case.</summary>
    public IReadOnlyList<string> BaseOverrides { get; init; } = [];
}
