using System.Text.RegularExpressions;
using VmLab.Host.Sweeps;

namespace VmLab.Cli.Tests;

/// <summary>The sweep's progress lines for logs that are not a terminal (batch jobs, pipes).</summary>
public sealed class SweepProgressLinesTests
{
    [Fact]
    public void ABigSweepWritesOneLinePerIntervalNotOnePerCase()
    {
        var clock = new ManualClock();
        var output = new StringWriter();
        var lines = new SweepProgressLines(output, "big", TimeSpan.FromSeconds(10), clock);
        lines.Report(new SweepProgress(1000, 0, 0, null));
        for (int done = 1; done <= 1000; done++)
        {
            clock.Advance(TimeSpan.FromSeconds(0.25)); // a case every quarter second: 250 s in all
            lines.Report(new SweepProgress(1000, done, done / 100, $"case={done}"));
        }

        string[] written = output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(25, written.Length); // one every 10 s (40 cases), not 1000
        Assert.Equal("progress: sweep big: 40/1000 cases (4%), 0 failed, elapsed 0:00:10, ETA 0:04:00", written[0]);
        Assert.Equal("progress: sweep big: 520/1000 cases (52%), 5 failed, elapsed 0:02:10, ETA 0:02:00", written[12]);
        Assert.Equal("progress: sweep big: 1000/1000 cases (100%), 10 failed, elapsed 0:04:10, ETA 0:00:00", written[^1]);
    }

    [Fact]
    public void TheEtaCountsOnlyTheCasesThisRunRanAndASweepShorterThanTheIntervalWritesNothing()
    {
        var clock = new ManualClock();
        var output = new StringWriter();
        var lines = new SweepProgressLines(output, "resumed", TimeSpan.FromSeconds(10), clock);
        lines.Report(new SweepProgress(100, 60, 0, null)); // 60 finished before the resume
        clock.Advance(TimeSpan.FromSeconds(9));
        lines.Report(new SweepProgress(100, 61, 0, "case=61"));
        Assert.Equal("", output.ToString()); // within the first interval

        clock.Advance(TimeSpan.FromSeconds(11));
        lines.Report(new SweepProgress(100, 80, 1, "case=80"));
        // 20 cases in 20 s: 1 s each, 20 left.
        Assert.Equal("progress: sweep resumed: 80/100 cases (80%), 1 failed, elapsed 0:00:20, ETA 0:00:20\n", output.ToString().ReplaceLineEndings("\n"));
    }

    [Fact]
    public void ParallelReportsArrivingOutOfOrderNeverWriteALineThatGoesBack()
    {
        var clock = new ManualClock();
        var output = new StringWriter();
        var lines = new SweepProgressLines(output, "p", TimeSpan.Zero, clock);
        lines.Report(new SweepProgress(4, 0, 0, null));
        foreach (int done in new[] { 2, 1, 3, 4 })
        {
            clock.Advance(TimeSpan.FromSeconds(1));
            lines.Report(new SweepProgress(4, done, 0, $"case={done}"));
        }
        Assert.Equal(["2/4", "3/4", "4/4"], Regex.Matches(output.ToString(), @"\d+/4").Select(m => m.Value));
    }

    [Fact]
    public void SweepWithProgressIntervalZeroWritesALinePerCaseToAStderrThatIsNotATerminal()
    {
        string sweep = Cli.Repo("configs", "sweeps", "tlb-size-policy.json");
        using var s = new Scratch();
        string tiny = "workload:options:path=" + Cli.Repo("configs", "traces", "tiny.lackey");
        var r = Cli.Run("sweep", sweep, "--db", s.PathOf("p.db"), "--jobs", "1", "--isolation", "none", "--progress-interval", "0", "--set", tiny);
        Assert.True(r.ExitCode == 0, r.Stderr);
        var lines = r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        int total = int.Parse(Regex.Match(r.Stdout, @"sweep tlb-size-policy: (\d+) case\(s\)").Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(total, lines.Length);
        for (int i = 0; i < total; i++)
            Assert.Matches($@"^progress: sweep tlb-size-policy: {i + 1}/{total} cases \({(i + 1) * 100 / total}%\), 0 failed, elapsed \d+:\d\d:\d\d, ETA \d+:\d\d:\d\d$", lines[i]);

        // Resumed with nothing left to run, the sweep writes no line; a bad interval is refused naming the option.
        var quiet = Cli.Run("sweep", sweep, "--db", s.PathOf("p.db"), "--set", tiny);
        Assert.Equal((0, ""), (quiet.ExitCode, quiet.Stderr));
        var bad = Cli.Run("sweep", sweep, "--db", s.PathOf("p.db"), "--set", tiny, "--progress-interval", "soon");
        Assert.Equal(2, bad.ExitCode);
        Assert.Contains("--progress-interval expects a number of seconds >= 0 (0: a line after every case), got 'soon'", bad.Stderr);
    }
}
