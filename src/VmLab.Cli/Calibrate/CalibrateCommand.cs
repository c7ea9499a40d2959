using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Text.Json.Nodes;
using VmLab.Host.Results;

namespace VmLab.Cli.Calibrate;

/// <summary>
/// <c>vmlab calibrate --out profile.json [--repeat N] [--quick] [--cc COMPILER]</c>: compiles the microbenchmarks of
/// calibrate.c (embedded in this assembly) with gcc, runs them on this host, and writes the timing profile derived from
/// their figures (docs/calibrate.md). The profile is written whole or not at all: an existing file is kept when any
/// step fails.
/// </summary>
internal sealed class CalibrateCommand(TextWriter stdout, TextWriter stderr)
{
    /// <summary>The longest the benchmarks may run before calibration fails.</summary>
    private static readonly TimeSpan Limit = TimeSpan.FromMinutes(10);

    public Command Definition() => Opt.Command("calibrate",
        "Measure this Linux host's costs of TLB misses, faults, signals and system calls with microbenchmarks (C, built with gcc) " +
        "and write them as a timing profile for machine:timing (docs/calibrate.md).",
        null,
        [
            Opt.Value("--out", "profile.json", "the profile to write (replaced only when calibration succeeds)", "-o"),
            Opt.Value("--repeat", "N", $"runs of each microbenchmark, the median taken (1 to {CalibrationSettings.MaxRepeat}; default 5, 1 with --quick)"),
            Opt.Flag("--quick", "fewer pages and loads, one run each: a rough profile in seconds (for tests and a first look)"),
            Opt.Value("--cc", "compiler", "the C compiler that builds the microbenchmarks (default gcc; clang works too)"),
        ], Run);

    /// <summary>Why calibration cannot run on this operating system, or null on Linux.</summary>
    public static string? Unsupported(bool isLinux, string osDescription) =>
        isLinux ? null : $"vmlab calibrate measures a Linux host; this is {osDescription}";

