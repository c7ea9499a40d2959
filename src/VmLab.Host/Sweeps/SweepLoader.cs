using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using VmLab.Abstractions.Plugins;
using VmLab.Host.Config;

namespace VmLab.Host.Sweeps;

/// <summary>
/// Reads a sweep file: a base experiment (inline or a path) and a matrix over config key paths, expanded to the
/// cross product, filtered by <c>exclude</c>, extended by <c>include</c>. Every case is the base with its axis
/// values applied (scalars as <c>--set key=value</c> overrides, objects and arrays by replacing the subtree) and is
/// validated by <see cref="ExperimentLoader"/>; errors point at the sweep file (line:column of the value that caused
/// them) or the base file. Nothing runs on a sweep with errors.
/// </summary>
public sealed partial class SweepLoader(ExperimentLoader loader)
{
    /// <summary>The most cases a sweep may expand to unless <see cref="MaxCases"/> says otherwise.</summary>
    public const int DefaultMaxCases = 100_000;

    /// <summary>A sweep whose matrix (cross product plus includes, before excludes) has more cases is refused before expanding.</summary>
    public long MaxCases { get; init; } = DefaultMaxCases;

    /// <summary>
    /// <c>--set key=value</c> overrides applied to the base experiment of every case, before the case's axis values.
    /// An override of a key the matrix sweeps (or of a key above or below one) is an error: the axis decides it.
    /// </summary>
    public IReadOnlyList<string> BaseOverrides { get; init; } = [];

    private static readonly string[] TopLevelKeys = ["name", "description", "base", "matrix", "exclude", "include", "baseline"];
    private static readonly JsonDocumentOptions DocumentOptions = new() { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true };

    [GeneratedRegex("^[A-Za-z0-9_.-]+$")]
    private static partial Regex NamePattern();

    /// <summary>Whether <paramref name="path"/> looks like a sweep (a JSON object with a <c>matrix</c> or <c>base</c> key).</summary>
    public static bool IsSweepFile(string path)
    {
        try
        {
            var node = JsonNode.Parse(File.ReadAllBytes(path), documentOptions: DocumentOptions) as JsonObject;
            return node is not null && node.Any(p => p.Key.Equals("matrix", StringComparison.OrdinalIgnoreCase) || p.Key.Equals("base", StringComparison.OrdinalIgnoreCase));
        }
        catch (Exception e) when (e is JsonException or IOException or ArgumentException or InvalidOperationException)
        {
            return false;
        }
    }

    public Sweep Load(string path)
    {
        string full = Path.GetFullPath(path);
        if (!File.Exists(full))
            throw new ConfigException([new ConfigError(path, "sweep file not found; give the path of a sweep JSON file, e.g. configs/sweeps/tlb-size-policy.json")]);
        return Load(File.ReadAllBytes(full), path, Path.GetDirectoryName(full)!, Path.GetFileNameWithoutExtension(full));
    }

