using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
using System.Numerics;
using System.Runtime.CompilerServices;
using VmLab.Abstractions;
using VmLab.Abstractions.Cache;

namespace VmLab.Plugins.Timing;

/// <summary>One level of the hierarchy.</summary>
public sealed record CacheLevelOptions
{
    [Description("The level's name in metrics (cache.NAME.hits): lower-case letters and digits.")]
    [Required]
    public string Name { get; init; } = "";

    [Description("Sets (a power of two): the line address modulo sets picks the set.")]
    [Range(1, 1 << 24)]
    public int Sets { get; init; } = 64;

    [Description("Ways per set (associativity), replaced least recently used.")]
    [Range(1, 64)]
    public int Ways { get; init; } = 8;

    [Description("Load-to-use latency in cycles of a reference this level serves.")]
    [Range(0.0, 100000.0)]
    public double Latency { get; init; } = 4;
}

public sealed record SetAssociativeCacheOptions : IValidatableObject
{
    [Description("Bytes per line at every level (a power of two); a page-table entry's line is cached like data.")]
    [Range(8, 4096)]
    public int LineBytes { get; init; } = 64;

    [Description("Route the workload's own loads, stores and fetches through the hierarchy too (then time.cycles.data); false: only the page-table walker's references.")]
    public bool Data { get; init; }

    [Description("The levels, nearest first; sizes and latencies default to a recent x86-64 server core (docs/timing.md): L1D 48 KiB 12-way 5 cycles, L2 2 MiB 16-way 16 cycles, LLC 32 MiB 16-way 70 cycles.")]
    public CacheLevelOptions[] Levels { get; init; } =
    [
        new() { Name = "l1d", Sets = 64, Ways = 12, Latency = 5 },
        new() { Name = "l2", Sets = 2048, Ways = 16, Latency = 16 },
        new() { Name = "llc", Sets = 32768, Ways = 16, Latency = 70 },
    ];

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (!BitOperations.IsPow2(LineBytes)) yield return new ValidationResult($"is {LineBytes}; allowed: a power of two from 8 to 4096", [nameof(LineBytes)]);
        if (Levels.Length is 0 or > 8) yield return new ValidationResult($"has {Levels.Length} levels; allowed: 1 to 8", [nameof(Levels)]);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < Levels.Length; i++)
        {
            var l = Levels[i];
            if (l.Name.Length == 0 || !l.Name.All(ch => char.IsAsciiLetterLower(ch) || char.IsAsciiDigit(ch)) || l.Name is "walk" or "data" or "memory")
                yield return new ValidationResult($"level {i}: name '{l.Name}' is not allowed; use lower-case letters and digits (l1d, l2, llc), not walk, data or memory", [nameof(Levels)]);
            else if (!seen.Add(l.Name))
                yield return new ValidationResult($"level {i}: the name '{l.Name}' is used twice", [nameof(Levels)]);
            if (!BitOperations.IsPow2(l.Sets)) yield return new ValidationResult($"level {i} ({l.Name}): sets is {l.Sets}; allowed: a power of two", [nameof(Levels)]);
        }
    }
}

/// <summary>
/// The hierarchy as the MMU and the walker call it: a struct holding a reference to its state
/// (<see cref="SetAssociativeCacheState"/>), so the MMU, closed over this type, calls it directly for every data access
/// (copies share the state).
/// </summary>
public readonly struct SetAssociativeCache(SetAssociativeCacheOptions options, IMetrics metrics) : ICacheHierarchy
{
    private readonly SetAssociativeCacheState _state = new(options, metrics);

    public IReadOnlyList<CacheLevelInfo> Levels => _state.Levels;

    public bool SeesData => _state.SeesData;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int Access(ulong physicalAddress, CacheSource source) => _state.Access(physicalAddress, source);
}

/// <summary>
/// A set-associative, non-inclusive cache hierarchy with LRU replacement in every set (docs/timing.md). A reference
/// looks up each level nearest first; the level that holds its line serves it and becomes most recently used there,
/// and the line is filled into every nearer level (evicting each set's least recently used line). A reference no level
/// holds is served by memory and filled into all levels. Reads and writes are treated alike (write-allocate, no
/// write-back traffic). Per reference: no allocation, one pass over at most <c>ways</c> tags per level.
/// </summary>
public sealed class SetAssociativeCacheState
{
    private readonly Level[] _levels;
    private readonly int _lineShift;
    private readonly Counter[][] _sourceHits;
    private readonly Counter[] _sourceMemory;

    public SetAssociativeCacheState(SetAssociativeCacheOptions options, IMetrics metrics)
    {
        _lineShift = BitOperations.Log2((uint)options.LineBytes);
        _levels = [.. options.Levels.Select(l => new Level(l, metrics))];
        Levels = [.. options.Levels.Select(l => new CacheLevelInfo(l.Name, l.Latency))];
        SeesData = options.Data;
        string[] sources = SeesData ? ["walk", "data"] : ["walk"];
        _sourceHits = new Counter[2][];
        _sourceMemory = new Counter[2];
        for (int s = 0; s < sources.Length; s++)
        {
            _sourceHits[s] = [.. options.Levels.Select(l => metrics.Counter($"cache.{sources[s]}.{l.Name}.hits"))];
            _sourceMemory[s] = metrics.Counter($"cache.{sources[s]}.memory");
        }
    }

    public IReadOnlyList<CacheLevelInfo> Levels { get; }

    public bool SeesData { get; }

    public int Access(ulong physicalAddress, CacheSource source)
    {
        ulong tag = (physicalAddress >> _lineShift) + 1; // 0 marks an empty way
        int served = _levels.Length;
        for (int i = 0; i < _levels.Length; i++)
        {
            if (_levels[i].Lookup(tag))
            {
                served = i;
                break;
            }
        }
        for (int i = 0; i < served && i < _levels.Length; i++) _levels[i].Fill(tag);
        if (served < _levels.Length) _sourceHits[(int)source][served].Value++;
        else _sourceMemory[(int)source].Value++;
        return served;
    }

    /// <summary>One level: <c>sets × ways</c> tags, each set ordered most recently used first.</summary>
    private sealed class Level
    {
        private readonly ulong[] _tags;
        private readonly int _ways;
        private readonly ulong _setMask;
        private readonly Counter _hits, _misses;

        public Level(CacheLevelOptions o, IMetrics metrics)
        {
            _ways = o.Ways;
            _setMask = (ulong)o.Sets - 1;
            _tags = new ulong[(long)o.Sets * o.Ways];
            _hits = metrics.Counter($"cache.{o.Name}.hits");
            _misses = metrics.Counter($"cache.{o.Name}.misses");
        }

        /// <summary>True (and the line made most recently used) when the set holds <paramref name="tag"/>; counts the hit or miss.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public bool Lookup(ulong tag)
        {
            var set = _tags.AsSpan((int)((tag - 1) & _setMask) * _ways, _ways);
            for (int w = 0; w < set.Length; w++)
            {
                if (set[w] != tag) continue;
                set[..w].CopyTo(set[1..(w + 1)]);
                set[0] = tag;
                _hits.Value++;
                return true;
            }
            _misses.Value++;
            return false;
        }

        /// <summary>Puts a line the set does not hold in front, dropping the least recently used one.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Fill(ulong tag)
        {
            var set = _tags.AsSpan((int)((tag - 1) & _setMask) * _ways, _ways);
            set[..^1].CopyTo(set[1..]);
            set[0] = tag;
        }
    }
}
