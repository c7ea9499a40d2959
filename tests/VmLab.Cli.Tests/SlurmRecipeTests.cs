using System.Text.RegularExpressions;
using Microsoft.Data.Sqlite;
using VmLab.Host.Results;

namespace VmLab.Cli.Tests;

/// <summary>
/// The Slurm recipe in docs/scaling (slurm-submit.sh, slurm-sweep.sh, slurm-merge.sh) run on a real single-node Slurm
/// (<see cref="SingleNodeSlurm"/>), with the vmlab this test project built. The sweep's cases wait at their first
/// fault for a gate file (test plugin gate-handler), so a shard can be held at a known case whatever the machine's
/// speed: cases c1..c6, shard K of 3 holds cases cK and cK+3.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class SlurmRecipeTests : IClassFixture<SlurmRecipeTests.Cluster>, IDisposable
{
    /// <summary>One Slurm for the class's tests, stopped after them.</summary>
    public sealed class Cluster : IDisposable
    {
        private readonly Lazy<SingleNodeSlurm> _slurm = new(() => new SingleNodeSlurm());

        public SingleNodeSlurm Slurm => _slurm.Value;

        public void Dispose()
        {
            if (_slurm.IsValueCreated) _slurm.Value.Dispose();
        }
    }

    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(180);
    private readonly SingleNodeSlurm _slurm;
    private readonly Scratch _s = new();

    public SlurmRecipeTests(Cluster cluster)
    {
        _slurm = cluster.Slurm;
        File.SetUnixFileMode(_s.Dir, (UnixFileMode)0b111_101_101);
    }

    public void Dispose() => _s.Dispose();

    private static string Recipe(string script) => Cli.Repo("docs", "scaling", script);

    private string Gate(int i) => _s.PathOf($"gate{i}");

    private string Sweep()
    {
        string plugin = Path.Combine(AppContext.BaseDirectory, "testplugins", "VmLab.TestPlugins.ThrowingHandler");
        var gates = Enumerable.Range(1, 6).Select(i => $"\"c{i}\": \"{Gate(i)}\"");
        return _s.File("gated.json", $$"""
            {
              "name": "slurm-gated",
              "base": { "seed": 5, "pluginPaths": ["{{plugin}}"],
                        "machine": { "tlb": { "plugin": "fully-associative", "options": { "entries": 8 } },
                                     "faultHandlers": [ { "plugin": "gate-handler" }, { "plugin": "demand-zero" } ] },
                        "workload": { "plugin": "lackey", "options": { "path": "{{Cli.Repo("configs", "traces", "tiny.lackey")}}" } } },
              "matrix": { "machine:faultHandlers:0:options:gate": { "name": "case", "values": { {{string.Join(", ", gates)}} } } }
            }
            """);
    }

    private void Open(params int[] gates)
    {
        foreach (int i in gates) File.WriteAllText(Gate(i), "");
    }

    /// <summary>What a job needs: this build of vmlab, node-local scratch, how often a shard is copied.</summary>
    private Dictionary<string, string> JobEnvironment(int copyEvery)
    {
        string dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH")
                        ?? (Environment.ProcessPath is { } p && Path.GetFileNameWithoutExtension(p) == "dotnet" ? p : "dotnet");
        Directory.CreateDirectory(_s.PathOf("node-local"));
        return new Dictionary<string, string>
        {
            ["VMLAB"] = $"{dotnet} {Path.Combine(AppContext.BaseDirectory, "vmlab.dll")}",
            ["TMPDIR"] = _s.PathOf("node-local"),
            ["VMLAB_COPY_EVERY"] = copyEvery.ToString(System.Globalization.CultureInfo.InvariantCulture),
        };
    }

    private string Log(string name) => _s.PathOf(name);

    private static string Read(string path) => File.Exists(path) ? File.ReadAllText(path) : "";

    /// <summary>The ids and statuses of a database's cases, read without writing to it (an absent or half-created file has none).</summary>
    private static List<string> Cases(string db)
    {
        if (!File.Exists(db)) return [];
        try
        {
            using var c = new SqliteConnection($"Data Source={db};Mode=ReadOnly;Pooling=False");
            c.Open();
            using var cmd = c.CreateCommand();
            cmd.CommandText = "SELECT id || ' ' || status FROM cases ORDER BY ordinal";
            using var r = cmd.ExecuteReader();
            var cases = new List<string>();
            while (r.Read()) cases.Add(r.GetString(0));
            return cases;
        }
        catch (SqliteException)
        {
            return [];
        }
    }

    /// <summary>Each case's id, status and metrics: what a sweep computed, not when or where.</summary>
    private static List<string> Metrics(string db)
    {
        using var store = ResultStore.OpenReadOnly(db);
        return [.. store.Read().Cases.Select(c => $"{c.Id} {c.Status} {c.ConfigHash} {string.Join(";", c.Metrics.OrderBy(m => m.Key, StringComparer.Ordinal))}")];
    }

    [Fact]
    public void AnArrayOfThreeShardsMergesToTheOneProcessSweepAndARequeuedShardKeepsTheCasesItFinished()
    {
        string sweep = Sweep();
        Open(1, 2, 3, 4, 6); // shard 2 stops at c5
        string results = _s.PathOf("results");
        var submit = _slurm.Submit("bash", [Recipe("slurm-submit.sh"), sweep, results, "3", $"--chdir={_s.Dir}", "--job-name=vmlab-test", "--", "--progress-interval", "0"],
            JobEnvironment(copyEvery: 3600));
        Assert.True(submit.ExitCode == 0, submit.Stderr);
        var ids = Regex.Match(submit.Stdout, @"^sweep array job (\d+) \(shards 1-3\), merge job (\d+)$", RegexOptions.Multiline);
        Assert.True(ids.Success, submit.Stdout);
        string array = ids.Groups[1].Value, merge = ids.Groups[2].Value;
        // The sbatch options reached both jobs; nothing asks for more cores than a 2-core node has.
        Assert.Equal(["vmlab-test"], _slurm.Tool("squeue", "-h", "-t", "all", "-j", $"{array},{merge}", "-o", "%j").Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Distinct());

        string log2 = Log($"vmlab-sweep-{array}_2.log");
        _slurm.Until(() => Read(log2).Contains("progress: sweep slurm-gated: 1/2 cases (50%)", StringComparison.Ordinal), Timeout,
            "shard 2 finishing case c2", log2);
        Assert.Empty(Cases(Path.Combine(results, "shard-2-of-3.db"))); // no periodic copy within the hour

        // Requeue: Slurm sends SIGTERM to the job's processes; the shard stops at c5 and copies what it finished.
        var requeue = _slurm.Tool("scontrol", "requeue", $"{array}_2");
        Assert.True(requeue.ExitCode == 0, requeue.Stderr);
        _slurm.Until(() => Read(log2).Contains("slurm-sweep: exit ", StringComparison.Ordinal), Timeout, "shard 2 stopping after SIGTERM", log2);
        Assert.Equal(["case=c2 completed"], Cases(Path.Combine(results, "shard-2-of-3.db")));
        Assert.Empty(Directory.GetFiles(_s.PathOf("node-local"), "vmlab-*-2-of-3.db*")); // the requeued task has only the shared copy, as on another node

        Open(5);
        // Slurm holds a requeued job for about two minutes (reason BeginTime); the test does not wait for that.
        _slurm.Until(() =>
        {
            string state = _slurm.Tool("squeue", "-h", "-t", "all", "-j", $"{array}_2", "-o", "%T %r").Stdout.Trim();
            if (state == "PENDING BeginTime") _slurm.Tool("scontrol", "update", $"JobId={array}_2", "StartTime=now");
            return state.StartsWith("RUNNING", StringComparison.Ordinal) || state.StartsWith("COMPLETED", StringComparison.Ordinal);
        }, Timeout, "the requeued task 2 starting again", log2);
        Assert.All(_slurm.WaitForEnd(array, Timeout, Log($"vmlab-sweep-{array}_1.log"), log2, Log($"vmlab-sweep-{array}_3.log")), s => Assert.Equal("COMPLETED", s));
        Assert.All(_slurm.WaitForEnd(merge, Timeout, Log($"vmlab-merge-{merge}.log")), s => Assert.Equal("COMPLETED", s));

        // The log holds both runs of task 2 (appended), and the second ran only c5.
        string text = Read(log2);
        Assert.Contains("shard 2/3 of", text);
        Assert.Contains("restart 0", text);
        Assert.Contains("restart 1", text);
        Assert.Contains("SIGTERM: stopping the shard", text);
        Assert.Contains("1 already finished, ran 1: 1 completed, 0 failed", text);
        Assert.Contains("slurm-merge: 3 of 3 shard database(s)", Read(Log($"vmlab-merge-{merge}.log")));
        Assert.True(File.Exists(Path.Combine(results, "report.csv")));

        var whole = Cli.Run("sweep", sweep, "--db", _s.PathOf("whole.db"), "--isolation", "none");
        Assert.True(whole.ExitCode == 0, whole.Stderr);
        var merged = Metrics(Path.Combine(results, "all.db"));
        Assert.Equal(6, merged.Count);
        Assert.Equal(Metrics(_s.PathOf("whole.db")), merged);
    }

    [Fact]
    public void ReRunningOneArrayTaskRunsThatShardAndCopiesItToSharedStoragePeriodically()
    {
        string sweep = Sweep();
        Open(3); // shard 3 finishes c3, then waits at c6
        string results = _s.PathOf("results");
        var submit = _slurm.Submit("sbatch", ["--parsable", "--array=3", $"--chdir={_s.Dir}", Recipe("slurm-sweep.sh"), sweep, results, "3", "--progress-interval", "0"],
            JobEnvironment(copyEvery: 1));
        Assert.True(submit.ExitCode == 0, submit.Stderr);
        string job = submit.Stdout.Trim().Split(';')[0];
        string log = Log($"vmlab-sweep-{job}_3.log");
        string shared = Path.Combine(results, "shard-3-of-3.db");

        // While the task runs (held at c6), a periodic copy brings c3 to shared storage.
        _slurm.Until(() => Cases(shared).Count == 1, Timeout, "a periodic copy of shard 3", log);
        Assert.Equal(["case=c3 completed"], Cases(shared));
        Assert.Equal(["RUNNING"], _slurm.States(job));

        Open(6);
        Assert.All(_slurm.WaitForEnd(job, Timeout, log), s => Assert.Equal("COMPLETED", s));
        Assert.Equal(["case=c3 completed", "case=c6 completed"], Cases(shared));
        Assert.Equal(["shard-3-of-3.db"], Directory.GetFiles(results).Select(Path.GetFileName));
        Assert.Contains("sweep slurm-gated: 6 case(s), shard 3/3: 2; 0 already finished, ran 2", Read(log));
    }
}