    public Sweep Load(byte[] utf8, string displayName, string directory, string defaultName)
    {
        var errors = new List<ConfigError>();
        var index = JsonPositionIndex.Parse(displayName, utf8, errors);
        if (errors.Count > 0) throw new ConfigException(errors);
        var root = (JsonObject)JsonNode.Parse(utf8, documentOptions: DocumentOptions)!;
        string At(string keyPath) => index.Locate(keyPath) ?? displayName;
        void Error(string keyPath, string message) => errors.Add(new ConfigError(At(keyPath), $"{keyPath}: {message}"));

        foreach (var (key, _) in root)
            if (key != ExperimentLoader.SchemaKey && !TopLevelKeys.Contains(key, StringComparer.OrdinalIgnoreCase))
                Error(key, $"unknown key '{key}'; {Suggest.Hint(key, TopLevelKeys)}");

        // Name.
        string name = defaultName;
        if (Get(root, "name") is { } nameNode)
        {
            if (nameNode is JsonValue nv && nv.TryGetValue<string>(out var s) && s.Length > 0) name = s;
            else Error("name", "expected a non-empty string");
        }

        // Base experiment: inline object or a path relative to the sweep file.
        JsonObject? baseNode = null;
        string baseDirectory = directory;
        Func<string, string?> locateInBase = k => index.Locate("base:" + k) ?? index.Locate("base");
        string baseDisplay = displayName;
        switch (Get(root, "base"))
        {
            case null:
                Error("base", "is required: an experiment object ({ \"machine\": ..., \"workload\": ... }) or the path of an experiment JSON file");
                break;
            case JsonObject o:
                baseNode = (JsonObject)o.DeepClone();
                break;
            case JsonValue v when v.TryGetValue<string>(out var basePath):
                string baseFull = Path.GetFullPath(Path.Combine(directory, basePath));
                if (!File.Exists(baseFull))
                {
                    Error("base", $"base experiment not found: {baseFull}");
                    break;
                }
                var baseBytes = File.ReadAllBytes(baseFull);
                baseDisplay = Path.GetRelativePath(Environment.CurrentDirectory, baseFull);
                var baseErrors = new List<ConfigError>();
                var baseIndex = JsonPositionIndex.Parse(baseDisplay, baseBytes, baseErrors);
                if (baseErrors.Count > 0)
                {
                    errors.AddRange(baseErrors);
                    break;
                }
                baseNode = (JsonObject)JsonNode.Parse(baseBytes, documentOptions: DocumentOptions)!;
                baseDirectory = Path.GetDirectoryName(baseFull)!;
                locateInBase = baseIndex.Locate;
                break;
            default:
                Error("base", "expected an experiment object or the path of an experiment JSON file (a string)");
                break;
        }

        var axes = ReadMatrix(root, index, displayName, errors);
        foreach (var set in BaseOverrides)
        {
            int eq = set.IndexOf('=');
            string key = eq > 0 ? set[..eq].Trim() : set;
            foreach (var axis in axes)
                if (key.Equals(axis.Key, StringComparison.OrdinalIgnoreCase) || key.StartsWith(axis.Key + ":", StringComparison.OrdinalIgnoreCase)
                    || axis.Key.StartsWith(key + ":", StringComparison.OrdinalIgnoreCase))
                    errors.Add(new ConfigError($"--set {set}", $"{key} is swept by the matrix ({axis.Key}, at {axis.Where}); --set changes the base of every case, " +
                                                               "not an axis: edit the matrix's values instead"));
        }
        if (errors.Count > 0) throw new ConfigException(errors);

        // Cross product in file order, then filters.
        var excludes = ReadPatterns(root, "exclude", axes, index, displayName, errors, requireAll: false);
        var includes = ReadPatterns(root, "include", axes, index, displayName, errors, requireAll: true);
        if (errors.Count > 0) throw new ConfigException(errors);

        // Refuse a sweep too large before expanding it: each case holds its resolved experiment in memory.
        var product = axes.Aggregate(System.Numerics.BigInteger.One, (n, a) => n * a.Values.Count) + includes.Count;
        if (product > MaxCases)
        {
            Error("matrix", string.Create(CultureInfo.InvariantCulture,
                $"expands to {product:N0} cases ({string.Join(" x ", axes.Select(a => a.Values.Count))}{(includes.Count > 0 ? $" + {includes.Count} included" : "")}, before exclude), more than the limit of {MaxCases:N0}; split the sweep or raise the limit (vmlab sweep/check --max-cases N)"));
            throw new ConfigException(errors);
        }

        var assignments = new List<SweepValue[]>();
        var ids = new HashSet<string>(StringComparer.Ordinal);
        foreach (var combination in Product(axes))
        {
            if (excludes.Any(p => p.Matches(combination))) continue;
            if (ids.Add(CaseId(axes, combination))) assignments.Add(combination);
        }
        foreach (var include in includes)
        {
            var combination = include.Values();
            if (ids.Add(CaseId(axes, combination))) assignments.Add(combination);
        }
        if (assignments.Count == 0)
            Error("exclude", "excludes every combination of the matrix; nothing would run");
        if (errors.Count > 0 || baseNode is null) throw new ConfigException(errors);

        // Every case through the experiment loader: the first alone, then the others in parallel (each case's
        // loading is independent; results and errors are gathered in expansion order, so the outcome is the same as
        // one by one). Sequential when plugin folders are involved, since loading those adds to the shared catalog.
        var loaded = new (SweepCase? Case, string? Hash, List<ConfigError> Errors)[assignments.Count];
        void LoadCase(int ordinal)
        {
            var combination = assignments[ordinal];
            string id = CaseId(axes, combination);
            var caseErrorList = new List<ConfigError>();
            var node = (JsonObject)baseNode.DeepClone();
            foreach (var p in node.Where(p => p.Key.Equals("name", StringComparison.OrdinalIgnoreCase)).Select(p => p.Key).ToList()) node.Remove(p);
            node["name"] = id;
            var overrides = new List<string>(BaseOverrides);
            for (int a = 0; a < axes.Count; a++)
            {
                var value = combination[a].Value;
                if (value is JsonValue scalar) overrides.Add($"{axes[a].Key}={ScalarText(scalar)}");
                else if (SetSubtree(node, axes[a].Key, value.DeepClone()) is { } problem)
                    caseErrorList.Add(new ConfigError(combination[a].Where, $"{axes[a].Key}: {problem}"));
            }
            try
            {
                // The case's JSON is generated here: its errors are placed in the sweep or base file by Relocate below.
                var experiment = loader.Load(Encoding.UTF8.GetBytes(node.ToJsonString()), baseDisplay, baseDirectory, id, overrides, positions: false);
                loaded[ordinal] = (new SweepCase(id, ordinal, [.. axes.Select((axis, a) => (axis, combination[a]))], experiment), ConfigHash(experiment), caseErrorList);
            }
            catch (ConfigException e)
            {
                foreach (var error in e.Errors) caseErrorList.Add(Relocate(error, axes, combination, locateInBase, baseDisplay));
                loaded[ordinal] = (null, id, caseErrorList);
            }
        }
        LoadCase(0);
        bool independent = loaded[0].Case is { } first && first.Experiment.PluginPaths.Count == 0
                           && !axes.Any(a => a.Key.StartsWith("pluginPaths", StringComparison.OrdinalIgnoreCase));
        if (independent) Parallel.For(1, assignments.Count, LoadCase);
        else for (int ordinal = 1; ordinal < assignments.Count; ordinal++) LoadCase(ordinal);

        var cases = new List<SweepCase>(assignments.Count);
        var hashes = new List<string>(assignments.Count);
        var caseErrors = new Dictionary<ConfigError, List<string>>();
        foreach (var (loadedCase, hash, caseErrorList) in loaded)
        {
            string id = loadedCase?.Id ?? hash!;
            if (loadedCase is not null)
            {
                cases.Add(loadedCase);
                hashes.Add(hash!);
            }
            foreach (var error in caseErrorList) AddCaseError(caseErrors, error, id);
        }
        foreach (var (error, inCases) in caseErrors)
        {
            string which = inCases.Count == assignments.Count ? ""
                : $" (in {inCases.Count} of {assignments.Count} cases: {string.Join(", ", inCases.Take(3))}{(inCases.Count > 3 ? ", ..." : "")})";
            errors.Add(error with { Message = error.Message + which });
        }
        if (errors.Count > 0) throw new ConfigException(errors);

        string baselineId = ReadBaseline(root, axes, cases, index, displayName, errors);
        if (errors.Count > 0) throw new ConfigException(errors);

        var (baseConfig, baseResolved) = ResolveBase(baseNode, baseDisplay, baseDirectory);
        return new Sweep(name, displayName, axes, cases, baselineId, DefinitionHash(name, cases, hashes))
        {
            Description = Get(root, "description") is JsonValue dv && dv.TryGetValue<string>(out var description) ? description : null,
            BaseFile = Get(root, "base") is JsonValue bv && bv.TryGetValue<string>(out var baseFile) ? baseFile : null,
            BaseName = Get(baseNode, "name") is JsonValue bn && bn.TryGetValue<string>(out var baseName) ? baseName : null,
            BaseConfig = baseConfig,
            BaseResolved = baseResolved,
            BaseOverrides = BaseOverrides,
        };
    }

