using VmLab.Abstractions;

namespace VmLab.Testing;

/// <summary>An <see cref="IMetrics"/> whose counters a test reads back by name; a name never looked up reads 0.</summary>
public sealed class TestMetrics : IMetrics
{
    private readonly Dictionary<string, Counter> _counters = new(StringComparer.Ordinal);

    public Counter Counter(string name)
    {
        if (!_counters.TryGetValue(name, out var counter)) _counters[name] = counter = new Counter(name);
        return counter;
    }

    public bool IsRegistered(string name) => _counters.ContainsKey(name);

    /// <summary>The counter's value, 0 when nothing looked it up.</summary>
    public long this[string name] => _counters.TryGetValue(name, out var counter) ? counter.Value : 0;

    /// <summary>Every counter looked up so far, by name.</summary>
    public IReadOnlyDictionary<string, long> Snapshot() => _counters.ToDictionary(p => p.Key, p => p.Value.Value, StringComparer.Ordinal);
}
