using System.Diagnostics;
using Microsoft.Data.Sqlite;
using VmLab.Host.Results;
using VmLab.Host.Running;

namespace VmLab.Cli.Tests;

/// <summary>vmlab sweep / report / merge through the command line, in process and as separate processes.</summary>
public sealed class SweepCliTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "vmlab-cli-sweep-" + Guid.NewGuid().ToString("N"));

    public SweepCliTests()
    {
        Directory.CreateDirectory(_dir);
        File.WriteAllText(P("base.json"), $$"""
            {
              "seed": 3,
              "machine": {
                "memory": { "frames": 4096 },
                "pageTable": { "plugin": "x86-64", "options": { "levels": 4 } },
                "tlb": { "plugin": "fully-associative", "options": { "entries": 64, "policy": "lru" } }
              },
              "workload": { "plugin": "lackey", "options": { "path": "{{Trace("tiny.lackey")}}" } }
            }
            """);
        File.WriteAllText(P("sweep.json"), """
            {
              "name": "cli-tlb",
              "base": "base.json",
              "matrix": {
                "machine:tlb:options:entries": [1, 2, 4, 8, 16],
                "machine:tlb:options:policy": ["lru", "fifo"]
              },
              "baseline": { "entries": 4, "policy": "lru" }
            }
            """);
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private string P(string name) => Path.Combine(_dir, name);

    public static string RepoRoot
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "VmLab.sln"))) dir = dir.Parent;
            return dir?.FullName ?? throw new InvalidOperationException("VmLab.sln not found above the test folder");
        }
    }

    private static string Trace(string name) => Path.Combine(RepoRoot, "configs", "traces", name);

    private static (int Exit, string Out, string Err) Vmlab(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int exit = new VmLabCommand(stdout, stderr).Run(args);
        return (exit, stdout.ToString(), stderr.ToString());
    }

    /// <summary>The built vmlab as a separate process (<c>dotnet vmlab.dll ...</c>), stdout and stderr redirected.</summary>
    private static Process StartVmlab(params string[] args)
    {
        string dll = Path.Combine(AppContext.BaseDirectory, "vmlab.dll");
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(dll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        return Process.Start(psi)!;
    }

    /// <summary>
    /// A sweep's stderr that is not a terminal holds at most progress lines (one per 10 s, so none for a quick sweep
    /// on an idle machine, some on a loaded one) and nothing else.
    /// </summary>
    private static void OnlyProgressLines(string stderr) =>
        Assert.All(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries), line => Assert.StartsWith("progress: sweep cli-tlb: ", line));

    private static IReadOnlyList<object> Essence(string db)
    {
        using var store = ResultStore.Open(db, create: false);
        return store.Read().Cases.Select(c => (object)new
        {
            c.Id, c.Ordinal, Parameters = c.Parameters.ToJsonString(), Config = c.Config.ToJsonString(), c.ConfigHash, c.Seed,
            Plugins = string.Join(";", c.Plugins), Metrics = string.Join(";", c.Metrics), c.Status, c.Error,
        }).ToList();
    }

    [Fact]
    public void ASweepOverAPlainVmtTraceSaysEveryCaseStreamedIt()
    {
        File.WriteAllText(P("base.json"), File.ReadAllText(P("base.json"))
            .Replace("\"plugin\": \"lackey\"", "\"plugin\": \"vmt\"").Replace(Trace("tiny.lackey"), Trace("tiny.vmt")));
        var sweep = Vmlab("sweep", P("sweep.json"), "--db", P("r.db"), "--jobs", "2", "--isolation", "none");
        Assert.Equal(0, sweep.Exit);
        Assert.Contains("shared traces: 0 decoded once and replayed to 0 case(s) (peak 0 MiB); 0 case(s) streamed a trace over the --trace-cache-mb budget; " +
                        "10 case(s) streamed a trace that reads as fast as a replay (an uncompressed .vmt)", sweep.Out);
    }

    [Fact]
    public void SweepThenReportPrintsTheComparisonAndWritesEveryFormat()
    {
        // In this process (--isolation none), cases share one decoding of the trace.
        var sweep = Vmlab("sweep", P("sweep.json"), "--db", P("r.db"), "--jobs", "2", "--isolation", "none");
        Assert.Equal(0, sweep.Exit);
        OnlyProgressLines(sweep.Err); // stderr is not a terminal: no progress bar, no error
        Assert.Contains("sweep cli-tlb: 10 case(s); 0 already finished, ran 10: 10 completed, 0 failed", sweep.Out);
        Assert.Contains("shared traces: 1 decoded once and replayed to 10 case(s)", sweep.Out);

        var report = Vmlab("report", P("r.db"), "--html", P("r.html"), "--csv", P("r.csv"), "--json", P("r.json"), "--metrics", "tlb.misses,walk.memrefs");
        Assert.Equal(0, report.Exit);
        Assert.Contains("sweep cli-tlb: 10 case(s), baseline entries=4,policy=lru", report.Out);
        Assert.Matches(@"entries=4,policy=lru \(baseline\)\s+completed\s+[\d,]+\s+1\.000\s+[\d,]+\s+1\.000", report.Out);
        Assert.Equal(11, File.ReadAllLines(P("r.csv")).Length);
        Assert.Contains("\"baseline\": \"entries=4,policy=lru\"", File.ReadAllText(P("r.json")));
        // 2 metrics, each for its values and its ratios: bars by case, bars grouped by entries and by policy, and a curve
        // against the one numeric axis (entries).
        Assert.Equal(2 * 2 * 4, File.ReadAllText(P("r.html")).Split("<img ").Length - 1);

        var again = Vmlab("sweep", P("sweep.json"), "--db", P("r.db"));
        Assert.Equal(0, again.Exit);
        Assert.Contains("10 already finished, ran 0", again.Out);
    }

    [Fact]
    public async Task ThreeShardProcessesMergeToTheUnshardedSweep()
    {
        var shards = Enumerable.Range(1, 3).Select(k => StartVmlab("sweep", P("sweep.json"), "--db", P($"s{k}.db"), "--shard", $"{k}/3", "--jobs", "1")).ToList();
        var whole = Vmlab("sweep", P("sweep.json"), "--db", P("all.db"));
        Assert.Equal(0, whole.Exit);
        foreach (var (p, k) in shards.Select((p, i) => (p, i + 1)))
        {
            var err = p.StandardError.ReadToEndAsync();
            string output = await p.StandardOutput.ReadToEndAsync();
            await p.WaitForExitAsync();
            Assert.Equal(0, p.ExitCode);
            OnlyProgressLines(await err); // redirected stderr: no bar, no error
            Assert.Contains($"shard {k}/3: {(k == 1 ? 4 : 3)}", output);
            p.Dispose();
        }

        var merge = Vmlab("merge", P("s1.db"), P("s2.db"), P("s3.db"), "-o", P("merged.db"));

        Assert.Equal(0, merge.Exit);
        Assert.Contains("merged 3 database(s) into", merge.Out);
        Assert.Contains("10 of 10 case(s) of sweep cli-tlb (10 completed, 0 failed)", merge.Out);
        Assert.Equal(Essence(P("all.db")), Essence(P("merged.db")));
        Assert.Equal(10, Essence(P("merged.db")).Count);
    }

    /// <summary>
    /// A sweep of six cases whose runs each wait at their first fault for a gate file (test plugin gate-handler):
    /// cases c1 and c2 find their gate open, c3 to c6 wait. With one job the sweep stops at exactly two finished cases
    /// and stays there until the test acts, whatever the machine's speed.
    /// </summary>
    private string GatedSweep(string name)
    {
        string plugin = Path.Combine(AppContext.BaseDirectory, "testplugins", "VmLab.TestPlugins.ThrowingHandler");
        var gates = Enumerable.Range(1, 6).Select(i => $"\"c{i}\": \"{P($"{name}-gate{i}")}\"");
        File.WriteAllText(P(name + "-gate1"), "");
        File.WriteAllText(P(name + "-gate2"), "");
        File.WriteAllText(P(name + ".json"), $$"""
            {
              "name": "{{name}}",
              "base": { "pluginPaths": ["{{plugin}}"],
                        "machine": { "tlb": { "plugin": "fully-associative" },
                                     "faultHandlers": [ { "plugin": "gate-handler" }, { "plugin": "demand-zero" } ] },
                        "workload": { "plugin": "lackey", "options": { "path": "{{Trace("tiny.lackey")}}" } } },
              "matrix": { "machine:faultHandlers:0:options:gate": { "name": "case", "values": { {{string.Join(", ", gates)}} } } }
            }
            """);
        return P(name + ".json");
    }

    private void OpenEveryGate(string name)
    {
        for (int i = 1; i <= 6; i++) File.WriteAllText(P($"{name}-gate{i}"), "");
    }

    /// <summary>Waits until the database holds <paramref name="count"/> cases (a state the gated sweep cannot leave on its own).</summary>
    [Fact]
    public void ReportReadsADatabaseWithoutChangingItAndMergeWritesOneDeleteJournalFile()
    {
        Assert.Equal(0, Vmlab("sweep", P("sweep.json"), "--db", P("w.db"), "--isolation", "none").Exit);
        Assert.Equal(0, Vmlab("merge", P("w.db"), "-o", P("m.db")).Exit);
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(P("m.db"), UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        byte[] before = File.ReadAllBytes(P("m.db"));
        var report = Vmlab("report", P("m.db"), "--csv", P("m.csv"));
        Assert.Equal(0, report.Exit);
        Assert.Equal(11, File.ReadAllLines(P("m.csv")).Length);
        Assert.Equal(before, File.ReadAllBytes(P("m.db"))); // opened to write, it would have been switched to WAL
        Assert.False(File.Exists(P("m.db-wal")));
        // SQLite header bytes 18 and 19, the file format's write and read versions: 1 is a rollback journal, 2 is WAL.
        Assert.Equal((1, 1), (before[18], before[19]));
        Assert.Equal((2, 2), (File.ReadAllBytes(P("w.db"))[18], File.ReadAllBytes(P("w.db"))[19])); // the sweep's own database stays WAL
    }

    private static void WaitForCases(string db, long count, Process p)
    {
        var deadline = DateTime.UtcNow.AddSeconds(120);
        while (CountCases(db) < count && !p.HasExited && DateTime.UtcNow < deadline) Thread.Sleep(50);
        Assert.Equal(count, CountCases(db));
        Assert.False(p.HasExited, "the gated sweep ended on its own");
    }

    [Fact]
    public void ASweepKilledWithSigkillResumesWithoutLosingOrRepeatingFinishedCases()
    {
        string sweep = GatedSweep("kill");
        using var p = StartVmlab("sweep", sweep, "--db", P("k.db"), "--jobs", "1");
        WaitForCases(P("k.db"), 2, p);
        p.Kill(); // SIGKILL, while case c3 waits at its gate
        p.WaitForExit();
        Assert.Equal(2, CountCases(P("k.db")));
        var before = ReadCases(P("k.db")).ToDictionary(c => c.Id, c => c.FinishedUtc);
        Assert.Equal(["case=c1", "case=c2"], before.Keys.Order());

        OpenEveryGate("kill");
        var resumed = Vmlab("sweep", sweep, "--db", P("k.db"), "--jobs", "1");

        Assert.Equal(0, resumed.Exit);
        Assert.Contains("2 already finished, ran 4", resumed.Out);
        var after = ReadCases(P("k.db"));
        Assert.Equal(6, after.Count);
        foreach (var (id, finishedUtc) in before) Assert.Equal(finishedUtc, after.Single(c => c.Id == id).FinishedUtc); // not run again
        var fresh = Vmlab("sweep", sweep, "--db", P("fresh.db"));
        Assert.Equal(0, fresh.Exit);
        Assert.Equal(Essence(P("fresh.db")), Essence(P("k.db")));
    }

    [Fact]
    public async Task SigtermStopsTheSweepWithExit130KeepingFinishedCases()
    {
        string sweep = GatedSweep("term");
        using var p = StartVmlab("sweep", sweep, "--db", P("t.db"), "--jobs", "1");
        WaitForCases(P("t.db"), 2, p);
        using (var kill = Process.Start("kill", ["-TERM", p.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])) await kill.WaitForExitAsync();
        string err = await p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();

        Assert.Equal(130, p.ExitCode);
        Assert.Contains("sweep interrupted; finished cases are saved in", err);
        Assert.Equal(2, CountCases(P("t.db"))); // the case held at its gate was stopped, not recorded
        Assert.All(ReadCases(P("t.db")), c => Assert.Equal("completed", c.Status));
    }

    private static long CountCases(string db)
    {
        if (!File.Exists(db)) return 0;
        try
        {
            using var c = new SqliteConnection($"Data Source={db};Mode=ReadOnly;Pooling=False");
            c.Open();
            using var cmd = c.CreateCommand();
            cmd.CommandText = "SELECT count(*) FROM cases";
            return (long)cmd.ExecuteScalar()!;
        }
        catch (SqliteException)
        {
            return 0; // not created yet
        }
    }

    private static IReadOnlyList<CaseResult> ReadCases(string db)
    {
        using var store = ResultStore.Open(db, create: false);
        return store.Read().Cases;
    }

    [Fact]
    public void ABadSweepFileExitsWith2NamingTheLineAndWritesNoDatabase()
    {
        File.WriteAllText(P("bad.json"), """
            {
              "base": "base.json",
              "matrix": { "machine:tlb:options:entries": [8, -1] }
            }
            """);

        var r = Vmlab("sweep", P("bad.json"), "--db", P("bad.db"));

        Assert.Equal(2, r.Exit);
        Assert.Contains("bad.json:3:50: machine:tlb:options:entries:", r.Err);
        Assert.DoesNotContain("   at ", r.Err);
        Assert.False(File.Exists(P("bad.db")));
        Assert.Equal(2, Vmlab("check", P("bad.json")).Exit);
        var ok = Vmlab("check", P("sweep.json"));
        Assert.Equal(0, ok.Exit);
        Assert.Contains("ok (sweep cli-tlb: 10 case(s) over 2 axis/axes, baseline entries=4,policy=lru)", ok.Out);
    }

    [Fact]
    public void SweepSetChangesTheBaseOfEveryCaseInTheWorkerProcessesToo()
    {
        var r = Vmlab("sweep", P("sweep.json"), "--db", P("set.db"), "--jobs", "2", "--set", "machine:memory:frames=8192");
        Assert.True(r.Exit == 0, r.Err);
        using var store = ResultStore.Open(P("set.db"), create: false);
        var cases = store.Read().Cases;
        Assert.Equal(10, cases.Count);
        foreach (var c in cases)
        {
            Assert.Equal(8192, c.Config["machine"]!["memory"]!["frames"]!.GetValue<long>());
            Assert.Equal(RunResult.Completed, c.Status);
        }
        var check = Vmlab("check", P("sweep.json"), "--set", "machine:memory:frames=8192");
        Assert.Equal(0, check.Exit);
        Assert.Contains("ok (sweep cli-tlb: 10 case(s)", check.Out);
    }

    [Theory]
    [InlineData("machine:tlb:options:entries=32", "machine:tlb:options:entries is swept by the matrix (machine:tlb:options:entries, at ")]
    [InlineData("machine:tlb={}", "machine:tlb is swept by the matrix (machine:tlb:options:entries, at ")]
    [InlineData("machine:memory:frames=3", "--set machine:memory:frames: machine:memory:frames: 3 is out of range")]
    public void SweepSetOfAnAxisKeyOrABadValueIsExitTwoInSweepAndCheckAndNothingRuns(string set, string message)
    {
        foreach (var command in new[] { "sweep", "check" })
        {
            var r = command == "sweep" ? Vmlab("sweep", P("sweep.json"), "--db", P("bad-set.db"), "--set", set) : Vmlab("check", P("sweep.json"), "--set", set);
            Assert.Equal(2, r.Exit);
            Assert.Contains(message, r.Err);
            Assert.DoesNotContain("   at ", r.Err);
            Assert.False(File.Exists(P("bad-set.db")), "nothing runs");
        }
    }

    [Theory]
    [InlineData("--shard", "4/3", "--shard expects K/N with 1 <= K <= N")]
    [InlineData("--shard", "0/3", "--shard expects K/N")]
    [InlineData("--jobs", "0", "--jobs expects a whole number >= 1")]
    [InlineData("--trace-cache-mb", "lots", "--trace-cache-mb expects a whole number")]
    [InlineData("--bogus", "1", "unknown option '--bogus'")]
    public void BadSweepArgumentsExitWith2(string option, string value, string expected)
    {
        var r = Vmlab("sweep", P("sweep.json"), "--db", P("x.db"), option, value);
        Assert.Equal(2, r.Exit);
        Assert.Contains(expected, r.Err);
        Assert.False(File.Exists(P("x.db")));
    }

    [Fact]
    public void ReportAndMergeInputErrorsExitWith2AndWriteNothing()
    {
        Assert.Equal(0, Vmlab("sweep", P("sweep.json"), "--db", P("r.db")).Exit);

        var metric = Vmlab("report", P("r.db"), "--metrics", "tlb.mises", "--html", P("out.html"));
        Assert.Equal(2, metric.Exit);
        Assert.Contains("error: --metrics: no metric or rate 'tlb.mises' in the results; did you mean 'tlb.misses'?", metric.Err);
        // tlb.miss is as near tlb.hits as tlb.misses by edit distance; the longer shared prefix decides.
        var miss = Vmlab("report", P("r.db"), "--metrics", "accesses,tlb.miss");
        Assert.Equal(2, miss.Exit);
        Assert.Contains("error: --metrics: no metric or rate 'tlb.miss' in the results; did you mean 'tlb.misses'?", miss.Err);
        Assert.False(File.Exists(P("out.html")));

        var baseline = Vmlab("report", P("r.db"), "--baseline", "entries=3,policy=lru");
        Assert.Equal(2, baseline.Exit);
        Assert.Contains("error: --baseline: no case 'entries=3,policy=lru'", baseline.Err);

        var missing = Vmlab("report", P("none.db"));
        Assert.Equal(2, missing.Exit);
        Assert.Contains("none.db: results database not found", missing.Err);

        File.WriteAllText(P("other.json"), """{ "name": "other", "base": "base.json", "matrix": { "machine:tlb:options:entries": [8] } }""");
        Assert.Equal(0, Vmlab("sweep", P("other.json"), "--db", P("o.db")).Exit);
        var merge = Vmlab("merge", P("r.db"), P("o.db"), "-o", P("m.db"));
        Assert.Equal(2, merge.Exit);
        Assert.Contains("holds sweep 'other', but", merge.Err);
        Assert.False(File.Exists(P("m.db")));
        Assert.Equal(2, Vmlab("merge", P("r.db")).Exit);

        var wrongDb = Vmlab("sweep", P("other.json"), "--db", P("r.db"));
        Assert.Equal(2, wrongDb.Exit);
        Assert.Contains("holds results of sweep 'cli-tlb', not 'other'", wrongDb.Err);
    }

    [Fact]
    public void AFailedCaseMakesTheSweepExit1AndIsListed()
    {
        File.WriteAllText(P("broken.lackey"), "I  0401ab70,3\nnot a record\n");
        File.WriteAllText(P("f.json"), $$"""
            { "name": "f", "base": "base.json",
              "matrix": { "workload:options:path": { "name": "trace", "values": { "ok": "{{Trace("tiny.lackey")}}", "broken": "broken.lackey" } } } }
            """);

        var r = Vmlab("sweep", P("f.json"), "--db", P("f.db"));

        Assert.Equal(1, r.Exit);
        Assert.Contains("1 completed, 1 failed", r.Out);
        Assert.Contains("error: case trace=broken failed: ", r.Err);
        Assert.Contains("broken.lackey:2: malformed Lackey record", r.Err);
    }
}

