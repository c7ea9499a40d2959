using System.Runtime.CompilerServices;
using VmLab.Abstractions;

namespace VmLab.Plugins.PageTables.Radix;

/// <summary>
/// Paging-structure caches (Intel's PML4/PDPT/PDE caches, Arm's walk caches): for each non-leaf level, a small
/// fully-associative LRU cache of table entries, tagged by the root and the virtual-address bits that select the
/// entry. A walk looks for the lowest level that hits and resumes below it, reading only the remaining entries.
/// Each cached entry keeps the rights accumulated from the levels above it, as the hardware's caches do.
/// Invalidated with the TLB: the kernel's page flush drops every entry of the address space (as <c>invlpg</c> drops
/// the paging-structure caches of the current PCID), and freeing tables drops the entries of that root.
/// Counts per walk: <c>pwc.hits</c> (some level hit), <c>pwc.misses</c> (no level hit), and <c>pwc.l&lt;N&gt;.hits</c>.
/// </summary>
public sealed class PageWalkCache
{
    private readonly int _entries;
    private readonly int _levels;
    // Per level (index = level), entries laid out flat: level * _entries + i.
    private readonly ulong[] _root;
    private readonly ulong[] _tag;
    private readonly ulong[] _table;
    private readonly uint[] _rights;
    private readonly long[] _lastUse;
    private long _clock;
    private readonly Counter _hits, _misses;
    private readonly Counter[] _levelHits;

    public PageWalkCache(int entriesPerLevel, int levels, IMetrics metrics)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(entriesPerLevel);
        _entries = entriesPerLevel;
        _levels = levels;
        int total = (levels + 1) * entriesPerLevel;
        _root = new ulong[total];
        _tag = new ulong[total];
        _table = new ulong[total];
        _rights = new uint[total];
        _lastUse = new long[total];
        _hits = metrics.Counter(MetricNames.PwcHits);
        _misses = metrics.Counter(MetricNames.PwcMisses);
        _levelHits = new Counter[levels + 1];
        for (int l = 2; l <= levels; l++) _levelHits[l] = metrics.Counter($"pwc.l{l}.hits");
    }

    public int EntriesPerLevel => _entries;

    /// <summary>
    /// Finds the lowest cached level for <paramref name="va"/>: returns the level whose entry hit (the walk
    /// continues at the level below, in <paramref name="table"/>), or 0 when nothing hit.
    /// </summary>
    public int Lookup<TFormat>(in TFormat format, ulong root, ulong va, out ulong table, out uint rights)
        where TFormat : struct, IRadixFormat
    {
        for (int level = 2; level <= _levels; level++)
        {
            ulong tag = va >> format.LevelShift(level);
            int i = Find(level, root, tag);
            if (i >= 0)
            {
                _lastUse[i] = ++_clock;
                table = _table[i];
                rights = _rights[i];
                _hits.Value++;
                _levelHits[level].Value++;
                return level;
            }
        }
        _misses.Value++;
        table = 0;
        rights = 0;
        return 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int Find(int level, ulong root, ulong tag)
    {
        int start = level * _entries;
        for (int i = start; i < start + _entries; i++)
            if (_tag[i] == tag && _root[i] == root) return i;
        return -1;
    }

    /// <summary>Caches the table entry read at <paramref name="level"/> (a level above the leaf).</summary>
    public void Insert(int level, ulong root, ulong tag, ulong table, uint rights)
    {
        int start = level * _entries;
        int victim = start;
        for (int i = start; i < start + _entries; i++)
        {
            if (_root[i] == 0) { victim = i; break; }
            if (_lastUse[i] < _lastUse[victim]) victim = i;
        }
        _root[victim] = root;
        _tag[victim] = tag;
        _table[victim] = table;
        _rights[victim] = rights;
        _lastUse[victim] = ++_clock;
    }

    /// <summary>Drops every entry of the address space rooted at <paramref name="root"/>.</summary>
    public void InvalidateRoot(ulong root)
    {
        for (int i = 0; i < _root.Length; i++)
            if (_root[i] == root) _root[i] = 0;
    }

    public void InvalidateAll() => Array.Clear(_root);
}
