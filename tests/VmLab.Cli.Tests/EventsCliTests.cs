using System.Text.Json;
using System.Text.Json.Nodes;

namespace VmLab.Cli.Tests;

public sealed class EventsCliTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("vmlab-events-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void AttributionByRegionAddsUpToTheRunsMissesAndFaults()
    {
        var r = Cli.Run("run", Cli.Repo("configs", "quickstart.json"), "--attribute", "region", "--top", "10000", "--json", "-");
        Assert.Equal(0, r.ExitCode);
        var json = JsonNode.Parse(r.Stdout)!;
        var rows = json["eventStream"]!["attribution"]!["top"]!.AsArray();
        Assert.Equal(json["eventStream"]!["attribution"]!["keys"]!.GetValue<long>(), rows.Count);
        // Every TLB miss and every fault of the run falls in exactly one 2 MiB region.
        Assert.Equal(json["metrics"]!["tlb.misses"]!.GetValue<long>(), rows.Sum(x => x!["misses"]!.GetValue<long>()));
        Assert.Equal(json["metrics"]!["faults.total"]!.GetValue<long>(), rows.Sum(x => x!["faults"]!.GetValue<long>()));
        Assert.Equal(json["metrics"]!["walk.count"]!.GetValue<long>(), rows.Sum(x => x!["walks"]!.GetValue<long>()));
        Assert.Contains("events: ", r.Stderr);
    }

    [Fact]
    public void AttributionByInstructionPointerTakesEveryAccessOutOfTheFastPathWithoutChangingACount()
    {
        var plain = JsonNode.Parse(Cli.Run("run", Cli.Repo("configs", "quickstart.json"), "--json", "-").Stdout)!;
        var r = Cli.Run("run", Cli.Repo("configs", "quickstart.json"), "--attribute", "ip", "--top", "5", "--json", "-");
        Assert.Equal(0, r.ExitCode);
        var json = JsonNode.Parse(r.Stdout)!;
        Assert.Equal(plain["metrics"]!.ToJsonString(), json["metrics"]!.ToJsonString());
        var top = json["eventStream"]!["attribution"]!["top"]!.AsArray();
        Assert.Equal(5, top.Count);
        // Lackey records every instruction fetch, so each miss after the first fetch has an instruction to blame.
        Assert.All(top, row => Assert.StartsWith("0x", row!["key"]!.GetValue<string>()));
        Assert.True(json["eventStream"]!["attribution"]!["keys"]!.GetValue<long>() > 100);
    }

    [Fact]
    public void ExplainNarratesTheCopyOnWriteFaultOfTheForkedChild()
    {
        var r = Cli.Run("run", Cli.Repo("configs", "scenarios", "oracle-fork-child-writes.vms"), "--explain", "--events-window", "1000:1001");
        Assert.Equal(0, r.ExitCode);
        var lines = r.Stdout.Split('\n').Where(l => l.StartsWith('#')).ToList();
        Assert.All(lines, l => Assert.Contains(" access 1000 ", l));
        Assert.Contains(lines, l => l.Contains("copy-on-write: frame 0x", StringComparison.Ordinal) && l.EndsWith("access retried; no signal", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains("TLB flush of page", StringComparison.Ordinal));
        Assert.Matches(@"events: \d+ of [\d,]+ recorded, [\d,]+ left out by the filters", r.Stderr);
    }

    [Fact]
    public void TheChromeFileIsATraceEventObjectAndJsonlIsOneObjectPerLine()
    {
        string chrome = Path.Combine(_dir, "t.json"), jsonl = Path.Combine(_dir, "t.jsonl");
        string scenario = Cli.Repo("configs", "scenarios", "oracle-segv-readonly.vms");
        Assert.Equal(0, Cli.Run("run", scenario, "--events", chrome, "--events-format", "chrome").ExitCode);
        Assert.Equal(0, Cli.Run("run", scenario, "--events", jsonl).ExitCode);
        using var doc = JsonDocument.Parse(File.ReadAllText(chrome));
        var events = doc.RootElement.GetProperty("traceEvents").EnumerateArray().ToList();
        Assert.Contains(events, e => e.GetProperty("ph").GetString() == "X" && e.GetProperty("args").GetProperty("signal").GetString() == "SIGSEGV SEGV_ACCERR");
        Assert.Contains(events, e => e.GetProperty("ph").GetString() == "i" && e.GetProperty("cat").GetString() == "signal");
        var lines = File.ReadAllLines(jsonl);
        Assert.All(lines, l => JsonDocument.Parse(l).Dispose());
        // The same events, as one slice per fault in Chrome and a begin and an end line per fault in JSONL.
        int faults = lines.Count(l => l.Contains("\"kind\":\"fault\"", StringComparison.Ordinal));
        Assert.Equal(faults, events.Count(e => e.GetProperty("ph").GetString() == "X"));
    }

    [Fact]
    public void VerboseListsEveryExpectationThatPassed()
    {
        var r = Cli.Run("run", Cli.Repo("configs", "scenarios", "oracle-segv-readonly.vms"), "--verbose");
        Assert.Equal(0, r.ExitCode);
        var ok = r.Stderr.Split('\n').Where(l => l.Contains(": ok: ", StringComparison.Ordinal)).ToList();
        Assert.Equal(5, ok.Count); // the scenario's five expect lines
        Assert.Contains(ok, l => l.Contains("oracle-segv-readonly.vms:8: ok: ", StringComparison.Ordinal) && l.Contains("SEGV_ACCERR", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("--events-kind", "bogus", "unknown kind 'bogus'; allowed: walk, fault")]
    [InlineData("--events-window", "10:5", "--events-window expects FROM:TO")]
    [InlineData("--events-address", "0xzz:0x10", "--events-address expects LO:HI")]
    [InlineData("--events-sample", "0", "--events-sample expects a whole number >= 1")]
    [InlineData("--events-pid", "1,x", "--events-pid expects a pid")]
    [InlineData("--attribute", "page", "--attribute expects vma, region or ip")]
    public void BadEventOptionsAreUsageErrorsNamingTheOption(string option, string value, string message)
    {
        var r = Cli.Run("run", Cli.Repo("configs", "quickstart.json"), "--explain", option, value);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains(message, r.Stderr);
        Assert.DoesNotContain("   at ", r.Stderr);
        Assert.Equal("", r.Stdout);
    }

    [Fact]
    public void AFilterWithoutAnEventOutputAndExplainWithJsonOnStdoutAreRefused()
    {
        var r = Cli.Run("run", Cli.Repo("configs", "quickstart.json"), "--events-first", "5");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("--events-first shapes the event stream, which is off", r.Stderr);
        r = Cli.Run("run", Cli.Repo("configs", "quickstart.json"), "--explain", "--json", "-");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("--explain writes its lines to stdout, as does --json -", r.Stderr);
    }

    [Fact]
    public void AnEventsPathThatCannotBeWrittenIsExit2BeforeTheRunAndLeavesAnExistingFileAlone()
    {
        var r = Cli.Run("run", Cli.Repo("configs", "quickstart.json"), "--events", Path.Combine(_dir, "missing", "e.jsonl"));
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("does not exist", r.Stderr);
        Assert.Equal("", r.Stdout); // nothing ran

        string dirAsFile = Path.Combine(_dir, "adir");
        Directory.CreateDirectory(dirAsFile);
        r = Cli.Run("run", Cli.Repo("configs", "quickstart.json"), "--events", dirAsFile);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("is a directory", r.Stderr);
        Assert.True(Directory.Exists(dirAsFile));
    }
}
