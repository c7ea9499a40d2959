using System.Collections;
using System.Diagnostics.CodeAnalysis;
using VmLab.Abstractions;

namespace VmLab.Core;

/// <summary>
/// The values of a run's counters at one moment, in ordinal order of their names (so output is stable). Immutable.
/// </summary>
/// <remarks>
/// Two sorted arrays rather than a <c>SortedDictionary&lt;string, long&gt;</c>: the framework's generic collections over
/// a value type are compiled by the JIT in every process (ReadyToRun cannot precompile them outside the framework),
/// and the sorted dictionary alone was some 90 methods of a short run's start (docs/performance.md, "Start-up").
/// </remarks>
public sealed class MetricSnapshot : IReadOnlyDictionary<string, long>
{
    private readonly string[] _names;
    private readonly long[] _values;

    /// <param name="names">Distinct names in ordinal order.</param>
    /// <param name="values">The value of each name, at the same index.</param>
    private MetricSnapshot(string[] names, long[] values)
    {
        _names = names;
        _values = values;
    }

    /// <summary>A snapshot of <paramref name="counters"/>' values.</summary>
    internal static MetricSnapshot Of(Dictionary<string, Counter> counters)
    {
        var names = new string[counters.Count];
        counters.Keys.CopyTo(names, 0);
        Array.Sort(names, StringComparer.Ordinal);
        var values = new long[names.Length];
        for (int i = 0; i < names.Length; i++) values[i] = counters[names[i]].Value;
        return new MetricSnapshot(names, values);
    }

    /// <summary>This snapshot with <paramref name="more"/> added; a name already present takes the new value.</summary>
    public MetricSnapshot With(IEnumerable<KeyValuePair<string, long>> more)
    {
        var names = _names;
        var values = _values;
        foreach (var (name, value) in more)
        {
            int i = IndexOf(names, name);
            if (i >= 0)
            {
                if (ReferenceEquals(values, _values)) values = (long[])values.Clone();
                values[i] = value;
                continue;
            }
            int at = ~i;
            var n = new string[names.Length + 1];
            var v = new long[names.Length + 1];
            Array.Copy(names, n, at);
            Array.Copy(values, v, at);
            n[at] = name;
            v[at] = value;
            Array.Copy(names, at, n, at + 1, names.Length - at);
            Array.Copy(values, at, v, at + 1, names.Length - at);
            names = n;
            values = v;
        }
        return ReferenceEquals(names, _names) && ReferenceEquals(values, _values) ? this : new MetricSnapshot(names, values);
    }

    /// <summary>The index of <paramref name="name"/> in <paramref name="names"/>, or the complement of where it would go.</summary>
    private static int IndexOf(string[] names, string name)
    {
        int lo = 0, hi = names.Length - 1;
        while (lo <= hi)
        {
            int mid = lo + ((hi - lo) >> 1);
            int c = string.CompareOrdinal(names[mid], name);
            if (c == 0) return mid;
            if (c < 0) lo = mid + 1;
            else hi = mid - 1;
        }
        return ~lo;
    }

    public long this[string key] => TryGetValue(key, out long value) ? value : throw new KeyNotFoundException($"no metric '{key}'");

    public IEnumerable<string> Keys => _names;

    public IEnumerable<long> Values => _values;

    public int Count => _names.Length;

    public bool ContainsKey(string key) => IndexOf(_names, key) >= 0;

    public bool TryGetValue(string key, [MaybeNullWhen(false)] out long value)
    {
        int i = IndexOf(_names, key);
        value = i >= 0 ? _values[i] : 0;
        return i >= 0;
    }

    public IEnumerator<KeyValuePair<string, long>> GetEnumerator()
    {
        for (int i = 0; i < _names.Length; i++) yield return new KeyValuePair<string, long>(_names[i], _values[i]);
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
