using System.Text.Json;
using VmLab.Core.Events;
using VmLab.Host.Config;
using VmLab.Host.Events;
using VmLab.Host.Plugins;
using VmLab.Host.Running;

namespace VmLab.Host.Tests.Events;

public sealed class EventRecordingTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private static Experiment Scenario(string path, params string[] overrides)
    {
        string json = $$"""{ "workload": { "plugin": "scenario", "options": { "path": {{JsonSerializer.Serialize(path)}} } } }""";
        string config = Path.Combine(Path.GetTempPath(), $"vmlab-events-{Guid.NewGuid():N}.json");
        File.WriteAllText(config, json);
        try
        {
            return new ExperimentLoader(PluginCatalog.CreateDefault()).Load(config, overrides);
        }
        finally
        {
            File.Delete(config);
        }
    }

    private static (RunResult Result, string[] Lines) Explain(string scenario, EventFilter? filter = null)
    {
        var text = new StringWriter();
        var result = new ExperimentRunner().Run(Scenario(scenario), events: new EventOptions { Explain = text, Filter = filter ?? new EventFilter() });
        Assert.Equal(RunResult.Completed, result.Status);
        return (result, text.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    [Fact]
    public void TheCopyOnWriteFaultIsNarratedAsACopyWithNoSignal()
    {
        var (_, lines) = Explain(Repo.Path("configs", "scenarios", "oracle-fork-child-writes.vms"), new EventFilter { Kinds = [EventKinds.FaultEnd] });
        // The scenario's child writes 1,000 pages its parent wrote before the fork: each is one copy, none a signal.
        var copies = lines.Where(l => l.Contains("copy-on-write: frame 0x", StringComparison.Ordinal)).ToList();
        Assert.Equal(1000, copies.Count);
        Assert.All(copies, l =>
        {
            Assert.Contains(" copied to 0x", l);
            Assert.Contains("page shared by 2", l);
            Assert.Contains("access allowed", l);
            Assert.Contains("cow: minor", l);
            Assert.EndsWith("access retried; no signal", l.TrimEnd());
        });
        Assert.DoesNotContain(lines, l => l.Contains("SIGSEGV", StringComparison.Ordinal));
    }

    [Fact]
    public void TheWriteToAReadOnlyPageIsNarratedAsSegvAccerrAndADeath()
    {
        var (_, lines) = Explain(Repo.Path("configs", "scenarios", "oracle-segv-readonly.vms"));
        var fault = Assert.Single(lines, l => l.Contains("access denied", StringComparison.Ordinal));
        Assert.Contains("access denied (SEGV_ACCERR)", fault);
        Assert.Contains("VMA 0x", fault);
        Assert.Contains(" r-- private anon", fault);
        Assert.Contains("SIGSEGV SEGV_ACCERR forced, the process died", fault);
        var signal = Assert.Single(lines, l => l.Contains(" SIGSEGV (SEGV_ACCERR) si_addr", StringComparison.Ordinal));
        Assert.Contains("forced by the kernel: default action: the process is killed and dumps core", signal);
        // The first read mapped the zero page: a walk that faulted, the fault, then the walk again.
        Assert.Contains(lines, l => l.Contains("zero page mapped read-only", StringComparison.Ordinal) && l.EndsWith("access retried; no signal", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains("walk again after the fault", StringComparison.Ordinal));
    }

    [Fact]
    public void EventsOnDoNotChangeAnyMetric()
    {
        string scenario = Repo.Path("configs", "scenarios", "threads-tlb-shootdown.vms");
        var off = new ExperimentRunner().Run(Scenario(scenario, "machine:cpus=2"));
        var on = new ExperimentRunner().Run(Scenario(scenario, "machine:cpus=2"), events: new EventOptions { Explain = TextWriter.Null, Attribute = AttributionMode.Region });
        Assert.Equal(off.Metrics, on.Metrics);
        Assert.True(on.EventStream!.Recorded > 0);
    }

    [Fact]
    public void JsonlHasOneObjectPerLineInSequenceWithTheCommonFields()
    {
        string path = Path.Combine(_dir.PathName, "events.jsonl");
        var result = new ExperimentRunner().Run(Scenario(Repo.Path("configs", "scenarios", "munmap-ipi-only-to-other-cpus.vms"), "machine:cpus=2"),
            events: new EventOptions { Path = path });
        var lines = File.ReadAllLines(path);
        Assert.Equal(result.EventStream!.Written, lines.Length);
        long last = 0;
        var kinds = new HashSet<string>();
        foreach (var line in lines)
        {
            using var doc = JsonDocument.Parse(line);
            var e = doc.RootElement;
            long seq = e.GetProperty("seq").GetInt64();
            Assert.True(seq > last);
            last = seq;
            kinds.Add(e.GetProperty("kind").GetString()!);
            Assert.True(e.GetProperty("cpu").GetInt32() >= 0);
            e.GetProperty("pid").GetInt32();
            Assert.True(e.GetProperty("access").GetInt64() >= 0);
        }
        foreach (var k in new[] { EventKinds.Walk, EventKinds.Fault, EventKinds.FaultEnd, EventKinds.Frame, EventKinds.Pte, EventKinds.TlbFlush, EventKinds.Syscall })
            Assert.Contains(k, kinds);
        // a's munmap: initiated on cpu 1, where a runs, and no other CPU holds a's entries: no IPI. Then a thread of a on
        // cpu 0 unmaps: cpu 1 still holds them, so the flush reaches it with one IPI (cpu 0 never ran a's address space).
        var flushes = lines.Select(l => JsonDocument.Parse(l).RootElement).Where(e => e.GetProperty("kind").GetString() == EventKinds.TlbFlush).ToList();
        var syscalls = lines.Select(l => JsonDocument.Parse(l).RootElement).Where(e => e.GetProperty("kind").GetString() == EventKinds.Syscall && e.GetProperty("name").GetString() == "munmap").ToList();
        Assert.Equal(2, syscalls.Count);
        var first = flushes.Last(f => f.GetProperty("seq").GetInt64() < syscalls[0].GetProperty("seq").GetInt64());
        Assert.Equal(1, first.GetProperty("cpu").GetInt32());
        Assert.Equal([1], first.GetProperty("cpus").EnumerateArray().Select(c => c.GetInt32()));
        Assert.Equal(0, first.GetProperty("ipis").GetInt64());
        var second = flushes.Last();
        Assert.Equal(0, second.GetProperty("cpu").GetInt32());
        Assert.Equal([1], second.GetProperty("cpus").EnumerateArray().Select(c => c.GetInt32()));
        Assert.Equal(1, second.GetProperty("ipis").GetInt64());
    }

    [Fact]
    public void TheChromeTraceFollowsTheTraceEventFormat()
    {
        string path = Path.Combine(_dir.PathName, "events.json");
        new ExperimentRunner().Run(Scenario(Repo.Path("configs", "scenarios", "threads-tlb-shootdown.vms"), "machine:cpus=2"),
            events: new EventOptions { Path = path, Format = EventFormat.Chrome });
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        var events = doc.RootElement.GetProperty("traceEvents").EnumerateArray().ToList();
        Assert.NotEmpty(events);
        var named = new HashSet<(int, int)>();
        int slices = 0, instants = 0;
        foreach (var e in events)
        {
            string ph = e.GetProperty("ph").GetString()!;
            int pid = e.GetProperty("pid").GetInt32(), tid = e.GetProperty("tid").GetInt32();
            Assert.False(string.IsNullOrEmpty(e.GetProperty("name").GetString()));
            switch (ph)
            {
                case "M":
                    Assert.Contains(e.GetProperty("name").GetString(), new[] { "process_name", "thread_name" });
                    Assert.Equal(JsonValueKind.String, e.GetProperty("args").GetProperty("name").ValueKind);
                    if (e.GetProperty("name").GetString() == "thread_name") named.Add((pid, tid));
                    break;
                case "X":
                    slices++;
                    Assert.True(e.GetProperty("dur").GetInt64() >= 1);
                    Assert.True(e.GetProperty("ts").GetInt64() >= 1);
                    Assert.Equal("fault", e.GetProperty("cat").GetString());
                    Assert.True(e.GetProperty("args").TryGetProperty("outcome", out _));
                    Assert.Contains((pid, tid), named); // its track was named before it
                    break;
                case "i":
                    instants++;
                    Assert.Equal("t", e.GetProperty("s").GetString());
                    Assert.Contains((pid, tid), named);
                    break;
                default:
                    Assert.Fail($"unexpected phase {ph}");
                    break;
            }
        }
        Assert.True(slices > 0 && instants > 0);
        Assert.Contains(named, t => t.Item2 == 1); // the scenario runs threads on a second CPU: it has its own track
    }

    [Fact]
    public void FiltersKeepWhatTheyNameAndCountTheRest()
    {
        string scenario = Repo.Path("configs", "scenarios", "oracle-fork-child-writes.vms");
        var all = Explain(scenario).Result.EventStream!;
        Assert.Equal(0, all.LeftOut);

        var first = Explain(scenario, new EventFilter { First = 5 });
        Assert.Equal(5, first.Lines.Length);
        Assert.Equal(all.Recorded, first.Result.EventStream!.Recorded);
        Assert.Equal(all.Recorded - 5, first.Result.EventStream.LeftOut);

        var sampled = Explain(scenario, new EventFilter { SampleEvery = 10 });
        Assert.Equal((all.Recorded + 9) / 10, sampled.Result.EventStream!.Written);

        var window = Explain(scenario, new EventFilter { AccessFrom = 1000, AccessTo = 1010 });
        Assert.NotEmpty(window.Lines);
        Assert.All(window.Lines, l =>
        {
            long access = long.Parse(l.Split(' ')[2], System.Globalization.CultureInfo.InvariantCulture);
            Assert.InRange(access, 1000, 1009);
        });

        var kinds = Explain(scenario, new EventFilter { Kinds = [EventKinds.Signal, EventKinds.Reclaim] });
        Assert.Empty(kinds.Lines); // the scenario raises no signal and reclaims nothing
        Assert.Equal(all.Recorded, kinds.Result.EventStream!.LeftOut);
    }

    [Fact]
    public void AttributionByRegionCountsEachRegionsFaultsAndMisses()
    {
        string vms = _dir.File("two-regions.vms", """
            process p
            p mmap a 1024p rw private
            p write a 1
            p write a+512p 1
            p write a+513p 1
            """);
        var result = new ExperimentRunner().Run(Scenario(vms), events: new EventOptions { Attribute = AttributionMode.Region, Top = 5 });
        var rows = result.EventStream!.Top;
        // A 1,024-page mapping is 4 MiB: the first write falls in one 2 MiB region, the other two in the next (or in
        // three regions' worth when the mapping is not 2 MiB aligned, so the sums are what is fixed).
        Assert.Equal(3, rows.Sum(r => r.Faults));
        Assert.Equal(3, rows.Sum(r => r.Misses));
        Assert.Equal(6, rows.Sum(r => r.Walks)); // each fault's access is walked again
        Assert.All(rows, r => Assert.EndsWith("00000", r.Key));
        var json = result.ToJson()["eventStream"]!["attribution"]!;
        Assert.Equal("region", json["by"]!.GetValue<string>());
    }

    [Fact]
    public void AnEventsPathInAMissingDirectoryIsAnInputErrorBeforeTheRun()
    {
        string path = Path.Combine(_dir.PathName, "no", "such", "events.jsonl");
        var e = Assert.Throws<VmLab.Abstractions.Plugins.VmLabInputException>(() =>
            new ExperimentRunner().Run(Scenario(Repo.Path("configs", "scenarios", "oracle-segv-readonly.vms")), events: new EventOptions { Path = path }));
        Assert.Contains("does not exist", e.Message);
        Assert.False(Directory.Exists(Path.Combine(_dir.PathName, "no")));
    }
}
