using System.Globalization;
using System.Reflection;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using VmLab.Host.Sweeps;

namespace VmLab.Host.Results;

/// <summary>A file the cases' workload reads (a trace, a scenario): its path as the configs name it, its size and SHA-256.</summary>
public sealed record TraceFile(string Workload, string Path, long Bytes, string Sha256);

/// <summary>The base experiment every case starts from, as the sweep recorded it.</summary>
/// <param name="File">The base file as the sweep file names it (relative to the sweep file), or null for a base written inline.</param>
/// <param name="Name">The base experiment's own <c>name</c>, or null.</param>
/// <param name="Config">The base with the <c>--set</c> overrides applied: resolved when <paramref name="Resolved"/>, else as written.</param>
/// <param name="Resolved">Whether the base was a valid experiment on its own and <paramref name="Config"/> has every default filled.</param>
public sealed record BaseExperiment(string? File, string? Name, JsonObject Config, bool Resolved);

/// <summary>
/// Where a sweep's numbers come from, recorded in the results database when the sweep starts (schema 2): the sweep's
/// description, its base experiment, the <c>--set</c> overrides, the trace files read and the VmLab versions that ran
/// cases. The dates, hosts and plugin versions are stored with each case. A part is null when the database does not
/// hold it: one written before schema 2 holds none of them.
/// </summary>
public sealed record SweepContext(
    string? Description,
    BaseExperiment? Base,
    IReadOnlyList<string>? Overrides,
    IReadOnlyList<TraceFile>? Traces,
    IReadOnlyList<string>? VmLabVersions)
{
    /// <summary>Nothing recorded (a database written before schema 2).</summary>
    public static SweepContext None { get; } = new(null, null, null, null, null);

    /// <summary>The version of this VmLab (the host assembly's informational version, without the commit).</summary>
    public static string VmLabVersion { get; } =
        typeof(SweepContext).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0]
        ?? typeof(SweepContext).Assembly.GetName().Version?.ToString() ?? "0.0.0";

    /// <summary>The names of the parts not recorded, as a report lists them.</summary>
    public IReadOnlyList<string> Missing()
    {
        var missing = new List<string>();
        if (Description is null) missing.Add("description");
        if (Base is null) missing.Add("base experiment");
        if (Overrides is null) missing.Add("--set overrides");
        if (Traces is null) missing.Add("traces");
        if (VmLabVersions is null) missing.Add("VmLab version");
        return missing;
    }

    /// <summary>The context of <paramref name="sweep"/> as run by this VmLab; the trace files are read to hash them.</summary>
    public static SweepContext Of(Sweep sweep) => new(
        sweep.Description ?? "",
        sweep.BaseConfig is { } config ? new BaseExperiment(sweep.BaseFile, sweep.BaseName, (JsonObject)config.DeepClone(), sweep.BaseResolved) : null,
        [.. sweep.BaseOverrides],
        TracesOf(sweep),
        [VmLabVersion]);

    /// <summary>
    /// The files the cases' workloads read: every string option of a workload that names an existing file (relative
    /// paths against the case's base folder), once per distinct file, in case order.
    /// </summary>
    public static IReadOnlyList<TraceFile> TracesOf(Sweep sweep)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var result = new List<TraceFile>();
        foreach (var c in sweep.Cases)
        {
            if (c.Experiment.ResolvedConfig["workload"] is not JsonObject workload || workload["options"] is not JsonObject options) continue;
            string plugin = workload["plugin"] is JsonValue p && p.TryGetValue<string>(out var name) ? name : "";
            foreach (var (_, value) in options)
            {
                if (value is not JsonValue v || !v.TryGetValue<string>(out var path) || path.Length == 0) continue;
                string full;
                try
                {
                    full = System.IO.Path.GetFullPath(path, c.Experiment.BaseDirectory);
                }
                catch (ArgumentException)
                {
                    continue;
                }
                if (!File.Exists(full) || !seen.Add(full)) continue;
                result.Add(Hash(plugin, path, full));
            }
        }
        return result;
    }

    private static TraceFile Hash(string workload, string path, string full)
    {
        try
        {
            using var stream = new FileStream(full, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
            return new TraceFile(workload, path, stream.Length, Convert.ToHexStringLower(SHA256.HashData(stream)));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return new TraceFile(workload, path, -1, ""); // unreadable here: the case itself will say why
        }
    }

    /// <summary>The context as the JSON report writes it; a part not recorded is null.</summary>
    public JsonObject ToJson()
    {
        JsonNode? baseNode = Base is null ? null : new JsonObject
        {
            ["file"] = Base.File,
            ["name"] = Base.Name,
            ["resolved"] = Base.Resolved,
            ["config"] = Base.Config.DeepClone(),
        };
        return new JsonObject
        {
            ["description"] = Description,
            ["base"] = baseNode,
            ["overrides"] = Overrides is null ? null : new JsonArray([.. Overrides.Select(o => (JsonNode)JsonValue.Create(o)!)]),
            ["traces"] = Traces is null ? null : new JsonArray([.. Traces.Select(TraceJson)]),
            ["vmlabVersions"] = VmLabVersions is null ? null : new JsonArray([.. VmLabVersions.Select(v => (JsonNode)JsonValue.Create(v)!)]),
            ["notRecorded"] = new JsonArray([.. Missing().Select(m => (JsonNode)JsonValue.Create(m)!)]),
        };
    }

    internal static JsonNode TraceJson(TraceFile t) => new JsonObject
    {
        ["workload"] = t.Workload,
        ["path"] = t.Path,
        ["bytes"] = t.Bytes,
        ["sha256"] = t.Sha256,
    };

    internal static TraceFile ReadTrace(JsonNode? node) => new(
        node!["workload"]!.GetValue<string>(),
        node["path"]!.GetValue<string>(),
        node["bytes"]!.GetValue<long>(),
        node["sha256"]!.GetValue<string>());

    /// <summary>A size as people read it: 1.4 MiB.</summary>
    public static string Size(long bytes) => bytes switch
    {
        < 0 => "unreadable",
        < 1024 => bytes.ToString(CultureInfo.InvariantCulture) + " B",
        < 1024 * 1024 => (bytes / 1024.0).ToString("0.#", CultureInfo.InvariantCulture) + " KiB",
        < 1024L * 1024 * 1024 => (bytes / (1024.0 * 1024)).ToString("0.#", CultureInfo.InvariantCulture) + " MiB",
        _ => (bytes / (1024.0 * 1024 * 1024)).ToString("0.##", CultureInfo.InvariantCulture) + " GiB",
    };
}
