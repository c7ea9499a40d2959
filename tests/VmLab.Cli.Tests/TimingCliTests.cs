using System.Text.Json.Nodes;

namespace VmLab.Cli.Tests;

/// <summary>
/// machine:timing and machine:cache through vmlab: a bad timing profile exits 2 naming the option, the profile file and
/// the key inside it, with nothing written; the shipped example runs and reports time; plugins lists every option;
/// reports compare by estimated time first.
/// </summary>
public sealed class TimingCliTests : IDisposable
{
    private readonly Scratch _s = new();

    public void Dispose() => _s.Dispose();

    private string Profile(string name, Func<string, string> edit) =>
        _s.File(name, edit(File.ReadAllText(Cli.Repo("configs", "timing", "x86-64-golden-cove.json"))));

    private string Config(string profile) => _s.File("exp.json", $$"""
        {
          "machine": { "timing": { "plugin": "analytic", "options": { "profile": "{{profile}}" } } },
          "workload": { "plugin": "lackey", "options": { "path": "{{Cli.Repo("configs", "traces", "tiny.lackey")}}" } }
        }
        """);

    private CliResult RunBad(params string[] args)
    {
        string json = _s.PathOf("out.json");
        var r = Cli.Run([.. args, "--json", json]);
        Assert.Equal(2, r.ExitCode);
        Assert.DoesNotContain("   at ", r.Stderr);
        Assert.DoesNotContain("Exception", r.Stderr);
        Assert.False(File.Exists(json), "nothing is written on bad input");
        Assert.Equal("", r.Stdout);
        return r;
    }

    [Fact]
    public void ANegativeCostInTheProfileExits2NamingTheOptionTheFileAndTheKey()
    {
        Profile("neg.json", t => t.Replace("\"cowCopy\": 2200", "\"cowCopy\": -5", StringComparison.Ordinal));
        var r = RunBad("run", Config("neg.json"));
        Assert.Contains("machine:timing:options:profile", r.Stderr);
        Assert.Contains("neg.json: cycles:cowCopy: is -5; allowed: a number of at least 0", r.Stderr);
    }

    [Fact]
    public void AMissingCostInTheProfileExits2NamingItsKeyAndCheckSaysTheSame()
    {
        Profile("missing.json", t => t.Replace("\"reclaimScan\": 60,", "", StringComparison.Ordinal));
        var run = RunBad("run", Config("missing.json"));
        Assert.Contains("missing.json: cycles:reclaimScan: is required", run.Stderr);
        var check = Cli.Run("check", Config("missing.json"));
        Assert.Equal(2, check.ExitCode);
        Assert.Contains("cycles:reclaimScan", check.Stderr);
    }

    [Fact]
    public void AProfileWrittenBeforeTlbFlushPageExistedExits2NamingTheKey()
    {
        Profile("old.json", t => t.Replace("\"tlbFlushPage\": 150,", "", StringComparison.Ordinal));
        Assert.DoesNotContain("\"tlbFlushPage\"", File.ReadAllText(_s.PathOf("old.json")));
        var run = RunBad("run", Config("old.json"));
        Assert.Contains("old.json: cycles:tlbFlushPage: is required", run.Stderr);
    }

    [Fact]
    public void AnUnknownKeyInTheProfileExits2WithTheNearestName()
    {
        Profile("typo.json", t => t.Replace("\"tlbFlush\"", "\"tlbFlushes\"", StringComparison.Ordinal));
        var r = RunBad("run", Config("typo.json"));
        Assert.Contains("cycles:tlbFlushes: unknown key 'tlbFlushes'; did you mean 'tlbFlush'?", r.Stderr);
    }

    [Fact]
    public void AProfileThatIsNotThereExits2AtTheOptionsKeyPath()
    {
        var r = RunBad("run", Config("absent.json"));
        Assert.Contains("machine:timing:options:profile", r.Stderr);
        Assert.Contains("absent.json", r.Stderr);
    }

