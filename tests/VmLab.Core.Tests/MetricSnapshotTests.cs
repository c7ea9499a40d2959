namespace VmLab.Core.Tests;

public sealed class MetricSnapshotTests
{
    private static MetricRegistry Registry(params (string Name, long Value)[] counters)
    {
        var metrics = new MetricRegistry();
        foreach (var (name, value) in counters) metrics.Counter(name).Value = value;
        return metrics;
    }

    [Fact]
    public void ASnapshotListsEveryCounterInOrdinalOrderOfNames()
    {
        var snapshot = Registry(("tlb.misses", 3), ("Z.upper", 9), ("faults.total", 7), ("tlb.hits", 5)).Snapshot();

        Assert.Equal(["Z.upper", "faults.total", "tlb.hits", "tlb.misses"], snapshot.Keys);
        Assert.Equal([9L, 7L, 5L, 3L], snapshot.Values);
        Assert.Equal(4, snapshot.Count);
        Assert.Equal(5, snapshot["tlb.hits"]);
        Assert.True(snapshot.TryGetValue("faults.total", out long faults));
        Assert.Equal(7, faults);
        Assert.False(snapshot.ContainsKey("tlb.Hits"));
        Assert.Throws<KeyNotFoundException>(() => snapshot["absent"]);
    }

    [Fact]
    public void ASnapshotKeepsTheValuesOfItsMoment()
    {
        var metrics = Registry(("a", 1));
        var snapshot = metrics.Snapshot();
        metrics.Counter("a").Value = 2;
        metrics.Counter("b").Value = 3;

        Assert.Equal([new KeyValuePair<string, long>("a", 1)], snapshot);
    }

    [Fact]
    public void WithAddsNewNamesInOrderAndReplacesValuesOfNamesItHas()
    {
        var snapshot = Registry(("b", 2), ("d", 4)).Snapshot();

        var more = snapshot.With([new("e", 5), new("a", 1), new("d", 40), new("c", 3)]);

        Assert.Equal(["a", "b", "c", "d", "e"], more.Keys);
        Assert.Equal([1L, 2L, 3L, 40L, 5L], more.Values);
        Assert.Equal([new KeyValuePair<string, long>("b", 2), new("d", 4)], snapshot); // unchanged
        Assert.Same(snapshot, snapshot.With([]));
    }
}