    /// <summary>
    /// The base experiment as the report records it: with the --set overrides applied and resolved by the same loader
    /// as a case when it is valid on its own; as written when it is not (an axis may supply what it lacks).
    /// </summary>
    private (JsonObject Config, bool Resolved) ResolveBase(JsonObject baseNode, string baseDisplay, string baseDirectory)
    {
        try
        {
            var experiment = loader.Load(Encoding.UTF8.GetBytes(baseNode.ToJsonString()), baseDisplay, baseDirectory, "base", BaseOverrides, positions: false);
            return (PortableConfig(experiment), true);
        }
        catch (Exception e) when (e is ConfigException or VmLabInputException)
        {
            var written = (JsonObject)baseNode.DeepClone();
            written.Remove("pluginPaths");
            return (written, false);
        }
    }

    private static void AddCaseError(Dictionary<ConfigError, List<string>> errors, ConfigError error, string id)
    {
        if (!errors.TryGetValue(error, out var list)) errors[error] = list = [];
        list.Add(id);
    }

    /// <summary>
    /// An error of a case points at the matrix value that set the key it is about, or into the base experiment.
    /// The loader's messages start with the key path (<c>machine:tlb:options:entries: ...</c>).
    /// </summary>
    private static ConfigError Relocate(ConfigError error, IReadOnlyList<SweepAxis> axes, SweepValue[] combination, Func<string, string?> locateInBase, string baseDisplay)
    {
        int colon = error.Message.IndexOf(": ", StringComparison.Ordinal);
        if (colon <= 0 || error.Message[..colon].Contains(' ')) return error;
        string keyPath = error.Message[..colon];
        for (int a = 0; a < axes.Count; a++)
        {
            string key = axes[a].Key;
            // The error is about the axis key or below it, or about a segment of the axis key itself (a typo in
            // `machine:tlb:option:entries` is reported as `machine:tlb:option: unknown key`): both are the matrix's.
            if (keyPath.Equals(key, StringComparison.OrdinalIgnoreCase) || keyPath.StartsWith(key + ":", StringComparison.OrdinalIgnoreCase)
                || key.StartsWith(keyPath + ":", StringComparison.OrdinalIgnoreCase))
                return new ConfigError(combination[a].Where, $"{error.Message} (matrix value {combination[a].Label} of {key})");
        }
        // Not an axis's: a base override's error is the command line's (--set key), any other the base file's.
        if (error.Where.StartsWith("--set ", StringComparison.Ordinal)) return error;
        return new ConfigError(locateInBase(keyPath) ?? baseDisplay, error.Message);
    }

