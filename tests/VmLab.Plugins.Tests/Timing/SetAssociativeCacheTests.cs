using VmLab.Abstractions;
using VmLab.Abstractions.Cache;
using VmLab.Plugins.Timing;

namespace VmLab.Plugins.Tests.Timing;

/// <summary>The set-associative hierarchy against a reference written here from the definition: LRU sets, non-inclusive fills.</summary>
public sealed class SetAssociativeCacheTests
{
    /// <summary>
    /// The reference: each set a list, most recently used first. A reference looks the levels up nearest first; the
    /// first that holds the line serves it (moved to the front there) and every nearer level gets the line in front,
    /// its last line dropped when full; memory serves a line no level holds and every level gets it.
    /// </summary>
    private sealed class ReferenceHierarchy(int lineBytes, (int Sets, int Ways)[] levels)
    {
        private readonly List<ulong>[][] _sets = [.. levels.Select(l => Enumerable.Range(0, l.Sets).Select(_ => new List<ulong>()).ToArray())];
        public long[] Hits { get; } = new long[levels.Length];
        public long[] Misses { get; } = new long[levels.Length];

        public int Access(ulong address)
        {
            ulong line = address / (ulong)lineBytes;
            int served = levels.Length;
            for (int i = 0; i < levels.Length; i++)
            {
                var set = _sets[i][(int)(line % (ulong)levels[i].Sets)];
                int at = set.IndexOf(line);
                if (at >= 0)
                {
                    set.RemoveAt(at);
                    set.Insert(0, line);
                    Hits[i]++;
                    served = i;
                    break;
                }
                Misses[i]++;
            }
            for (int i = 0; i < served; i++)
            {
                var set = _sets[i][(int)(line % (ulong)levels[i].Sets)];
                set.Insert(0, line);
                if (set.Count > levels[i].Ways) set.RemoveAt(set.Count - 1);
            }
            return served;
        }
    }

    private static SetAssociativeCacheOptions Options(int lineBytes, params (string Name, int Sets, int Ways, double Latency)[] levels) => new()
    {
        LineBytes = lineBytes,
        Levels = [.. levels.Select(l => new CacheLevelOptions { Name = l.Name, Sets = l.Sets, Ways = l.Ways, Latency = l.Latency })],
    };

    [Fact]
    public void ATwoWaySetEvictsItsLeastRecentlyUsedLine()
    {
        var metrics = new TestMetrics();
        var cache = new SetAssociativeCache(Options(64, ("l1d", 1, 2, 4)), metrics);
        // A, B, A (hit; B is now LRU), C (evicts B), B (miss, evicts A), A (miss).
        int[] served = [.. new ulong[] { 0, 64, 0, 128, 64, 0 }.Select(a => cache.Access(a, CacheSource.Walk))];
        Assert.Equal([1, 1, 0, 1, 1, 1], served);
        Assert.Equal(1, metrics["cache.l1d.hits"]);
        Assert.Equal(5, metrics["cache.l1d.misses"]);
        Assert.Equal(5, metrics["cache.walk.memory"]);
        Assert.Equal(1, metrics["cache.walk.l1d.hits"]);
    }

    [Fact]
    public void BytesOfOneLineShareItAndTheNextLineDoesNot()
    {
        var metrics = new TestMetrics();
        var cache = new SetAssociativeCache(Options(64, ("l1d", 4, 1, 4)), metrics);
        cache.Access(0x1000, CacheSource.Walk);
        Assert.Equal(0, cache.Access(0x1038, CacheSource.Walk)); // same 64-byte line
        Assert.Equal(1, cache.Access(0x1040, CacheSource.Walk)); // the next line: memory
    }

    [Theory]
    [InlineData(1, 20_000)]
    [InlineData(7, 20_000)]
    [InlineData(42, 50_000)]
    public void HitsAndMissesAtEveryLevelMatchTheReferenceOnARandomStream(int seed, int count)
    {
        (int Sets, int Ways)[] shape = [(4, 2), (16, 4), (64, 8)];
        var metrics = new TestMetrics();
        var cache = new SetAssociativeCache(Options(64, ("l1d", 4, 2, 4), ("l2", 16, 4, 12), ("llc", 64, 8, 40)), metrics);
        var reference = new ReferenceHierarchy(64, shape);
        var random = new Random(seed);
        for (int i = 0; i < count; i++)
        {
            // A skewed stream over 1,024 lines, so every level both hits and misses.
            ulong line = (ulong)(random.Next(4) == 0 ? random.Next(1024) : random.Next(48));
            ulong address = line * 64 + (ulong)random.Next(64);
            Assert.Equal(reference.Access(address), cache.Access(address, CacheSource.Walk));
        }
        string[] names = ["l1d", "l2", "llc"];
        for (int i = 0; i < names.Length; i++)
        {
            Assert.Equal(reference.Hits[i], metrics[$"cache.{names[i]}.hits"]);
            Assert.Equal(reference.Misses[i], metrics[$"cache.{names[i]}.misses"]);
            Assert.True(reference.Hits[i] > 0 && reference.Misses[i] > 0, $"{names[i]} both hits and misses on this stream");
        }
        Assert.Equal(count, metrics["cache.walk.l1d.hits"] + metrics["cache.walk.l2.hits"] + metrics["cache.walk.llc.hits"] + metrics["cache.walk.memory"]);
    }

    [Fact]
    public void DataReferencesAreCountedApartFromTheWalkersOnlyWhenDataIsOn()
    {
        var metrics = new TestMetrics();
        var cache = new SetAssociativeCache(Options(64, ("l1d", 4, 2, 4)) with { Data = true }, metrics);
        Assert.True(cache.SeesData);
        cache.Access(0, CacheSource.Data);
        cache.Access(0, CacheSource.Walk);
        Assert.Equal(1, metrics["cache.data.memory"]);
        Assert.Equal(1, metrics["cache.walk.l1d.hits"]);
        var off = new TestMetrics();
        Assert.False(new SetAssociativeCache(Options(64, ("l1d", 4, 2, 4)), off).SeesData);
        Assert.False(off.IsRegistered("cache.data.memory"));
    }

}

/// <summary>The hierarchy's per-reference path allocates nothing (run alone: it counts this thread's bytes).</summary>
[Collection(AllocationMeasurement.Name)]
public sealed class SetAssociativeCacheAllocationTests
{
    [Fact]
    public void AReferenceAllocatesNothing()
    {
        var cache = new SetAssociativeCache(new SetAssociativeCacheOptions { Data = true }, new TestMetrics());
        long bytes = AllocationMeasurement.FewestBytes(() =>
        {
            for (ulong a = 0; a < 100_000; a++) cache.Access(a * 4099, a % 3 == 0 ? CacheSource.Data : CacheSource.Walk);
        });
        Assert.Equal(0, bytes);
    }
}