    private int Run(Arguments a)
    {
        if (a.Positionals.Count > 0) throw new UsageException($"calibrate takes no arguments, got '{a.Positionals[0]}'; e.g. vmlab calibrate --out host.json");
        string output = a.Value("--out") ?? throw new UsageException("calibrate needs the profile to write: vmlab calibrate --out host.json");
        int? repeat = a.Value("--repeat") is { } r ? (int)VmLabCommand.Positive("--repeat", r, CalibrationSettings.MaxRepeat) : null;
        var settings = CalibrationSettings.For(a.Flag("--quick"), repeat);
        string compiler = a.Value("--cc") ?? "gcc";

        if (Unsupported(OperatingSystem.IsLinux(), System.Runtime.InteropServices.RuntimeInformation.OSDescription) is { } why)
        {
            stderr.WriteLine($"error: {why}");
            return VmLabCommand.ExitBadInput;
        }
        OutputTarget.Check(output);
        string? compilerPath = FindExecutable(compiler);
        if (compilerPath is null)
        {
            stderr.WriteLine(compiler == "gcc"
                ? "error: vmlab calibrate compiles its microbenchmarks with gcc, which is not on PATH; install gcc (Debian/Ubuntu: apt install gcc libc6-dev) or name another C compiler with --cc"
                : $"error: --cc {compiler}: no such compiler (not an executable file, nor on PATH)");
            return VmLabCommand.ExitBadInput;
        }

        string work = Path.Combine(Path.GetTempPath(), "vmlab-calibrate-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(work);
        try
        {
            string binary = Compile(compilerPath, work, out string? compileErrors);
            if (compileErrors is not null)
            {
                stderr.WriteLine($"error: {compiler} could not build the microbenchmarks (calibrate.c); nothing was written to {output}:");
                stderr.WriteLine(compileErrors.TrimEnd());
                return VmLabCommand.ExitBadInput;
            }
            var figures = Measure(binary, work, settings, out string? failure);
            if (figures is null)
            {
                stderr.WriteLine($"error: calibration failed: {failure}; nothing was written to {output}");
                return VmLabCommand.ExitFailed;
            }
            JsonObject profile;
            try
            {
                string version = typeof(CalibrateCommand).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "?";
                profile = ProfileDerivation.Derive(figures, HostDescription.ThisLinuxHost(), settings, version, DateTime.UtcNow);
            }
            catch (InvalidOperationException e)
            {
                stderr.WriteLine($"error: calibration failed: {e.Message}; nothing was written to {output}");
                return VmLabCommand.ExitFailed;
            }
            OutputTarget.WriteText(output, ProfileDerivation.ToText(profile));
            Summarize(output, profile);
            return VmLabCommand.ExitOk;
        }
        finally
        {
            try { Directory.Delete(work, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    /// <summary>The path of <paramref name="name"/>: itself when it names a file, else the first match on PATH.</summary>
    private static string? FindExecutable(string name)
    {
        if (name.Contains('/', StringComparison.Ordinal)) return File.Exists(name) ? Path.GetFullPath(name) : null;
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            string candidate = Path.Combine(dir, name);
            if (File.Exists(candidate)) return candidate;
        }
        return null;
    }

    /// <summary>The C source of the microbenchmarks, as shipped in this assembly.</summary>
    public static string Source()
    {
        using var stream = typeof(CalibrateCommand).Assembly.GetManifestResourceStream("VmLab.Cli.Calibrate.calibrate.c")
            ?? throw new InvalidOperationException("calibrate.c is not embedded in vmlab");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    private static string Compile(string compiler, string work, out string? errors)
    {
        string source = Path.Combine(work, "calibrate.c");
        File.WriteAllText(source, Source());
        string binary = Path.Combine(work, "calibrate");
        var (code, _, err) = RunProcess(compiler, ["-std=gnu11", "-O2", "-Wall", "-pthread", "-o", binary, source], TimeSpan.FromMinutes(2), null);
        errors = code == 0 && File.Exists(binary) ? null : err.Length > 0 ? err : $"{compiler} exited with {code}";
        return binary;
    }

    /// <summary>Runs the benchmarks; their figures, or null and why.</summary>
    private Dictionary<string, double>? Measure(string binary, string work, CalibrationSettings s, out string? failure)
    {
        bool progress = Terminal.IsInteractive(stderr);
        string[] args = [s.Repeat.ToString(CultureInfo.InvariantCulture), s.Pages.ToString(CultureInfo.InvariantCulture), s.ChaseLoads.ToString(CultureInfo.InvariantCulture), work];
        if (progress) stderr.WriteLine($"calibrate: measuring ({(s.Quick ? "quick, " : "")}{s.Repeat} run(s) of each benchmark)...");
        var (code, output, err) = RunProcess(binary, args, Limit, progress ? line => stderr.WriteLine($"  {line}") : null);
        if (code != 0)
        {
            failure = code == -1
                ? $"the microbenchmarks ran longer than {Limit.TotalMinutes:0} minutes"
                : $"the microbenchmarks exited with {code}: {err.Trim()}";
            return null;
        }
        var figures = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var raw in output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var words = raw.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (words.Length != 2 || !double.TryParse(words[1], NumberStyles.Float, CultureInfo.InvariantCulture, out double value) || !figures.TryAdd(words[0], value))
            {
                failure = $"the microbenchmarks printed '{raw}' (every line must be a new 'key number')";
                return null;
            }
        }
        // A benchmark this host cannot run says so on stderr ("skip KEY reason"); its cost gets a documented default.
        if (progress)
            foreach (var line in err.Split('\n', StringSplitOptions.RemoveEmptyEntries))
                stderr.WriteLine($"  {line}");
        failure = null;
        return figures;
    }

    /// <summary>Runs a program; its exit code (-1 when it ran past <paramref name="limit"/> and was killed), stdout and stderr.</summary>
    private static (int Code, string Stdout, string Stderr) RunProcess(string file, IEnumerable<string> args, TimeSpan limit, Action<string>? onLine)
    {
        var psi = new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"{file} did not start");
        var err = p.StandardError.ReadToEndAsync();
        var sb = new System.Text.StringBuilder();
        var read = Task.Run(() =>
        {
            while (p.StandardOutput.ReadLine() is { } line)
            {
                sb.Append(line).Append('\n');
                onLine?.Invoke(line);
            }
        });
        if (!p.WaitForExit(limit))
        {
            p.Kill(entireProcessTree: true);
            p.WaitForExit();
            return (-1, "", "");
        }
        read.Wait();
        return (p.ExitCode, sb.ToString(), err.Result);
    }

    private void Summarize(string output, JsonObject profile)
    {
        var cycles = profile["cycles"]!.AsObject();
        stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"wrote {output}: {profile["name"]}, clock {profile["clockGHz"]} GHz"));
        var notMeasured = profile["sources"]!.AsArray().Select(n => n!.GetValue<string>())
            .Where(s => s.Contains(": not measured", StringComparison.Ordinal)).Select(s => s[..s.IndexOf(':', StringComparison.Ordinal)]).ToHashSet(StringComparer.Ordinal);
        foreach (var (key, value) in cycles)
            stdout.WriteLine($"  {key,-20} {value!.ToJsonString(),14} cycles{(notMeasured.Contains(key) ? "  (not measured: a default, see sources)" : "")}");
        if (notMeasured.Contains("swapDevice")) stdout.WriteLine($"  swapDevice           {profile["swapDevice"]!["kind"]} preset (not measured)");
    }
}