    private static string ScalarText(JsonValue v) =>
        v.TryGetValue<string>(out var s) ? s : v.ToJsonString();

    /// <summary>Replaces (or adds) the node at a <c>:</c> key path; returns a problem, or null.</summary>
    private static string? SetSubtree(JsonObject root, string keyPath, JsonNode value)
    {
        var segments = keyPath.Split(':');
        JsonNode current = root;
        for (int i = 0; i < segments.Length; i++)
        {
            bool last = i == segments.Length - 1;
            string segment = segments[i];
            switch (current)
            {
                case JsonObject o:
                {
                    string key = o.Select(p => p.Key).FirstOrDefault(k => k.Equals(segment, StringComparison.OrdinalIgnoreCase)) ?? segment;
                    if (last)
                    {
                        o[key] = value;
                        return null;
                    }
                    if (o[key] is not JsonObject and not JsonArray) o[key] = new JsonObject();
                    current = o[key]!;
                    break;
                }
                case JsonArray arr:
                {
                    if (!int.TryParse(segment, NumberStyles.None, CultureInfo.InvariantCulture, out int n) || n > arr.Count)
                        return $"'{segment}' is not an index of the array at {string.Join(':', segments.Take(i))} (it has {arr.Count} elements)";
                    if (n == arr.Count) arr.Add(last ? value : new JsonObject());
                    else if (last) arr[n] = value;
                    if (last) return null;
                    if (arr[n] is not JsonObject and not JsonArray) arr[n] = new JsonObject();
                    current = arr[n]!;
                    break;
                }
                default:
                    return $"cannot set a value under {string.Join(':', segments.Take(i))}";
            }
        }
        return null;
    }

