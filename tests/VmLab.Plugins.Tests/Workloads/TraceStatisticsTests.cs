using VmLab.Traces;
using VmLab.Abstractions;
using VmLab.Plugins.Workloads;

namespace VmLab.Plugins.Tests.Workloads;

public sealed class TraceStatisticsTests
{
    /// <summary>Reference: LRU stack distance by a plain list (most recent first); -1 for a first touch.</summary>
    private static List<long> ReferenceDistances(IEnumerable<(int Pid, ulong Page)> touches)
    {
        var stack = new List<(int, ulong)>();
        var result = new List<long>();
        foreach (var t in touches)
        {
            int i = stack.IndexOf(t);
            result.Add(i);
            if (i >= 0) stack.RemoveAt(i);
            stack.Insert(0, t);
        }
        return result;
    }

    [Fact]
    public void HistogramMatchesAPlainLruStackOverManyAccessesWithCompaction()
    {
        var random = new Random(11);
        var accesses = new List<MemoryAccess>();
        for (int i = 0; i < 30_000; i++)
        {
            ulong page = random.Next(3) == 0 ? (ulong)random.Next(400) : (ulong)random.Next(8);
            accesses.Add(MemoryAccess.Read(page * 4096 + (ulong)random.Next(4096 - 8), 8, pid: random.Next(2)));
        }
        var stats = new TraceStatistics();
        foreach (var chunk in accesses.Chunk(1000)) stats.Add(chunk);

        var expected = new long[66];
        foreach (long d in ReferenceDistances(accesses.Select(a => (a.Pid, a.Address >> 12))))
            expected[d < 0 ? 0 : 1 + TraceStatistics.Bucket(d)]++;
        Assert.Equal(expected, stats.ReuseHistogram);
        Assert.Equal(accesses.Select(a => (a.Pid, a.Address >> 12)).Distinct().Count(), stats.FootprintPages);
    }

    [Fact]
    public void BucketsArePowersOfTwo()
    {
        Assert.Equal([0, 1, 2, 2, 3, 3, 3, 3, 4], Enumerable.Range(0, 9).Select(d => TraceStatistics.Bucket(d)));
    }

    [Fact]
    public void StraddlingAccessTouchesBothPagesAndCountsOnce()
    {
        var stats = new TraceStatistics();
        stats.Add([MemoryAccess.Write(0x1ffc, 8), MemoryAccess.Fetch(0x2000, 4), MemoryAccess.Read(0x1000, 1)]);
        Assert.Equal(3, stats.Accesses);
        Assert.Equal(4, stats.PageTouches);
        Assert.Equal(2, stats.FootprintPages);
        Assert.Equal(2, stats.ReuseHistogram[0]);  // pages 1 and 2 first touched
        Assert.Equal(1, stats.ReuseHistogram[1]);  // page 2 again right away: distance 0
        Assert.Equal(1, stats.ReuseHistogram[2]);  // page 1 after page 2: distance 1
    }
}
