using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace VmLab.Cli.Tests;

/// <summary>
/// The real-Linux oracle: compiles the probes of <c>tests/linux-oracle/</c> with gcc (once per source version, cached in
/// the test output folder), runs them, and reads the figures VmLab reports for the same scenario. A probe
/// <c>NAME.c</c> is paired with <c>configs/scenarios/NAME.vms</c>; an expectation there tagged <c># linux: KEY</c>
/// gives the figures compared with the probe's <c>KEY</c> lines (docs/linux-fidelity.md).
/// </summary>
public sealed partial class LinuxOracle
{
    /// <summary>A probe named so measures a property of the kernel under test; it has no scenario.</summary>
    public const string KernelProbePrefix = "kernel-";

    private static readonly string[] CommonFlags = ["-std=gnu11", "-O1", "-Wall", "-Wextra", "-Werror"];

    private readonly Lock _lock = new();
    private readonly Dictionary<string, string> _binaries = new(StringComparer.Ordinal);
    private IReadOnlyDictionary<string, string>? _kernel;

    public static string SourceDir => Cli.Repo("tests", "linux-oracle");

    public static string ScenarioOf(string probe) => Cli.Repo("configs", "scenarios", probe + ".vms");

    /// <summary>Why the oracle cannot run here, or null when it can: it needs Linux and gcc.</summary>
    public static string? Unavailable { get; } = FindUnavailable();

    /// <summary>How the probes were linked: "static", or "dynamic" when the toolchain has no static libc.</summary>
    public string Linking { get; private set; } = "static";

    /// <summary>The probes paired with a scenario, by name (file name without .c).</summary>
    public static IEnumerable<string> Probes() =>
        Directory.GetFiles(SourceDir, "*.c")
            .Select(Path.GetFileNameWithoutExtension)
            .Where(n => !n!.StartsWith(KernelProbePrefix, StringComparison.Ordinal))
            .Order(StringComparer.Ordinal)!;

    /// <summary>The kernel's own properties (kernel-*.c), measured once.</summary>
    public IReadOnlyDictionary<string, string> Kernel
    {
        get
        {
            lock (_lock)
            {
                if (_kernel is null)
                {
                    var all = new Dictionary<string, string>(StringComparer.Ordinal);
                    foreach (var f in Directory.GetFiles(SourceDir, KernelProbePrefix + "*.c").Order(StringComparer.Ordinal))
                        foreach (var (k, v) in RunProbe(Path.GetFileNameWithoutExtension(f))) all[k] = v;
                    _kernel = all;
                }
                return _kernel;
            }
        }
    }

    /// <summary>
    /// The scenario's machine adjusted to the kernel under test: a kernel that maps no zero page on read faults is
    /// compared with VmLab's zeroPage option off (demand-zero and stack-growth handlers of configs/linux-x86-64.json).
    /// </summary>
    public IReadOnlyList<string> MachineSettings() =>
        Kernel.TryGetValue("zero_page", out var z) && z == "0"
            ? ["--set", "machine:faultHandlers:0:options:zeroPage=false", "--set", "machine:faultHandlers:3:options:zeroPage=false"]
            : [];

