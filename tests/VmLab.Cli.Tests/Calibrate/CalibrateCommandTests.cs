using System.Text.Json.Nodes;
using VmLab.Cli.Calibrate;
using Xunit.Abstractions;

namespace VmLab.Cli.Tests.Calibrate;

/// <summary>
/// A fact that measures this host: it runs only on Linux with gcc on PATH, and elsewhere is skipped saying why (xUnit 2
/// decides skips when it discovers tests, so the reason is set here).
/// </summary>
public sealed class HostCalibrationFactAttribute : FactAttribute
{
    public HostCalibrationFactAttribute()
    {
        if (!OperatingSystem.IsLinux()) Skip = "vmlab calibrate measures a Linux host; this is " + System.Runtime.InteropServices.RuntimeInformation.OSDescription;
        else if (!(Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Any(d => d.Length > 0 && File.Exists(Path.Combine(d, "gcc"))))
            Skip = "gcc is not on PATH: vmlab calibrate compiles its microbenchmarks with gcc";
    }
}

/// <summary>A fact about calibrate's behaviour on Linux (where it runs); elsewhere skipped, saying why.</summary>
public sealed class LinuxFactAttribute : FactAttribute
{
    public LinuxFactAttribute()
    {
        if (!OperatingSystem.IsLinux()) Skip = "vmlab calibrate runs only on Linux; this is " + System.Runtime.InteropServices.RuntimeInformation.OSDescription;
    }
}

/// <summary>`vmlab calibrate`: a real (quick) measurement of this host, and its refusals.</summary>
public sealed class CalibrateCommandTests(ITestOutputHelper output) : IDisposable
{
    private readonly Scratch _s = new();

    public void Dispose() => _s.Dispose();

    [HostCalibrationFact]
    public void QuickCalibrationWritesEveryCostOfTheProfileFormatWithTheRelationsEveryHostShows()
    {
        string path = _s.PathOf("host.json");
        var r = Cli.Run("calibrate", "--out", path, "--quick");
        output.WriteLine(r.Stdout + r.Stderr);
        Assert.Equal(0, r.ExitCode);
        Assert.Equal("", r.Stderr); // progress only on a terminal
        var profile = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        output.WriteLine(profile.ToJsonString());

        Assert.Equal(["name", "clockGHz", "sources", "cycles", "swapDevice"], profile.Select(p => p.Key));
        double ghz = profile["clockGHz"]!.GetValue<double>();
        Assert.InRange(ghz, 0.3, 10);
        var cycles = profile["cycles"]!.AsObject();
        Assert.Equal(ProfileDerivation.CycleKeys, cycles.Select(p => p.Key));
        double C(string key) => cycles[key]!.GetValue<double>();
        var tlb = cycles["tlbHit"]!.AsArray().Select(n => n!.GetValue<double>()).ToList();
        Assert.Equal(2, tlb.Count);
        foreach (var (key, value) in cycles)
            if (key != "tlbHit") Assert.True(value!.GetValue<double>() >= 0, $"{key} = {value} is not negative");

        // Each relation fails when the benchmark behind it breaks: a chase that no longer misses, a fork whose child
        // no longer shares the pages, a fault that is no longer taken.
        Assert.True(tlb[0] > 0 && tlb[1] >= tlb[0], $"tlbHit {tlb[0]}, {tlb[1]}");
        Assert.True(C("memoryAccess") > 10 * tlb[0], $"a DRAM load ({C("memoryAccess")}) costs far more than an L1 hit ({tlb[0]})");
        Assert.True(C("faultEntryExit") > C("syscallEntryExit") / 4, $"a fault ({C("faultEntryExit")}) costs about a system call ({C("syscallEntryExit")}) or more");
        Assert.True(C("demandZero") > 0 && C("zeroPageMap") > 0 && C("syscallEntryExit") > 0);
        // cowCopy excludes the one-page flush the model charges with every copy (tlbFlush + tlbFlushPage), which on a
        // guest can be most of the fault; the copy with its flush still does more than a reuse (allocate, copy, flush).
        double copyWithFlush = C("cowCopy") + C("tlbFlush") + Math.Max(0, C("tlbFlushPage"));
        Assert.True(copyWithFlush > C("cowReuse"), $"a COW copy with its flush ({copyWithFlush}) costs more than a reuse ({C("cowReuse")})");
        Assert.True(C("pageTablePageCopied") > 0 && C("pageUnmapped") > 0 && C("pageProtected") > 0);
        Assert.True(C("sigreturn") > 0);
        Assert.True(C("fileRead") > C("fileCacheHit"));

        var sources = profile["sources"]!.AsArray().Select(n => n!.GetValue<string>()).ToList();
        Assert.Contains(sources, s => s.StartsWith("vmlab calibrate ", StringComparison.Ordinal) && s.Contains("kernel", StringComparison.Ordinal));
        foreach (var key in ProfileDerivation.CycleKeys.Append("clockGHz").Append("swapDevice"))
            Assert.Contains(sources, s => s.StartsWith(key + ": ", StringComparison.Ordinal));
        foreach (var key in new[] { "reclaimScan", "fileRead", "swapIn", "tlbFlush" })
            Assert.Contains(sources, s => s.StartsWith(key + ": not measured", StringComparison.Ordinal));
        Assert.Contains(profile["swapDevice"]!["kind"]!.GetValue<string>(), new[] { "zram", "ssd", "hdd" });
        Assert.Contains("faultEntryExit", r.Stdout);
    }

