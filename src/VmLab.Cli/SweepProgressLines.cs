using System.Globalization;
using VmLab.Host.Sweeps;

namespace VmLab.Cli;

/// <summary>
/// A sweep's progress as plain lines, for a log that is not a terminal (a batch job's output, a pipe): after a case
/// finishes, a line when at least <see cref="Interval"/> has passed since the previous line (or since the start), so a
/// big sweep writes one line per interval, not one per case, and a sweep shorter than the interval writes none.
/// <code>progress: sweep tlb-size-policy: 12/40 cases (30%), 1 failed, elapsed 0:00:08, ETA 0:00:19</code>
/// Everything but the two times depends only on the count of finished cases. The ETA is the mean time of the cases this
/// process ran times the cases left (cases finished before a resume are not counted), so it needs one finished case.
/// </summary>
internal sealed class SweepProgressLines(TextWriter output, string sweepName, TimeSpan interval, TimeProvider clock) : IProgress<SweepProgress>
{
    private readonly Lock _gate = new();
    private readonly long _start = clock.GetTimestamp();
    private long _lastLine = clock.GetTimestamp();
    private int _printed = -1;
    private int? _doneAtStart;

    public TimeSpan Interval => interval;

    public void Report(SweepProgress value)
    {
        lock (_gate)
        {
            // The first report is where the run starts (the cases finished before it); reports of parallel cases can
            // arrive out of order, and a line never goes back.
            _doneAtStart ??= value.Done;
            if (value.LastCase is null || value.Done <= _printed) return;
            long now = clock.GetTimestamp();
            if (clock.GetElapsedTime(_lastLine, now) < interval) return;
            _lastLine = now;
            _printed = value.Done;
            output.WriteLine(Line(sweepName, value, _doneAtStart.Value, clock.GetElapsedTime(_start, now)));
            output.Flush();
        }
    }

    /// <summary>One progress line: cases done of the total, the percentage (rounded down), failures, elapsed time and ETA.</summary>
    public static string Line(string sweepName, SweepProgress p, int doneAtStart, TimeSpan elapsed)
    {
        int ran = p.Done - doneAtStart;
        int left = Math.Max(0, p.Total - p.Done);
        string eta = ran > 0 ? Clock(elapsed * ((double)left / ran)) : "unknown";
        long percent = p.Total > 0 ? (long)p.Done * 100 / p.Total : 100;
        return string.Create(CultureInfo.InvariantCulture,
            $"progress: sweep {sweepName}: {p.Done}/{p.Total} cases ({percent}%), {p.Failed} failed, elapsed {Clock(elapsed)}, ETA {eta}");
    }

    /// <summary>h:mm:ss, rounded to the second (hours grow past 24).</summary>
    private static string Clock(TimeSpan t)
    {
        long seconds = (long)Math.Round(t.TotalSeconds, MidpointRounding.AwayFromZero);
        return string.Create(CultureInfo.InvariantCulture, $"{seconds / 3600}:{seconds / 60 % 60:00}:{seconds % 60:00}");
    }
}
