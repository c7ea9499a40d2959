using System.Globalization;

namespace VmLab.Cli;

/// <summary>
/// The progress of <c>vmlab trace record</c> on a terminal: one status line on stderr, redrawn in place (carriage
/// return, erase to the end of the line) at most once per <see cref="Interval"/>, and erased when the recording ends so
/// only the summary stays. The caller draws it only when stderr is a terminal (<see cref="Terminal.IsInteractive"/>).
/// <code>recording sort: 12,345,678 records, 39.1 MB written, 812,345 records/s, 0:00:15</code>
/// While a <c>--skip</c> is being passed over: <c>recording sort: skipping 400,000 of 1,000,000 records, ...</c>.
/// </summary>
internal sealed class RecordProgress(TextWriter output, string name, TimeSpan interval, TimeProvider clock)
{
    private readonly long _start = clock.GetTimestamp();
    private long _lastLine = clock.GetTimestamp();
    private bool _drawn;

    public TimeSpan Interval => interval;

    /// <summary>
    /// Called after each batch: <paramref name="logRecords"/> records read from valgrind's log so far, of which the
    /// first <paramref name="skip"/> are passed over, and <paramref name="bytesWritten"/> bytes of trace written.
    /// </summary>
    public void Report(long logRecords, long skip, long bytesWritten)
    {
        long now = clock.GetTimestamp();
        if (clock.GetElapsedTime(_lastLine, now) < interval) return;
        _lastLine = now;
        output.Write("\r" + Line(name, logRecords, skip, bytesWritten, clock.GetElapsedTime(_start, now)) + "\x1b[K");
        output.Flush();
        _drawn = true;
    }

    /// <summary>Erases the status line, if one was drawn.</summary>
    public void Clear()
    {
        if (!_drawn) return;
        output.Write("\r\x1b[K");
        output.Flush();
        _drawn = false;
    }

    /// <summary>One status line: records kept (or the skip passed so far), megabytes written (10^6 bytes), records of log per second, elapsed time.</summary>
    public static string Line(string name, long logRecords, long skip, long bytesWritten, TimeSpan elapsed)
    {
        double seconds = Math.Max(elapsed.TotalSeconds, 1e-9);
        long rate = (long)(logRecords / seconds);
        long s = (long)elapsed.TotalSeconds;
        string clock = string.Create(CultureInfo.InvariantCulture, $"{s / 3600}:{s / 60 % 60:00}:{s % 60:00}");
        return logRecords < skip
            ? string.Create(CultureInfo.InvariantCulture, $"recording {name}: skipping {logRecords:N0} of {skip:N0} records, {rate:N0} records/s, {clock}")
            : string.Create(CultureInfo.InvariantCulture,
                $"recording {name}: {logRecords - skip:N0} records, {bytesWritten / 1e6:0.0} MB written, {rate:N0} records/s, {clock}");
    }
}
