using VmLab.Abstractions;

namespace VmLab.Core;

/// <summary>The run's counters, created on first lookup. Snapshots are sorted by name (ordinal), so output is stable.</summary>
public sealed class MetricRegistry : IMetrics
{
    private readonly Dictionary<string, Counter> _counters = new(StringComparer.Ordinal);

    public Counter Counter(string name)
    {
        if (!_counters.TryGetValue(name, out var counter))
        {
            counter = new Counter(name);
            _counters.Add(name, counter);
        }
        return counter;
    }

    public bool IsRegistered(string name) => _counters.ContainsKey(name);

    public long this[string name] => _counters.TryGetValue(name, out var c) ? c.Value : 0;

    /// <summary>Every counter's value now, in ordinal order of names.</summary>
    public MetricSnapshot Snapshot() => MetricSnapshot.Of(_counters);
}