    private static JsonNode? Get(JsonObject o, string key) =>
        o.FirstOrDefault(p => p.Key.Equals(key, StringComparison.OrdinalIgnoreCase)).Value;

    private static List<SweepAxis> ReadMatrix(JsonObject root, JsonPositionIndex index, string file, List<ConfigError> errors)
    {
        string At(string keyPath) => index.Locate(keyPath) ?? file;
        void Error(string keyPath, string message) => errors.Add(new ConfigError(At(keyPath), $"{keyPath}: {message}"));
        var axes = new List<(string Key, string? Name, List<SweepValue> Values, string Where)>();
        var matrixNode = Get(root, "matrix");
        if (matrixNode is null) return [];
        if (matrixNode is not JsonObject matrix)
        {
            Error("matrix", "expected an object: { \"<config key path>\": [ value, ... ], ... }");
            return [];
        }
        foreach (var (key, axisNode) in matrix)
        {
            string where = $"matrix:{key}";
            if (key.Length == 0 || key.Split(':').Any(s => s.Length == 0))
            {
                Error(where, "expected a config key path such as machine:tlb:options:entries");
                continue;
            }
            if (key.Equals("name", StringComparison.OrdinalIgnoreCase))
            {
                Error(where, "the name of each case is its id; it cannot be swept");
                continue;
            }
            string? name = null;
            var values = new List<SweepValue>();
            JsonNode? list = axisNode;
            string listPath = where;
            if (axisNode is JsonObject axisObject)
            {
                foreach (var (k, _) in axisObject)
                    if (!k.Equals("name", StringComparison.OrdinalIgnoreCase) && !k.Equals("values", StringComparison.OrdinalIgnoreCase))
                        Error($"{where}:{k}", $"unknown key '{k}'; {Suggest.Hint(k, ["name", "values"])}");
                if (Get(axisObject, "name") is { } n)
                {
                    if (n is JsonValue nv && nv.TryGetValue<string>(out var s) && NamePattern().IsMatch(s)) name = s;
                    else Error($"{where}:name", "expected a short name of letters, digits, '_', '.' or '-'");
                }
                list = Get(axisObject, "values");
                listPath = $"{where}:values";
                if (list is JsonObject labelled)
                {
                    foreach (var (label, value) in labelled)
                    {
                        string valuePath = $"{listPath}:{label}";
                        if (value is null) Error(valuePath, "null is not a value; remove the key to use the default");
                        else if (!ValidLabel(label)) Error(valuePath, $"label '{label}' may not be empty or contain ',', '=' or spaces");
                        else values.Add(new SweepValue(label, value.DeepClone(), At(valuePath)));
                    }
                    list = null;
                }
                else if (list is null)
                {
                    Error(where, "needs \"values\": [ ... ] or { \"label\": value, ... }");
                    continue;
                }
            }
            if (list is JsonArray array)
            {
                for (int i = 0; i < array.Count; i++)
                {
                    string valuePath = $"{listPath}:{i}";
                    if (array[i] is null)
                    {
                        Error(valuePath, "null is not a value; remove the key to use the default");
                        continue;
                    }
                    values.Add(new SweepValue(LabelOf(array[i]!, array), array[i]!.DeepClone(), At(valuePath)));
                }
            }
            else if (list is not null)
            {
                Error(listPath, "expected an array of values ([ ... ]) or { \"name\": ..., \"values\": ... }");
                continue;
            }
            if (values.Count == 0)
            {
                Error(where, "has no values");
                continue;
            }
            foreach (var v in values.Where(v => !ValidLabel(v.Label)))
                errors.Add(new ConfigError(v.Where, $"{key}: the value's label '{v.Label}' may not contain ',', '=' or spaces; give the axis labelled values: {{ \"values\": {{ \"label\": value }} }}"));
            foreach (var group in values.GroupBy(v => v.Label, StringComparer.Ordinal).Where(g => g.Count() > 1))
                errors.Add(new ConfigError(group.Skip(1).First().Where, $"{key}: value '{group.Key}' appears twice"));
            axes.Add((key, name, values, At(where)));
        }

        // Axis names: given, else the key's last segment, lengthened where two axes would share one.
        var names = axes.Select(a => a.Name ?? DefaultName(a.Key, 1)).ToList();
        for (int depth = 2; depth < 8; depth++)
        {
            var clashing = names.Select((n, i) => (n, i)).GroupBy(x => x.n, StringComparer.OrdinalIgnoreCase).Where(g => g.Count() > 1).SelectMany(g => g).ToList();
            if (clashing.Count == 0) break;
            foreach (var (_, i) in clashing)
                if (axes[i].Name is null) names[i] = DefaultName(axes[i].Key, depth);
        }
        var result = new List<SweepAxis>();
        for (int i = 0; i < axes.Count; i++)
        {
            if (names.Count(n => n.Equals(names[i], StringComparison.OrdinalIgnoreCase)) > 1)
            {
                errors.Add(new ConfigError(axes[i].Where, $"matrix:{axes[i].Key}: two axes are named '{names[i]}'; give one a \"name\""));
                continue;
            }
            result.Add(new SweepAxis(axes[i].Key, names[i], axes[i].Values, axes[i].Where));
        }
        return result;
    }

