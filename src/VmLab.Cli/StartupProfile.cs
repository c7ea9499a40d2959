using System.Diagnostics;
using System.Globalization;

namespace VmLab.Cli;

/// <summary>
/// Where start-up time goes, for <c>VMLAB_PROFILE_STARTUP=1</c>: at each mark, one line on stderr with the wall time
/// since the process started, the process's CPU time (user + system, all threads) and the methods the JIT compiled so
/// far with the time it spent (<see cref="System.Runtime.JitInfo"/>). Off (no timing, nothing written) without the
/// variable. docs/performance.md ("Start-up") reads these lines.
/// </summary>
public sealed class StartupProfile
{
    public const string EnvironmentVariable = "VMLAB_PROFILE_STARTUP";

    private readonly TextWriter? _writer;
    private readonly DateTime _processStart;

    private StartupProfile(TextWriter? writer)
    {
        _writer = writer;
        if (writer is not null) _processStart = Process.GetCurrentProcess().StartTime.ToUniversalTime();
    }

    /// <summary>A profile that writes nothing.</summary>
    public static StartupProfile Off { get; } = new(null);

    /// <summary>On when <see cref="EnvironmentVariable"/> is <c>1</c>, writing to <paramref name="stderr"/>.</summary>
    public static StartupProfile FromEnvironment(TextWriter stderr) =>
        Environment.GetEnvironmentVariable(EnvironmentVariable) == "1" ? new StartupProfile(stderr) : Off;

    public bool Enabled => _writer is not null;

    /// <summary>Writes one line for the point <paramref name="what"/> reached.</summary>
    public void Mark(string what)
    {
        if (_writer is null) return;
        double wall = (DateTime.UtcNow - _processStart).TotalMilliseconds;
        double cpu = Process.GetCurrentProcess().TotalProcessorTime.TotalMilliseconds;
        _writer.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"startup: {what,-28} wall {wall,7:0.0} ms  cpu {cpu,7:0.0} ms  jitted {System.Runtime.JitInfo.GetCompiledMethodCount(),5} methods in {System.Runtime.JitInfo.GetCompilationTime().TotalMilliseconds,6:0.0} ms"));
    }
}