    [LinuxFact]
    public void ACompilerThatFailsExitsTwoAndKeepsTheExistingProfile()
    {
        string path = _s.File("host.json", "{ \"old\": true }");
        var r = Cli.Run("calibrate", "--out", path, "--quick", "--cc", "/bin/false");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("/bin/false could not build the microbenchmarks", r.Stderr);
        Assert.Contains($"nothing was written to {path}", r.Stderr);
        Assert.Equal("{ \"old\": true }", File.ReadAllText(path));
        Assert.Equal(["host.json"], Directory.GetFiles(_s.Dir).Select(Path.GetFileName));
    }

    [LinuxFact]
    public void AMissingCompilerExitsTwoNamingIt()
    {
        string path = _s.PathOf("host.json");
        var r = Cli.Run("calibrate", "--out", path, "--cc", "no-such-cc-4711");
        Assert.Equal(2, r.ExitCode);
        Assert.Equal("error: --cc no-such-cc-4711: no such compiler (not an executable file, nor on PATH)\n", r.Stderr);
        Assert.False(File.Exists(path));
    }

    [Theory]
    [InlineData(new[] { "calibrate" }, "calibrate needs the profile to write: vmlab calibrate --out host.json")]
    [InlineData(new[] { "calibrate", "--out", "x.json", "--repeat", "0" }, "--repeat expects a whole number >= 1, got '0'")]
    [InlineData(new[] { "calibrate", "--out", "x.json", "--repeat", "102" }, "--repeat expects a whole number >= 1, got '102'")]
    [InlineData(new[] { "calibrate", "--out", "x.json", "--repeat", "many" }, "--repeat expects a whole number >= 1, got 'many'")]
    [InlineData(new[] { "calibrate", "--out", "x.json", "extra" }, "calibrate takes no arguments, got 'extra'")]
    [InlineData(new[] { "calibrate", "--out", "x.json", "--fast" }, "unknown option '--fast'")]
    public void BadArgumentsExitTwoSayingWhatIsAllowed(string[] args, string message)
    {
        var r = Cli.Run(args);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains(message, r.Stderr);
        Assert.False(File.Exists("x.json"));
    }

    [LinuxFact]
    public void AnOutputInAMissingDirectoryExitsTwoBeforeMeasuring()
    {
        var r = Cli.Run("calibrate", "--out", _s.PathOf("no/such/dir/host.json"), "--quick");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("does not exist", r.Stderr);
    }

    [Fact]
    public void OtherOperatingSystemsAreRefusedNamingThem()
    {
        Assert.Equal("vmlab calibrate measures a Linux host; this is Microsoft Windows 10.0.22631", CalibrateCommand.Unsupported(false, "Microsoft Windows 10.0.22631"));
        Assert.Null(CalibrateCommand.Unsupported(true, "Linux 6.18"));
    }

    [Fact]
    public void TheShippedSourceIsTheEmbeddedOne()
    {
        Assert.Equal(File.ReadAllText(Cli.Repo("src", "VmLab.Cli", "Calibrate", "calibrate.c")), CalibrateCommand.Source());
    }
}