    private static bool ValidLabel(string label) =>
        label.Length > 0 && !label.Any(c => c == ',' || c == '=' || char.IsWhiteSpace(c));

    private static string DefaultName(string key, int depth)
    {
        var segments = key.Split(':').Where(s => !s.Equals("options", StringComparison.OrdinalIgnoreCase)).ToList();
        if (segments.Count == 0) segments = [.. key.Split(':')];
        return string.Join('.', segments.Skip(Math.Max(0, segments.Count - depth)));
    }

    /// <summary>
    /// A value's label in case ids: a scalar's text; a component object's plugin name when no other value of the
    /// axis has the same; otherwise a short hash of the value's JSON (stable: derived from the value alone).
    /// </summary>
    private static string LabelOf(JsonNode value, JsonArray? siblings)
    {
        if (value is JsonValue v) return ScalarText(v);
        if (value is JsonObject o && Get(o, "plugin") is JsonValue pv && pv.TryGetValue<string>(out var plugin) && plugin.Length > 0)
        {
            int same = siblings?.Count(s => s is JsonObject so && Get(so, "plugin") is JsonValue spv && spv.TryGetValue<string>(out var sp)
                                              && sp.Equals(plugin, StringComparison.OrdinalIgnoreCase)) ?? 1;
            if (same <= 1) return plugin.ToLowerInvariant();
            return $"{plugin.ToLowerInvariant()}-{ShortHash(value)}";
        }
        return $"v{ShortHash(value)}";
    }

