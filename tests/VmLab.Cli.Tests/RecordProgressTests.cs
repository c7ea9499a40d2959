namespace VmLab.Cli.Tests;

/// <summary>The status line of <c>vmlab trace record</c> on a terminal.</summary>
public sealed class RecordProgressTests
{
    [Fact]
    public void TheLineIsRedrawnInPlaceAtMostOncePerIntervalWithRecordsMegabytesAndRate()
    {
        var clock = new ManualClock();
        var output = new StringWriter();
        var progress = new RecordProgress(output, "sort", TimeSpan.FromMilliseconds(250), clock);
        for (int batch = 1; batch <= 100; batch++)
        {
            clock.Advance(TimeSpan.FromMilliseconds(50)); // a batch of 8,192 records every 50 ms: 5 s in all
            progress.Report(batch * 8192L, 0, batch * 25_000L);
        }

        string[] draws = output.ToString().Split('\r', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(20, draws.Length); // one per 250 ms, not one per batch
        Assert.All(draws, d => Assert.EndsWith("\x1b[K", d)); // each erases what a longer line before it left
        Assert.Equal("recording sort: 40,960 records, 0.1 MB written, 163,840 records/s, 0:00:00\x1b[K", draws[0]);
        Assert.Equal("recording sort: 819,200 records, 2.5 MB written, 163,840 records/s, 0:00:05\x1b[K", draws[^1]);
    }

    [Fact]
    public void WhileASkipIsPassedOverTheLineCountsTowardsItThenCountsOnlyTheRecordsKept()
    {
        Assert.Equal("recording ls: skipping 250,000 of 1,000,000 records, 125,000 records/s, 0:00:02",
            RecordProgress.Line("ls", 250_000, 1_000_000, 0, TimeSpan.FromSeconds(2)));
        Assert.Equal("recording ls: 500,000 records, 1.2 MB written, 375,000 records/s, 0:00:04",
            RecordProgress.Line("ls", 1_500_000, 1_000_000, 1_234_567, TimeSpan.FromSeconds(4)));
    }

    [Fact]
    public void ClearErasesTheLineOnlyWhenOneWasDrawn()
    {
        var clock = new ManualClock();
        var output = new StringWriter();
        var progress = new RecordProgress(output, "true", TimeSpan.FromMilliseconds(250), clock);
        clock.Advance(TimeSpan.FromMilliseconds(100));
        progress.Report(10, 0, 100); // within the first interval: nothing drawn
        progress.Clear();
        Assert.Equal("", output.ToString()); // a short recording leaves stderr untouched

        clock.Advance(TimeSpan.FromMilliseconds(300));
        progress.Report(20, 0, 200);
        progress.Clear();
        Assert.EndsWith("\r\x1b[K", output.ToString());
        Assert.StartsWith("\rrecording true: 20 records", output.ToString());
    }
}