    [Fact]
    public void AnOutOfRangeCostOptionExits2AtItsKeyPath()
    {
        var r = RunBad("run", Cli.Repo("configs", "timing-x86-64.json"), "--set", "machine:timing:options:demandZero=-1");
        Assert.Contains("machine:timing:options:demandZero", r.Stderr);
    }

    [Fact]
    public void ACacheLevelWhoseSetsAreNotAPowerOfTwoExits2()
    {
        var r = RunBad("run", Cli.Repo("configs", "timing-x86-64.json"), "--set", "machine:cache:options:levels:0:sets=48");
        Assert.Contains("machine:cache:options:levels", r.Stderr);
        Assert.Contains("power of two", r.Stderr);
    }

    [Theory]
    [InlineData("timing-x86-64.json", 3_000_000)]
    [InlineData("timing-arm64.json", 2_750_000)]
    public void TheShippedExamplesRunAndReportTimeAtTheirProfilesClock(string config, long khz)
    {
        string json = _s.PathOf("r.json");
        var r = Cli.Run("run", Cli.Repo("configs", config), "--json", json);
        Assert.Equal(0, r.ExitCode);
        var metrics = JsonNode.Parse(File.ReadAllText(json))!["metrics"]!;
        Assert.Equal(khz, metrics["time.clock_khz"]!.GetValue<long>());
        long cycles = metrics["time.cycles"]!.GetValue<long>();
        Assert.True(cycles > metrics["accesses"]!.GetValue<long>(), "every access costs at least its TLB lookup");
        Assert.Equal(cycles / (khz * 1000.0), metrics["time.seconds"]!.GetValue<double>(), 12);
        Assert.Contains("time.seconds", r.Stdout);
    }

    [Theory]
    [InlineData("timing", "analytic", new[] { "profile", "clockGHz", "swapDevice", "tlbHit", "walkCacheHit", "memoryAccess", "faultEntryExit", "demandZero", "zeroPageMap", "cowCopy", "cowReuse", "swapIn", "fileCacheHit", "fileRead", "stackGrowth", "signalDelivery", "sigreturn", "tlbFlush", "tlbFlushPage", "shootdownIpi", "syscallEntryExit", "pageTablePageCopied", "pageUnmapped", "pageProtected", "vmaChange", "reclaimScan", "reclaimEvict" })]
    [InlineData("cache", "set-associative", new[] { "lineBytes", "data", "levels" })]
    public void PluginsListsEveryTimingAndCacheOption(string kind, string plugin, string[] options)
    {
        var r = Cli.Run("plugins", "--kind", kind);
        Assert.Equal(0, r.ExitCode);
        Assert.Contains(plugin, r.Stdout);
        foreach (var option in options) Assert.Contains(option, r.Stdout);
    }

    [Fact]
    public void AReportOfRunsWithTimeComparesThemByEstimatedTimeFirst()
    {
        string sweep = _s.File("s.json", $$"""
            {
              "name": "profiles",
              "base": "{{Cli.Repo("configs", "timing-x86-64.json")}}",
              "matrix": { "machine:timing:options:profile": ["{{Cli.Repo("configs", "timing", "x86-64-golden-cove.json")}}", "{{Cli.Repo("configs", "timing", "arm64-neoverse-n2.json")}}"] }
            }
            """);
        string db = _s.PathOf("r.db");
        Assert.Equal(0, Cli.Run("sweep", sweep, "--db", db, "--isolation", "none").ExitCode);
        var r = Cli.Run("report", db, "--json", _s.PathOf("r.json"));
        Assert.Equal(0, r.ExitCode);
        var json = JsonNode.Parse(File.ReadAllText(_s.PathOf("r.json")))!;
        var metrics = json["metrics"]!.AsArray().Select(m => m!.GetValue<string>()).ToList();
        Assert.Equal(["time.seconds", "time.cycles"], metrics.Take(2));
    }
}