    private static string ShortHash(JsonNode value) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(value.ToJsonString())))[..8];

    public static string CaseId(IReadOnlyList<SweepAxis> axes, IReadOnlyList<SweepValue> combination)
    {
        if (axes.Count == 0) return "base";
        return string.Join(',', axes.Select((a, i) => (a.Name, combination[i].Label))
            .OrderBy(x => x.Name, StringComparer.Ordinal)
            .Select(x => $"{x.Name}={x.Label}"));
    }

    private static IEnumerable<SweepValue[]> Product(IReadOnlyList<SweepAxis> axes)
    {
        var counters = new int[axes.Count];
        while (true)
        {
            yield return [.. axes.Select((a, i) => a.Values[counters[i]])];
            int k = axes.Count - 1;
            while (k >= 0 && ++counters[k] == axes[k].Values.Count)
            {
                counters[k] = 0;
                k--;
            }
            if (k < 0) yield break;
        }
    }

    /// <summary>A partial or complete assignment of axis values, as written in <c>exclude</c>, <c>include</c> or <c>baseline</c>.</summary>
    private sealed class Pattern(IReadOnlyList<SweepAxis> axes, List<SweepValue>?[] allowed)
    {
        public bool Matches(SweepValue[] combination)
        {
            for (int a = 0; a < axes.Count; a++)
                if (allowed[a] is { } list && !list.Any(v => ReferenceEquals(v, combination[a]) || v.Label == combination[a].Label))
                    return false;
            return true;
        }

        public SweepValue[] Values() => [.. allowed.Select(l => l![0])];
    }

    private static List<Pattern> ReadPatterns(JsonObject root, string key, IReadOnlyList<SweepAxis> axes, JsonPositionIndex index, string file,
        List<ConfigError> errors, bool requireAll)
    {
        var result = new List<Pattern>();
        var node = Get(root, key);
        if (node is null) return result;
        if (node is not JsonArray array)
        {
            errors.Add(new ConfigError(index.Locate(key) ?? file, $"{key}: expected an array of {{ \"<axis>\": value, ... }} objects"));
            return result;
        }
        for (int i = 0; i < array.Count; i++)
            if (ReadPattern(array[i], $"{key}:{i}", axes, index, file, errors, requireAll, allowNewValues: requireAll) is { } p)
                result.Add(p);
        return result;
    }

    private static Pattern? ReadPattern(JsonNode? node, string path, IReadOnlyList<SweepAxis> axes, JsonPositionIndex index, string file,
        List<ConfigError> errors, bool requireAll, bool allowNewValues)
    {
        string At(string keyPath) => index.Locate(keyPath) ?? file;
        int before = errors.Count;
        if (node is not JsonObject o || o.Count == 0)
        {
            errors.Add(new ConfigError(At(path), $"{path}: expected a non-empty object {{ \"<axis name or key>\": value, ... }}"));
            return null;
        }
        var allowed = new List<SweepValue>?[axes.Count];
        var axisRefs = axes.SelectMany(a => new[] { a.Name, a.Key }).Distinct().ToList();
        foreach (var (axisRef, valueNode) in o)
        {
            string valuePath = $"{path}:{axisRef}";
            int a = -1;
            for (int j = 0; j < axes.Count; j++)
                if (axes[j].Name.Equals(axisRef, StringComparison.OrdinalIgnoreCase) || axes[j].Key.Equals(axisRef, StringComparison.OrdinalIgnoreCase))
                    a = j;
            if (a < 0)
            {
                errors.Add(new ConfigError(At(valuePath), $"{valuePath}: '{axisRef}' is not an axis of the matrix; {Suggest.Hint(axisRef, axisRefs)}"));
                continue;
            }
            if (valueNode is null)
            {
                errors.Add(new ConfigError(At(valuePath), $"{valuePath}: null is not a value"));
                continue;
            }
            var axis = axes[a];
            bool anyOf = !requireAll && valueNode is JsonArray && !axis.Values.Any(v => v.Value is JsonArray);
            var candidates = anyOf ? ((JsonArray)valueNode).Select((n, k) => (n, $"{valuePath}:{k}")).ToList() : [(valueNode, valuePath)];
            var list = new List<SweepValue>();
            foreach (var (candidate, candidatePath) in candidates)
            {
                var match = candidate is null ? null : axis.Values.FirstOrDefault(v => JsonNode.DeepEquals(v.Value, candidate)
                    || (candidate is JsonValue cv && cv.TryGetValue<string>(out var s) && s == v.Label));
                if (match is not null) list.Add(match);
                else if (allowNewValues && candidate is not null)
                {
                    string label = LabelOf(candidate, null);
                    if (axis.Values.Any(v => v.Label == label)) label = $"v{ShortHash(candidate)}";
                    if (!ValidLabel(label))
                        errors.Add(new ConfigError(At(candidatePath), $"{candidatePath}: the value's label '{label}' may not contain ',', '=' or spaces"));
                    list.Add(new SweepValue(label, candidate.DeepClone(), At(candidatePath)));
                }
                else
                {
                    errors.Add(new ConfigError(At(candidatePath),
                        $"{candidatePath}: {(candidate?.ToJsonString() ?? "null")} is not a value of axis {axis.Name}; values: {string.Join(", ", axis.Values.Select(v => v.Label))}"));
                }
            }
            allowed[a] = list;
        }
        if (requireAll)
            for (int j = 0; j < axes.Count; j++)
                if (allowed[j] is null)
                    errors.Add(new ConfigError(At(path), $"{path}: gives no value for axis {axes[j].Name}; an added case needs a value for every axis"));
        return errors.Count > before ? null : new Pattern(axes, allowed);
    }

    private static string ReadBaseline(JsonObject root, IReadOnlyList<SweepAxis> axes, List<SweepCase> cases, JsonPositionIndex index, string file, List<ConfigError> errors)
    {
        var node = Get(root, "baseline");
        if (node is null) return cases[0].Id;
        string where = index.Locate("baseline") ?? file;
        if (node is JsonValue v && v.TryGetValue<string>(out var id))
        {
            if (cases.Any(c => c.Id == id)) return id;
            errors.Add(new ConfigError(where, $"baseline: no case has the id '{id}'; {Suggest.Hint(id, cases.Select(c => c.Id).ToList())}"));
            return "";
        }
        var pattern = ReadPattern(node, "baseline", axes, index, file, errors, requireAll: false, allowNewValues: false);
        if (pattern is null) return "";
        var matching = cases.Where(c => pattern.Matches([.. c.Assignment.Select(x => x.Value)])).ToList();
        if (matching.Count == 1) return matching[0].Id;
        errors.Add(new ConfigError(where, matching.Count == 0
            ? "baseline: no case matches (is it excluded?)"
            : $"baseline: {matching.Count} cases match ({string.Join(", ", matching.Take(4).Select(c => c.Id))}...); give a value for more axes or the case id"));
        return "";
    }

    /// <summary>Identifies the expansion: case ids and resolved configs (without machine-local plugin paths).</summary>
    private static string DefinitionHash(string name, IReadOnlyList<SweepCase> cases, IReadOnlyList<string> configHashes)
    {
        var sb = new StringBuilder(name).Append('\n');
        for (int i = 0; i < cases.Count; i++) sb.Append(cases[i].Id).Append('\n').Append(configHashes[i]).Append('\n');
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(sb.ToString())));
    }

    /// <summary>The hash of a case's resolved config, without machine-local plugin paths: equal configs ⇒ equal results.</summary>
    public static string ConfigHash(Experiment experiment)
    {
        // The bytes PortableConfig(experiment).ToJsonString() gives, written without cloning the config.
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(4096);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            foreach (var (key, value) in experiment.ResolvedConfig)
            {
                if (key == "pluginPaths") continue;
                writer.WritePropertyName(key);
                if (value is null) writer.WriteNullValue();
                else value.WriteTo(writer);
            }
            writer.WriteEndObject();
        }
        return Convert.ToHexStringLower(SHA256.HashData(buffer.WrittenSpan));
    }

    /// <summary>The resolved config without <c>pluginPaths</c> (absolute, so machine-local).</summary>
    public static JsonObject PortableConfig(Experiment experiment)
    {
        var config = (JsonObject)experiment.ResolvedConfig.DeepClone();
        config.Remove("pluginPaths");
        return config;
    }
}
