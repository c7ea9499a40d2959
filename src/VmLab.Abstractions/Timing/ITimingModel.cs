namespace VmLab.Abstractions.Timing;

/// <summary>
/// Estimates what a run cost in time from what it counted (<c>machine:timing</c>). The model is asked once, when the
/// workload has finished, with every metric of the run; it answers the time metrics it adds (<c>time.cycles</c>, its
/// split by cause, <c>time.clock_khz</c>; docs/metrics.md). It sees nothing per access, so configuring one costs the
/// translation path nothing; a model that needs a per-reference input (the cache level a walk reference hit) reads
/// the counters the component that sees those references keeps (<see cref="Cache.ICacheHierarchy"/>).
/// </summary>
public interface ITimingModel
{
    /// <summary>The time metrics for a run that counted <paramref name="metrics"/>; equal inputs give equal answers.</summary>
    IReadOnlyDictionary<string, long> Estimate(IReadOnlyDictionary<string, long> metrics);
}

/// <summary>The names of the time metrics (docs/metrics.md, "Time").</summary>
public static class TimeMetrics
{
    /// <summary>Estimated cycles of the whole run: the sum of the parts below.</summary>
    public const string Cycles = "time.cycles";
    public const string Translation = "time.cycles.translation";
    public const string Faults = "time.cycles.faults";
    public const string Signals = "time.cycles.signals";
    public const string Syscalls = "time.cycles.syscalls";
    public const string Reclaim = "time.cycles.reclaim";
    /// <summary>The workload's own data accesses, when the cache hierarchy sees them (<c>machine:cache:options:data</c>).</summary>
    public const string Data = "time.cycles.data";
    /// <summary>The profile's clock in kHz: <c>time.seconds = time.cycles / (1000 × time.clock_khz)</c>.</summary>
    public const string ClockKhz = "time.clock_khz";
    /// <summary>The run's estimated time in seconds, derived from <see cref="Cycles"/> and <see cref="ClockKhz"/> (not a counter).</summary>
    public const string Seconds = "time.seconds";

    /// <summary>Seconds from a run's metrics, or null when it has no time metrics.</summary>
    public static double? SecondsOf(IReadOnlyDictionary<string, long> metrics) =>
        metrics.TryGetValue(Cycles, out long cycles) && metrics.TryGetValue(ClockKhz, out long khz) && khz > 0 ? cycles / (khz * 1000.0) : null;
}