    /// <summary>Compiles (or takes from the cache) and runs a probe; its "key value" lines.</summary>
    public IReadOnlyDictionary<string, string> RunProbe(string probe)
    {
        string binary = Compile(probe);
        string scratch = Path.Combine(AppContext.BaseDirectory, "linux-oracle", "scratch");
        Directory.CreateDirectory(scratch);
        var psi = new ProcessStartInfo(binary, [scratch]) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"probe {probe} did not start");
        var err = p.StandardError.ReadToEndAsync();
        string output = p.StandardOutput.ReadToEnd();
        if (!p.WaitForExit(30_000))
        {
            p.Kill(entireProcessTree: true);
            throw new InvalidOperationException($"probe {probe} ran longer than 30 s");
        }
        if (p.ExitCode != 0)
            throw new InvalidOperationException($"probe {probe} exited with {p.ExitCode}: {err.Result.Trim()}");
        return ParseFigures(probe, output);
    }

    public static IReadOnlyDictionary<string, string> ParseFigures(string probe, string output)
    {
        var figures = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var raw in output.Split('\n'))
        {
            string line = raw.Trim();
            if (line.Length == 0) continue;
            var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length != 2 || !TryNumber(parts[1], out _))
                throw new InvalidOperationException($"probe {probe} printed '{line}': every line must be 'key number'");
            if (!figures.TryAdd(parts[0], parts[1]))
                throw new InvalidOperationException($"probe {probe} printed figure '{parts[0]}' twice");
        }
        return figures;
    }

    private string Compile(string probe)
    {
        lock (_lock)
        {
            if (_binaries.TryGetValue(probe, out var cached)) return cached;
            string source = Path.Combine(SourceDir, probe + ".c");
            var hash = SHA256.HashData(Encoding.UTF8.GetBytes(
                File.ReadAllText(source) + File.ReadAllText(Path.Combine(SourceDir, "oracle.h")) + string.Join(' ', CommonFlags)));
            string dir = Path.Combine(AppContext.BaseDirectory, "linux-oracle", "bin");
            Directory.CreateDirectory(dir);
            string binary = Path.Combine(dir, $"{probe}-{Convert.ToHexStringLower(hash)[..16]}");
            if (!File.Exists(binary))
            {
                string temp = binary + ".tmp" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture);
                var (code, errors) = Gcc([.. CommonFlags, "-static", "-o", temp, source]);
                if (code != 0 && Linking == "static" && errors.Contains("-lc", StringComparison.Ordinal))
                {
                    // No static libc (libc6-dev without libc.a): link dynamically and say so in the test output.
                    Linking = "dynamic";
                }
                if (Linking == "dynamic") (code, errors) = Gcc([.. CommonFlags, "-o", temp, source]);
                if (code != 0) throw new InvalidOperationException($"gcc could not compile {source}:\n{errors}");
                File.Move(temp, binary, overwrite: true);
            }
            _binaries[probe] = binary;
            return binary;
        }
    }

    private static (int Code, string Errors) Gcc(IEnumerable<string> args)
    {
        var psi = new ProcessStartInfo("gcc", args) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var p = Process.Start(psi) ?? throw new InvalidOperationException("gcc did not start");
        var err = p.StandardError.ReadToEndAsync();
        p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, err.Result);
    }

    private static string? FindUnavailable()
    {
        if (!OperatingSystem.IsLinux()) return $"the Linux oracle measures a Linux kernel; this is {System.Runtime.InteropServices.RuntimeInformation.OSDescription}";
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
            if (File.Exists(Path.Combine(dir, "gcc"))) return null;
        return "gcc is not on PATH: the Linux oracle compiles its probes with gcc (install gcc and libc6-dev; ./test does)";
    }

    // ---- VmLab's side ------------------------------------------------------------------------------------------

    /// <summary>One figure VmLab reports: the expectation it comes from (file:line) and its value.</summary>
    public sealed record VmLabFigure(string Key, long Value, string Shown, string Where);

    /// <summary>The tagged lines of a scenario (a statement whose comment is "# linux: KEY"): line number and key.</summary>
    public static IReadOnlyList<(int Line, string Key)> Tags(string scenarioPath)
    {
        var tags = new List<(int, string)>();
        var lines = File.ReadAllLines(scenarioPath);
        for (int i = 0; i < lines.Length; i++)
        {
            int comment = lines[i].IndexOf('#', StringComparison.Ordinal);
            if (comment < 0 || lines[i][..comment].Trim().Length == 0) continue;
            var m = TagPattern().Match(lines[i][comment..]);
            if (m.Success) tags.Add((i + 1, m.Groups[1].Value));
        }
        return tags;
    }

    /// <summary>Runs the scenario through `vmlab run --json -` and derives the figures of its tagged expectations.</summary>
    public IReadOnlyList<VmLabFigure> RunScenario(string probe)
    {
        string path = ScenarioOf(probe);
        var r = Cli.Run(["run", path, "--json", "-", .. MachineSettings()]);
        if (r.ExitCode is not (0 or 1)) throw new InvalidOperationException($"vmlab run {path} exited with {r.ExitCode}: {r.Stderr}");
        var results = JsonNode.Parse(r.Stdout)!["expectations"]?["results"]?.AsArray() ?? [];
        var byLine = new Dictionary<int, (string Text, bool Passed, string Actual, string Where)>();
        foreach (var e in results)
        {
            string where = e!["where"]!.GetValue<string>();
            int line = int.Parse(where[(where.LastIndexOf(':') + 1)..], CultureInfo.InvariantCulture);
            byLine[line] = (e["text"]!.GetValue<string>(), e["passed"]!.GetValue<bool>(), e["actual"]!.GetValue<string>(), where);
        }
        var figures = new List<VmLabFigure>();
        foreach (var (line, key) in Tags(path))
        {
            if (!byLine.TryGetValue(line, out var e))
                throw new InvalidOperationException($"{path}:{line}: the line tagged '# linux: {key}' is not an expectation that ran");
            figures.AddRange(Derive(key, e.Text, e.Passed, e.Actual, e.Where));
        }
        return figures;
    }

    /// <summary>
    /// The figures one expectation gives. A count, value, return or metric gives KEY (its actual value). A signal
    /// expectation gives KEY.signo (0: no signal), KEY.code, KEY.addr, KEY.addr_in_page, and, when it names an address,
    /// KEY.addr_is_fault (1 when si_addr was that address: the expectation held). An end gives KEY.signo (the
    /// terminating signal, 0 on exit) and KEY.exit.
    /// </summary>
    public static IEnumerable<VmLabFigure> Derive(string key, string text, bool passed, string actual, string where)
    {
        var words = text.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        string kind = words.Length > 1 ? words[1] : "";
        if (kind == "signal" || (kind == "no" && words.Length > 2 && words[2] == "signal"))
        {
            if (actual == "no signal")
            {
                yield return new(key + ".signo", 0, actual, where);
                yield break;
            }
            var m = SignalPattern().Match(actual);
            if (!m.Success) throw new InvalidOperationException($"{where}: cannot read the signal VmLab reports: '{actual}'");
            long signo = SignalNumber(m.Groups[1].Value, where);
            long code = long.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture);
            ulong addr = ulong.Parse(m.Groups[3].Value, NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            yield return new(key + ".signo", signo, m.Groups[1].Value, where);
            yield return new(key + ".code", code, m.Groups[2].Value, where);
            yield return new(key + ".addr", unchecked((long)addr), "0x" + m.Groups[3].Value, where);
            yield return new(key + ".addr_in_page", (long)(addr & 4095), (addr & 4095).ToString(CultureInfo.InvariantCulture), where);
            if (Array.IndexOf(words, "addr") > 0)
            {
                bool sameSignal = Array.IndexOf(words, "signal") is var s and > 0 && s + 1 < words.Length && SignalNumber(words[s + 1], where) == signo;
                long isFault = passed && sameSignal ? 1 : 0;
                yield return new(key + ".addr_is_fault", isFault, isFault == 1 ? $"si_addr is {words[Array.IndexOf(words, "addr") + 1]}" : $"0x{addr:x}", where);
            }
            yield break;
        }
        if (kind is "killed" or "exited" or "alive" or "dead")
        {
            var killed = KilledPattern().Match(actual);
            var exited = ExitedPattern().Match(actual);
            if (killed.Success) yield return new(key + ".signo", SignalNumber(killed.Groups[1].Value, where), actual, where);
            else if (exited.Success)
            {
                yield return new(key + ".signo", 0, actual, where);
                yield return new(key + ".exit", long.Parse(exited.Groups[1].Value, CultureInfo.InvariantCulture), actual, where);
            }
            else yield return new(key + ".alive", actual == "alive" ? 1 : 0, actual, where);
            yield break;
        }
        if (kind == "page")
        {
            yield return PageFigure(key, words, actual, where);
            yield break;
        }
        if (kind == "ret" && words.Length >= 4 && !TryNumber(words[^1], out _) && !words[^1].StartsWith('-'))
        {
            // "ret OP REGION": the return compared with an address, which differs between Linux and VmLab; the figure is
            // whether the comparison held (a probe prints 1 when its return relates to its address the same way).
            yield return new(key, passed ? 1 : 0, passed ? $"ret {words[2]} {words[^1]}" : actual, where);
            yield break;
        }
        var errno = ErrnoPattern().Match(actual);
        string number = errno.Success ? errno.Groups[1].Value : actual;
        if (!TryNumber(number, out long value)) throw new InvalidOperationException($"{where}: cannot read VmLab's figure '{actual}' as a number");
        yield return new(key, value, actual, where);
    }

    /// <summary>
    /// A page expectation's figure, as a probe computes it from /proc/PID/pagemap: for "page ADDR [not] STATE", 1 when
    /// the page has the state (whatever the expectation asked); for "page ADDR frame ==|!= Q page ADDR frame", 1 when the
    /// two frames are the same.
    /// </summary>
    private static VmLabFigure PageFigure(string key, string[] words, string actual, string where)
    {
        if (Array.IndexOf(words, "frame") > 0)
        {
            var frames = actual.Split("; ");
            long same = frames.Length == 2 && frames[0] == frames[1] ? 1 : 0;
            return new(key, same, actual, where);
        }
        string state = words[^1];
        var states = actual == "not present" ? [] : actual.Split(", ");
        long has = states.Contains(state) || (state == "swapped" && actual.StartsWith("swapped", StringComparison.Ordinal)) ? 1 : 0;
        return new(key, has, actual, where);
    }

    /// <summary>
    /// Compares every figure the probe reports with VmLab's. A probe figure VmLab does not report, a tagged
    /// expectation that gives no figure the probe reports, and a value that differs are each one failure line naming
    /// the probe, the figure, Linux's value and VmLab's (with the scenario line).
    /// </summary>
    public static IReadOnlyList<string> Compare(string probe, IReadOnlyDictionary<string, string> linux, IReadOnlyList<VmLabFigure> vmlab)
    {
        var failures = new List<string>();
        var byKey = new Dictionary<string, VmLabFigure>(StringComparer.Ordinal);
        foreach (var f in vmlab)
            if (!byKey.TryAdd(f.Key, f)) failures.Add($"{probe}: figure '{f.Key}' is tagged twice in the scenario ({byKey[f.Key].Where}, {f.Where})");
        foreach (var (key, shown) in linux.OrderBy(k => k.Key, StringComparer.Ordinal))
        {
            if (!byKey.TryGetValue(key, out var v))
            {
                failures.Add($"{probe}: figure '{key}': Linux {shown}, VmLab reports nothing (tag an expectation with '# linux: {key}')");
                continue;
            }
            TryNumber(shown, out long l);
            if (l != v.Value) failures.Add($"{probe}: figure '{key}': Linux {shown}, VmLab {v.Shown} ({v.Where})");
        }
        foreach (var tag in vmlab.GroupBy(f => f.Where))
            if (!tag.Any(f => linux.ContainsKey(f.Key)))
                failures.Add($"{probe}: {tag.Key} is tagged '{string.Join(", ", tag.Select(f => f.Key))}' but the probe reports none of them");
        return failures;
    }

    private static bool TryNumber(string s, out long value)
    {
        if (s.StartsWith("0x", StringComparison.OrdinalIgnoreCase))
        {
            bool ok = ulong.TryParse(s.AsSpan(2), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out ulong u);
            value = unchecked((long)u);
            return ok;
        }
        if (long.TryParse(s, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out value)) return true;
        if (ulong.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out ulong big))
        {
            value = unchecked((long)big);
            return true;
        }
        return false;
    }

    private static long SignalNumber(string name, string where) => name switch
    {
        "SIGHUP" => 1, "SIGINT" => 2, "SIGQUIT" => 3, "SIGILL" => 4, "SIGTRAP" => 5, "SIGABRT" => 6, "SIGBUS" => 7,
        "SIGFPE" => 8, "SIGKILL" => 9, "SIGUSR1" => 10, "SIGSEGV" => 11, "SIGUSR2" => 12, "SIGPIPE" => 13,
        "SIGALRM" => 14, "SIGTERM" => 15, "SIGCHLD" => 17,
        _ => long.TryParse(name, NumberStyles.None, CultureInfo.InvariantCulture, out long n) ? n
            : throw new InvalidOperationException($"{where}: unknown signal name '{name}'"),
    };

    [GeneratedRegex(@"^#\s*linux:\s*([A-Za-z0-9_.]+)")]
    private static partial Regex TagPattern();

    [GeneratedRegex(@"^(\w+) code (-?\d+) addr 0x([0-9a-fA-F]+)")]
    private static partial Regex SignalPattern();

    [GeneratedRegex(@"^killed by (\w+)")]
    private static partial Regex KilledPattern();

    [GeneratedRegex(@"^exited with (-?\d+)")]
    private static partial Regex ExitedPattern();

    [GeneratedRegex(@"\((-?\d+)\)$")]
    private static partial Regex ErrnoPattern();
}
