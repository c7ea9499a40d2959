namespace VmLab.Abstractions.Cache;

/// <summary>Who made a reference to the cache hierarchy.</summary>
public enum CacheSource : byte
{
    /// <summary>The hardware page-table walker reading an entry.</summary>
    Walk = 0,
    /// <summary>The workload's own load, store or fetch (only when the hierarchy is asked to see them).</summary>
    Data = 1,
}

/// <summary>One level of a cache hierarchy as a timing model sees it: its name in metrics and its load-to-use latency.</summary>
/// <param name="Name">Lower case (<c>l1d</c>, <c>l2</c>, <c>llc</c>): its counters are <c>cache.NAME.hits</c> and <c>cache.NAME.misses</c>.</param>
/// <param name="LatencyCycles">Cycles from the request to the data when the reference hits at this level.</param>
public sealed record CacheLevelInfo(string Name, double LatencyCycles);

/// <summary>
/// The data-cache hierarchy the page-table walker's references go through (<c>machine:cache</c>): page-table entries are
/// cached in lines like data. One per machine. The walker calls <see cref="Access"/> for every entry it reads from
/// memory; the MMU calls it for every translated access when <see cref="SeesData"/>.
/// <para>
/// Counters it keeps (docs/metrics.md, "Caches"): <c>cache.LEVEL.hits</c>/<c>.misses</c> over every reference, and per
/// source <c>cache.walk.LEVEL.hits</c>, <c>cache.walk.memory</c> (walker references no level held) and the same under
/// <c>cache.data.</c>; a timing model charges each reference the latency of the level that served it.
/// </para>
/// </summary>
public interface ICacheHierarchy
{
    /// <summary>The levels, nearest first.</summary>
    IReadOnlyList<CacheLevelInfo> Levels { get; }

    /// <summary>Whether the workload's own accesses go through the hierarchy too (off by default).</summary>
    bool SeesData { get; }

    /// <summary>One reference to the byte at <paramref name="physicalAddress"/>: the index of the level that held its line, or <see cref="Levels"/>.Count when memory served it.</summary>
    int Access(ulong physicalAddress, CacheSource source);
}
