using VmLab.Host.Mrc;
using VmLab.Host.Tests.Replacement;

namespace VmLab.Host.Tests.Mrc;

public sealed class StackDistancesTests
{
    /// <summary>A seeded stream over <paramref name="keys"/> keys with some locality: half the references revisit one of the last few keys.</summary>
    private static List<ulong> Stream(int length, int keys, int seed)
    {
        var random = new Random(seed);
        var stream = new List<ulong>(length);
        for (int i = 0; i < length; i++)
            stream.Add(i > 8 && random.Next(2) == 0 ? stream[i - 1 - random.Next(8)] : (ulong)random.Next(keys));
        return stream;
    }

    private static StackDistances Measure(List<ulong> stream)
    {
        var ids = new Dictionary<ulong, int>();
        var d = new StackDistances();
        foreach (var key in stream)
        {
            if (!ids.TryGetValue(key, out int id)) ids[key] = id = ids.Count;
            d.Reference(id);
        }
        return d;
    }

    [Theory]
    [InlineData(3_000, 40, 1)] // no renumbering (fewer references than the tree's first capacity)
    [InlineData(30_000, 300, 2)] // many renumberings with few keys
    [InlineData(30_000, 6_000, 3)] // the tree grows past its first capacity
    public void MissesAtEverySizeEqualATextbookLruCacheOfThatSize(int length, int keys, int seed)
    {
        var stream = Stream(length, keys, seed);
        var d = Measure(stream);
        int distinct = stream.Distinct().Count();
        long[] sizes = [1, 2, 3, 7, 16, 50, 299, 300, distinct - 1, distinct, distinct + 5];
        var all = d.Misses(sizes);
        for (int i = 0; i < sizes.Length; i++)
        {
            long expected = ReferenceCache.Misses(stream, (int)sizes[i], "lru");
            Assert.Equal(expected, all[i]);
            Assert.Equal(expected, d.Misses(sizes[i]));
        }
        Assert.Equal(distinct, d.Cold);
        Assert.Equal(distinct, d.Keys);
        Assert.Equal(length, d.References);
    }

    [Fact]
    public void DistanceCountsTheDistinctKeysSinceTheLastReference()
    {
        var d = new StackDistances();
        foreach (int id in new[] { 0, 1, 2, 1, 1, 0, 3, 2 }) d.Reference(id);
        // 1 after {2}: 1; 1 after {}: 0; 0 after {1, 2}: 2; 2 after {1, 0, 3}: 3.
        Assert.Equal([1L, 1, 1, 1], d.Histogram[..4].ToArray());
        Assert.Equal(4, d.Cold);
        Assert.Equal(7, d.Misses(1)); // a 1-entry LRU cache hits only the immediate repeat
        Assert.Equal(4, d.Misses(4));
    }
}
