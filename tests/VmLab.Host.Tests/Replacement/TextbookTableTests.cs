using VmLab.Host.Running;

namespace VmLab.Host.Tests.Replacement;

/// <summary>
/// The textbook reference strings, run through the whole machine from JSON: each page number becomes a one-byte read
/// of its own page in a Lackey trace, the resident set is limited to the table's frame count, and the faults the kernel
/// takes are the table's page faults.
/// </summary>
public sealed class TextbookTableTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private const string Silberschatz = "7,0,1,2,0,3,0,4,2,3,0,3,2,1,2,0,1,7,0,1";
    private const string Belady = "1,2,3,4,1,2,5,1,2,3,4,5";

    /// <summary>A config for the string: zero page off, userFrames = frames, no watermark slack, the policy named.</summary>
    internal static string Config(TempDir dir, string pages, string policy, int frames, string extra = "")
    {
        var lines = pages.Split(',').Select(p => $" L {0x40_0000UL + ulong.Parse(p) * 4096:x},1");
        dir.File("refs.lackey", string.Join('\n', lines) + "\n");
        return dir.File($"{policy}-{frames}.json", $$"""
            {
              "name": "textbook-{{policy}}-{{frames}}",
              "machine": {
                "memory": { "frames": 256, "swapSlots": 4096, "userFrames": {{frames}}, "lowWatermark": 0, "highWatermark": 0 },
                "replacement": { "plugin": "{{policy}}" {{extra}} },
                "faultHandlers": [ { "plugin": "cow" }, { "plugin": "demand-zero", "options": { "zeroPage": false } } ]
              },
              "workload": { "plugin": "lackey", "options": { "path": "refs.lackey" } }
            }
            """);
    }

    private long Faults(string pages, string policy, int frames)
    {
        var r = PagingExactnessTests.Run(Config(_dir, pages, policy, frames));
        Assert.Equal(RunResult.Completed, r.Status);
        return r.Metrics["faults.total"];
    }

    [Fact]
    public void BeladysAnomalyFifoFaultsNineTimesWithThreeFramesAndTenWithFour()
    {
        Assert.Equal(9, Faults(Belady, "fifo", 3));
        Assert.Equal(10, Faults(Belady, "fifo", 4));
    }

    [Theory]
    [InlineData("fifo", 15)]
    [InlineData("opt", 9)]
    [InlineData("lru", 12)]
    public void TheClassicTwentyReferenceStringWithThreeFrames(string policy, int faults) =>
        Assert.Equal(faults, Faults(Silberschatz, policy, 3));

    [Fact]
    public void LruHasNoAnomalyOnBeladysString()
    {
        // LRU is a stack algorithm: more frames never cost more faults (10 with 3 frames, 8 with 4).
        Assert.Equal(10, Faults(Belady, "lru", 3));
        Assert.Equal(8, Faults(Belady, "lru", 4));
    }

    [Fact]
    public void EachMissBeyondTheFirstTouchesIsAMajorSwapInAndCleanCopiesAreNotRewritten()
    {
        var r = PagingExactnessTests.Run(Config(_dir, Silberschatz, "fifo", 3));
        // 6 distinct pages: 6 demand-zero faults, 15 - 6 = 9 swap-ins. Pages are only read: each is written to swap once
        // (its first eviction); later evictions find a valid clean copy in the swap cache and write nothing.
        Assert.Equal(6, r.Metrics["faults.demand_zero"]);
        Assert.Equal(9, r.Metrics["swap.ins"]);
        Assert.Equal(9, r.Metrics["faults.major"]);
        Assert.Equal(15 - 3, r.Metrics["reclaim.direct"]);
        Assert.Equal(6, r.Metrics["swap.outs"]);
    }
}
