using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Configuration;
using VmLab.Abstractions.Plugins;
using VmLab.Core;
using VmLab.Host.Plugins;

namespace VmLab.Host.Config;

/// <summary>
/// Reads an experiment: JSON file (Microsoft.Extensions.Configuration.Json) plus <c>--set key=value</c> overrides,
/// bound strictly, every plugin resolved against the catalog and its options validated. Any error stops here with
/// every problem listed; nothing runs on a config with errors.
/// </summary>
public sealed class ExperimentLoader(PluginCatalog catalog)
{
    public static readonly JsonSerializerOptions OptionsJson = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.KebabCaseLower) },
        WriteIndented = true,
    };

    public PluginCatalog Catalog { get; } = catalog;

    /// <summary>Reflection over option types, done once per type for every experiment this loader reads.</summary>
    private readonly BindingMetadata _metadata = new();

    public Experiment Load(string path, IReadOnlyList<string>? overrides = null)
    {
        string full = Path.GetFullPath(path);
        if (!File.Exists(full))
            throw new ConfigException([new ConfigError(path, "config file not found; give the path of an experiment JSON file, e.g. configs/quickstart.json")]);
        byte[] bytes = File.ReadAllBytes(full);
        return Load(bytes, path, Path.GetDirectoryName(full)!, Path.GetFileNameWithoutExtension(full), overrides ?? []);
    }

    /// <param name="positions">
    /// Whether errors point at line and column of <paramref name="utf8"/> (which is then checked as a file is: UTF-8,
    /// duplicate keys). False for JSON VmLab generated itself, such as a sweep case, whose errors its caller places.
    /// </param>
    public Experiment Load(byte[] utf8, string displayName, string baseDirectory, string defaultName, IReadOnlyList<string> overrides, bool positions = true)
    {
        var errors = new List<ConfigError>();
        var index = positions ? JsonPositionIndex.Parse(displayName, utf8, errors) : null;
        if (errors.Count > 0) throw new ConfigException(errors);

        var overrideMap = ParseOverrides(overrides, errors);
        if (errors.Count > 0) throw new ConfigException(errors);

        var root = ConfigTree.Build(utf8, overrideMap, SchemaKey);

        // The --set that gives keyPath or a part of it, if any.
        string? SetBy(string keyPath)
        {
            foreach (var key in overrideMap.Keys)
                if (keyPath.StartsWith(key, StringComparison.OrdinalIgnoreCase) || key.StartsWith(keyPath + ":", StringComparison.OrdinalIgnoreCase))
                    return key;
            return null;
        }

        string Locate(string keyPath) => SetBy(keyPath) is { } key ? $"--set {key}" : index?.Locate(keyPath) ?? displayName;

        bool JsonBoolean(string keyPath) => index is not null && SetBy(keyPath) is null && index.IsBoolean(keyPath);

        var binder = new StrictBinder(Locate, _metadata, JsonBoolean);
        var spec = (ExperimentSpec)binder.Bind(root, typeof(ExperimentSpec), "");

        var warnings = new List<string>();
        var pluginPaths = new List<string>();
        for (int i = 0; i < spec.PluginPaths.Length; i++)
        {
            string dir = Path.GetFullPath(Path.Combine(baseDirectory, spec.PluginPaths[i]));
            if (!Directory.Exists(dir))
            {
                binder.Error($"pluginPaths:{i}", $"plugin directory not found: {dir}");
                continue;
            }
            pluginPaths.Add(dir);
            Catalog.AddDirectory(dir);
        }

        var m = spec.Machine;
        var pageTable = Resolve(binder, ExtensionPoints.PageTable, m.PageTable, "machine:pageTable", baseDirectory);
        var tlb = Resolve(binder, ExtensionPoints.Tlb, m.Tlb, "machine:tlb", baseDirectory);
        var replacement = m.Replacement is null ? null : Resolve(binder, ExtensionPoints.Replacement, m.Replacement, "machine:replacement", baseDirectory);
        var handlers = new List<Component?>();
        for (int i = 0; i < m.FaultHandlers.Length; i++)
            handlers.Add(Resolve(binder, ExtensionPoints.FaultHandler, m.FaultHandlers[i], $"machine:faultHandlers:{i}", baseDirectory));
        var signals = Resolve(binder, ExtensionPoints.Signals, m.Signals, "machine:signals", baseDirectory);
        var devices = new List<Component?>();
        for (int i = 0; i < m.Devices.Length; i++)
            devices.Add(Resolve(binder, ExtensionPoints.Device, m.Devices[i], $"machine:devices:{i}", baseDirectory));
        var timing = m.Timing is null ? null : Resolve(binder, ExtensionPoints.Timing, m.Timing, "machine:timing", baseDirectory);
        var cache = m.Cache is null ? null : Resolve(binder, ExtensionPoints.Cache, m.Cache, "machine:cache", baseDirectory);
        Component? workload = null;
        if (spec.Workload is null) binder.Error("workload", "is required: { \"plugin\": \"lackey\", \"options\": { \"path\": \"traces/ls.lackey.gz\" } }");
        else workload = Resolve(binder, ExtensionPoints.Workload, spec.Workload, "workload", baseDirectory);

        if (m.Memory.HighWatermark != 0 && m.Memory.HighWatermark < m.Memory.LowWatermark)
            binder.Error("machine:memory:highWatermark", $"is {m.Memory.HighWatermark}, below machine:memory:lowWatermark ({m.Memory.LowWatermark}); background reclaim frees frames up to the high watermark, so it must be at least the low one");
        if (binder.Errors.Count > 0) throw new ConfigException(Clean(binder.Errors));
        // After resolution: the problems of the plugin folders loaded so far, which now include those the config's components needed.
        foreach (var e in Catalog.Errors) warnings.Add($"{e.Folder}: {e.Message}");

        var machine = m.Frozen();
        string name = string.IsNullOrWhiteSpace(spec.Name) ? defaultName : spec.Name;
        var handlerList = handlers.Select(h => h!).ToList();
        var deviceList = devices.Select(d => d!).ToList();
        // Serialising the options (reflection-based JSON) is left until something asks for the resolved config.
        var resolved = new Lazy<JsonObject>(() => ResolvedJson(name, spec.Seed, pluginPaths, machine, pageTable!, tlb!, replacement,
            handlerList, signals!, deviceList, timing, cache, workload!));
        return new Experiment(name, spec.Seed, baseDirectory, pluginPaths, machine, pageTable!, tlb!, replacement,
            handlerList, signals!, workload!, resolved, warnings) { Devices = deviceList, Timing = timing, Cache = cache, Catalog = Catalog };
    }

    /// <summary>The resolved config: the experiment with every default filled, as JSON that loads again to the same experiment.</summary>
    private JsonObject ResolvedJson(string name, ulong seed, List<string> pluginPaths, MachineOptions machine, Component pageTable, Component tlb,
        Component? replacement, List<Component> handlers, Component signals, List<Component> devices, Component? timing, Component? cache, Component workload)
    {
        // Experiments of one loader share the serialised settings and options they have in common (the caches below),
        // and may be asked for their config on different threads.
        lock (_jsonLock)
        {
            return new JsonObject
            {
                ["name"] = name,
                ["seed"] = seed,
                ["pluginPaths"] = new JsonArray([.. pluginPaths.Select(p => (JsonNode)JsonValue.Create(p)!)]),
                ["machine"] = MachineJson(machine,
                [
                    new("pageTable", ToJson(pageTable)),
                    new("tlb", ToJson(tlb)),
                    new("replacement", replacement is null ? null : ToJson(replacement)),
                    new("faultHandlers", new JsonArray([.. handlers.Select(h => (JsonNode)ToJson(h))])),
                    new("signals", ToJson(signals)),
                    new("devices", new JsonArray([.. devices.Select(d => (JsonNode)ToJson(d))])),
                    new("timing", timing is null ? null : ToJson(timing)),
                    new("cache", cache is null ? null : ToJson(cache)),
                ]),
                ["workload"] = ToJson(workload),
            };
        }
    }

    private readonly Lock _jsonLock = new();

    private Component? Resolve(StrictBinder binder, string kind, ComponentSpec spec, string keyPath, string baseDirectory)
    {
        if (binder.WasNotAnObject(keyPath)) return null;
        if (string.IsNullOrWhiteSpace(spec.Plugin))
        {
            binder.Error($"{keyPath}:plugin", $"is required; {kind} plugins: {string.Join(", ", Catalog.NamesOf(kind))}");
            return null;
        }
        var plugin = Catalog.Find(kind, spec.Plugin);
        if (plugin is null)
        {
            binder.Error($"{keyPath}:plugin", UnknownPlugin(kind, spec.Plugin));
            return null;
        }
        // Options bound once for the same plugin, text and folder are bound again to the same values: a sweep's cases
        // mostly repeat their components, so each distinct one is bound, validated and checked for files once.
        string optionsKey = $"{plugin.Name}\u0001{plugin.Registration.OptionsType.AssemblyQualifiedName}\u0001{baseDirectory}\u0001{Text(spec.Options)}";
        if (_boundOptions.TryGetValue(optionsKey, out var bound)) return new Component(plugin, bound, keyPath);
        int before = binder.Errors.Count;
        var options = binder.Bind(spec.Options, plugin.Registration.OptionsType, $"{keyPath}:options");
        CheckFiles(binder, options, $"{keyPath}:options", baseDirectory);
        if (binder.Errors.Count > before) return null;
        _boundOptions.TryAdd(optionsKey, options);
        return new Component(plugin, options, keyPath);
    }

    /// <summary>Options bound without error, by plugin, options type, base folder and their configuration text.</summary>
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, object> _boundOptions = new(StringComparer.Ordinal);

    /// <summary>A section's keys and values, nested, as one string: equal for sections a binder reads alike.</summary>
    private static string Text(IConfigurationSection? section)
    {
        if (section is null) return "";
        var sb = new System.Text.StringBuilder();
        void Write(IConfigurationSection s)
        {
            sb.Append(s.Key).Append('=').Append(s.Value is null ? "\u0002" : s.Value).Append('{');
            foreach (var child in s.GetChildren()) Write(child);
            sb.Append('}');
        }
        Write(section);
        return sb.ToString();
    }

    /// <summary>
    /// Why a plugin name is not in the catalog: a plugin folder that provides it was refused or failed (say which and
    /// why), or the name is simply unknown (suggest the nearest).
    /// </summary>
    private string UnknownPlugin(string kind, string name)
    {
        var refused = Catalog.ErrorsMentioning(name);
        if (refused.Count > 0)
            return $"{kind} plugin '{name}' is unavailable: its plugin folder was not loaded: " +
                   string.Join("; ", refused.Select(e => e.Message.Contains(e.Folder, StringComparison.Ordinal) ? e.Message : $"{e.Folder}: {e.Message}"));
        string message = $"unknown {kind} plugin '{name}'; {Suggest.Hint(name, Catalog.NamesOf(kind))}; " +
                         "a plugin built outside VmLab is found in the folders named by pluginPaths (config) or VMLAB_PLUGIN_PATH (':'-separated)";
        var failed = Catalog.Errors.Where(e => e.AssemblyPath is not null).ToList();
        if (failed.Count > 0)
            message += $" (plugin folders not loaded: {string.Join(", ", failed.Select(e => e.Folder))})";
        return message;
    }

    /// <summary>Options marked <see cref="ExistingFileAttribute"/> must name a file that exists.</summary>
    private void CheckFiles(StrictBinder binder, object options, string keyPath, string baseDirectory)
    {
        foreach (var property in _metadata.ExistingFiles(options.GetType()))
        {
            if (property.GetValue(options) is not string value || value.Length == 0) continue;
            string full = Path.GetFullPath(Path.Combine(baseDirectory, value));
            if (!File.Exists(full))
                binder.Error(StrictBinder.Join(keyPath, StrictBinder.CamelCase(property.Name)), $"file not found: {full}");
        }
    }

    /// <summary>The resolved <c>machine</c> section: the frozen settings as the machine runs with them, then the components.</summary>
    private JsonObject MachineJson(MachineOptions machine, KeyValuePair<string, JsonNode?>[] components)
    {
        // Settings are records compared by value: equal settings are serialised once.
        var json = (JsonObject)_machineJson.GetOrAdd(machine, m => OptionsWriter.ToNode(m, typeof(MachineOptions))!).DeepClone();
        foreach (var (key, value) in components)
            if (value is not null) json[key] = value; // an absent component (no replacement policy) is left out, so the resolved config loads again
        return json;
    }

    private JsonObject ToJson(Component c) => new()
    {
        ["plugin"] = c.Plugin.Name,
        // Bound options are shared by the experiments that configure them alike (see Resolve): serialised once each.
        ["options"] = _optionsJson.GetOrAdd(c.Options, o => OptionsWriter.ToNode(o, o.GetType()) ?? new JsonObject()).DeepClone(),
    };

    private readonly System.Collections.Concurrent.ConcurrentDictionary<object, JsonNode> _optionsJson = new(ReferenceEqualityComparer.Instance);
    private readonly System.Collections.Concurrent.ConcurrentDictionary<MachineOptions, JsonNode> _machineJson = new();

    private static Dictionary<string, string?> ParseOverrides(IReadOnlyList<string> overrides, List<ConfigError> errors)
    {
        var map = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        foreach (var o in overrides)
        {
            int eq = o.IndexOf('=');
            if (eq <= 0)
            {
                errors.Add(new ConfigError($"--set {o}", "expected key=value, e.g. --set machine:tlb:options:entries=128"));
                continue;
            }
            map[o[..eq].Trim()] = o[(eq + 1)..];
        }
        return map;
    }

    private static List<ConfigError> Clean(IEnumerable<ConfigError> errors) =>
        errors.Select(e => e with { Message = e.Message.StartsWith(':') ? e.Message[1..] : e.Message }).Distinct().ToList();

    /// <summary>
    /// The top-level key naming the JSON Schema a config follows (<c>"$schema": "../schemas/experiment.schema.json"</c>),
    /// for editors; the loader ignores it.
    /// </summary>
    public const string SchemaKey = "$schema";
}
