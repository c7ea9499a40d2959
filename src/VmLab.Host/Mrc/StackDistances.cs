namespace VmLab.Host.Mrc;

/// <summary>
/// Mattson's LRU stack distances in one pass (Mattson, Gecsei, Slutz and Traiger, 1970), O(log M) per reference for M
/// distinct keys: each key keeps the time of its last reference, a Fenwick tree over times marks the last reference of
/// every key, and the distance of a re-reference is the number of marks after the key's previous one (the distinct
/// keys referenced since). Times are renumbered densely when the tree is full, so memory grows with the distinct keys,
/// never with the length of the stream. An LRU cache of C entries misses a reference exactly when it is the key's first
/// or its distance (distinct other keys since its last reference) is C or more — for every C at once.
/// </summary>
public sealed class StackDistances
{
    private int[] _tree = new int[4097];
    private int[] _last = new int[1024];
    private long[] _histogram = new long[1024];
    private int _keys;
    private int _now = 1;

    /// <summary>References counted.</summary>
    public long References { get; private set; }

    /// <summary>First references (misses at every size).</summary>
    public long Cold { get; private set; }

    /// <summary>Distinct keys seen.</summary>
    public int Keys => _keys;

    /// <summary>A reference to key <paramref name="id"/>: a dense number, 0 for the first key seen, then 1, 2, ...; a new key is the next number.</summary>
    public void Reference(int id)
    {
        References++;
        if (_now == _tree.Length) Compact();
        if (id == _keys)
        {
            if (_keys == _last.Length) Array.Resize(ref _last, _last.Length * 2);
            _keys++;
            Cold++;
        }
        else
        {
            int last = _last[id];
            int distance = _keys - Prefix(last); // marks after last: one per distinct key referenced since
            if (distance >= _histogram.Length) Array.Resize(ref _histogram, Math.Max(_histogram.Length * 2, distance + 1));
            _histogram[distance]++;
            Add(last, -1);
        }
        _last[id] = _now;
        Add(_now, 1);
        _now++;
    }

    /// <summary>Misses of an LRU cache of <paramref name="size"/> entries (size &gt;= 1): first references plus re-references at distance size or more.</summary>
    public long Misses(long size)
    {
        long misses = Cold;
        for (long d = Math.Max(size, 0); d < _histogram.Length; d++) misses += _histogram[d];
        return misses;
    }

    /// <summary>Misses for each of <paramref name="sizes"/> (ascending or not), from one suffix sum.</summary>
    public long[] Misses(IReadOnlyList<long> sizes)
    {
        var suffix = new long[_histogram.Length + 1];
        for (int d = _histogram.Length - 1; d >= 0; d--) suffix[d] = suffix[d + 1] + _histogram[d];
        var result = new long[sizes.Count];
        for (int i = 0; i < sizes.Count; i++)
            result[i] = Cold + (sizes[i] >= _histogram.Length ? 0 : suffix[Math.Max(0, sizes[i])]);
        return result;
    }

    /// <summary>The histogram of re-reference distances: entry d counts re-references with d distinct other keys since.</summary>
    public ReadOnlySpan<long> Histogram => _histogram;

    private int Prefix(int i)
    {
        int sum = 0;
        for (; i > 0; i -= i & -i) sum += _tree[i];
        return sum;
    }

    private void Add(int i, int delta)
    {
        for (; i < _tree.Length; i += i & -i) _tree[i] += delta;
    }

    /// <summary>Renumbers the keys' last references 1..M in their order and rebuilds the tree with room for as many again.</summary>
    private void Compact()
    {
        var times = new int[_keys];
        var ids = new int[_keys];
        for (int k = 0; k < _keys; k++) (times[k], ids[k]) = (_last[k], k);
        Array.Sort(times, ids);
        int capacity = Math.Max(4096, 2 * (_keys + 1));
        _tree = new int[capacity + 1];
        for (int t = 1; t <= _keys; t++)
        {
            _last[ids[t - 1]] = t;
            _tree[t] += 1;
            int parent = t + (t & -t);
            if (parent <= capacity) _tree[parent] += _tree[t];
        }
        // Positions after the keys hold no mark but must carry the sums of their children.
        for (int t = _keys + 1; t <= capacity; t++)
        {
            int parent = t + (t & -t);
            if (parent <= capacity) _tree[parent] += _tree[t];
        }
        _now = _keys + 1;
    }
}
