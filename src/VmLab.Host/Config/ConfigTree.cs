using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Configuration.Json;
using Microsoft.Extensions.Primitives;

namespace VmLab.Host.Config;

/// <summary>
/// An experiment's configuration as one read-only tree of sections, built once: the JSON file's keys, flattened by
/// Microsoft.Extensions.Configuration.Json's own parser (so values and empty objects read exactly as a configuration
/// root reads them), then the <c>--set</c> overrides over them, as a later provider overrides an earlier one. A
/// configuration root answers <c>GetChildren</c> by scanning every key of every provider for each node it is asked
/// about; the tree answers from a list, which matters when a sweep loads thousands of cases.
/// </summary>
internal sealed class ConfigTree : IConfigurationSection
{
    private readonly List<ConfigTree> _children = [];

    private ConfigTree(string key, string path)
    {
        Key = key;
        Path = path;
    }

    public string Key { get; }
    public string Path { get; }
    public string? Value { get => _value; set => throw new NotSupportedException("the experiment's configuration is read-only"); }

    private string? _value;

    public string? this[string key]
    {
        get => GetSection(key).Value;
        set => throw new NotSupportedException("the experiment's configuration is read-only");
    }

    public IEnumerable<IConfigurationSection> GetChildren() => _children;

    /// <summary>The child named <paramref name="key"/> (a path with ':' descends), or an empty section there, as a configuration root gives.</summary>
    public IConfigurationSection GetSection(string key)
    {
        ConfigTree node = this;
        foreach (var part in key.Split(ConfigurationPath.KeyDelimiter))
        {
            var next = node._children.Find(c => string.Equals(c.Key, part, StringComparison.OrdinalIgnoreCase));
            if (next is null) return new ConfigTree(key.Split(ConfigurationPath.KeyDelimiter)[^1], ConfigurationPath.Combine(Path, key).TrimStart(':'));
            node = next;
        }
        return node;
    }

    public IChangeToken GetReloadToken() => NoChanges.Instance;

    /// <summary>
    /// The tree of <paramref name="utf8"/> (a JSON object) with <paramref name="overrides"/> over it; top-level keys named
    /// in <paramref name="ignoredTopKeys"/> are left out.
    /// </summary>
    public static IConfigurationSection Build(byte[] utf8, IReadOnlyDictionary<string, string?> overrides, params string[] ignoredTopKeys)
    {
        var json = new FlatJson();
        json.Load(new MemoryStream(utf8, writable: false));
        var data = new Dictionary<string, string?>(json.Flat, StringComparer.OrdinalIgnoreCase);
        foreach (var (key, value) in overrides) data[key] = value;

        var root = new ConfigTree("", "");
        var nodes = new Dictionary<string, ConfigTree>(StringComparer.OrdinalIgnoreCase) { [""] = root };
        ConfigTree Node(string path)
        {
            if (nodes.TryGetValue(path, out var node)) return node;
            int colon = path.LastIndexOf(':');
            var parent = colon < 0 ? root : Node(path[..colon]);
            node = new ConfigTree(colon < 0 ? path : path[(colon + 1)..], path);
            nodes[path] = node;
            parent._children.Add(node);
            return node;
        }
        foreach (var (key, value) in data) Node(key)._value = value;
        foreach (var node in nodes.Values) node._children.Sort((a, b) => ConfigurationKeyComparer.Instance.Compare(a.Key, b.Key));
        root._children.RemoveAll(c => ignoredTopKeys.Contains(c.Key, StringComparer.Ordinal));
        return root;
    }

    /// <summary>The JSON provider's flattened keys and values.</summary>
    private sealed class FlatJson() : JsonStreamConfigurationProvider(new JsonStreamConfigurationSource())
    {
        public IDictionary<string, string?> Flat => Data;
    }

    private sealed class NoChanges : IChangeToken
    {
        public static readonly NoChanges Instance = new();
        public bool HasChanged => false;
        public bool ActiveChangeCallbacks => false;
        public IDisposable RegisterChangeCallback(Action<object?> callback, object? state) => EmptyDisposable.Instance;

        private sealed class EmptyDisposable : IDisposable
        {
            public static readonly EmptyDisposable Instance = new();
            public void Dispose()
            {
            }
        }
    }
}
