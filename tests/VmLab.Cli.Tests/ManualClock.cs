namespace VmLab.Cli.Tests;

/// <summary>A clock the test moves by hand, for progress output paced by time.</summary>
internal sealed class ManualClock : TimeProvider
{
    public long Ticks { get; set; }

    public override long TimestampFrequency => TimeSpan.TicksPerSecond;

    public override long GetTimestamp() => Ticks;

    public void Advance(TimeSpan t) => Ticks += t.Ticks;
}