/// <summary>A policy that reads the stream in advance works on a sweep's shared decoded trace.</summary>
public sealed class SweepOptTests
{
    [Fact]
    public void OptInASweepSharesTheDecodedTraceAndMatchesASeparateRun()
    {
        using var s = new Scratch();
        string sweep = s.File("opt.json", $$"""
            {
              "name": "opt-shared",
              "base": "{{Cli.Repo("configs", "paging-limited.json").Replace("\\", "/")}}",
              "matrix": { "machine:replacement:plugin": ["opt", "lru"], "machine:memory:userFrames": [64] },
              "baseline": { "plugin": "lru" }
            }
            """);
        string db = s.PathOf("opt.db");
        var r = Cli.Run("sweep", sweep, "--db", db, "--isolation", "none"); // cases in this process share one decoding
        Assert.True(r.ExitCode == 0, r.Stderr + r.Stdout);
        Assert.Contains("1 decoded once and replayed to 2 case(s)", r.Stdout);
        var report = System.Text.Json.Nodes.JsonNode.Parse(Cli.Run("report", db, "--json", "-").Stdout)!;
        var opt = report["cases"]!.AsArray().Single(c => c!["id"]!.GetValue<string>().Contains("plugin=opt"))!;
        long sweptFaults = opt["allMetrics"]!["faults.total"]!.GetValue<long>();
        var alone = System.Text.Json.Nodes.JsonNode.Parse(Cli.Run("run", Cli.Repo("configs", "paging-limited.json"), "--json", "-",
            "--set", "machine:replacement:plugin=opt", "--set", "machine:memory:userFrames=64").Stdout)!;
        Assert.Equal(alone["metrics"]!["faults.total"]!.GetValue<long>(), sweptFaults);
    }
}
