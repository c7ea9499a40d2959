using VmLab.Host.Results;

namespace VmLab.Cli.Tests;

/// <summary>
/// Sweep cases run in worker processes: a plugin that overflows the stack or never returns fails its own case only,
/// the failure names the plugin, the sweep goes on and resumes, and results equal those of in-process runs.
/// </summary>
public sealed class SweepIsolationTests : IDisposable
{
    private readonly Scratch _s = new();

    public void Dispose() => _s.Dispose();

    private static readonly string Plugin = Path.Combine(AppContext.BaseDirectory, "testplugins", "VmLab.TestPlugins.ThrowingHandler");
    private static readonly string Tiny = Cli.Repo("configs", "traces", "tiny.lackey");

    private string Sweep(string values) => _s.File("s.json", $$"""
        {
          "name": "iso",
          "base": { "pluginPaths": ["{{Plugin}}"],
                    "machine": { "memory": { "frames": 4096 }, "tlb": { "plugin": "fully-associative" } },
                    "workload": { "plugin": "lackey", "options": { "path": "{{Tiny}}" } } },
          "matrix": { "machine:faultHandlers": { "name": "handlers", "values": { {{values}} } } }
        }
        """);

    private static CaseResult[] Cases(string db)
    {
        using var store = ResultStore.Open(db, create: false);
        return [.. store.Read().Cases];
    }

    [Fact]
    public void AStackOverflowAndAnEndlessLoopFailTheirOwnCasesNamingThePluginAndTheSweepGoesOn()
    {
        string sweep = Sweep("""
            "ok": [ { "plugin": "demand-zero" } ],
            "deep": [ { "plugin": "recursing-handler" }, { "plugin": "demand-zero" } ],
            "spin": [ { "plugin": "spinning-handler" }, { "plugin": "demand-zero" } ],
            "cow": [ { "plugin": "cow" }, { "plugin": "demand-zero" } ]
            """);
        string db = _s.PathOf("r.db");

        var r = Cli.Run("sweep", sweep, "--db", db, "--jobs", "2", "--case-timeout", "20");

        Assert.True(r.ExitCode == 1, r.Stdout + r.Stderr);
        Assert.True((r.Stdout + r.Stderr).Contains("ran 4: 2 completed, 2 failed", StringComparison.Ordinal), r.Stdout + r.Stderr);
        var cases = Cases(db).ToDictionary(c => c.Id);
        Assert.Equal("completed", cases["handlers=ok"].Status);
        Assert.Equal("completed", cases["handlers=cow"].Status);
        Assert.Equal("failed", cases["handlers=deep"].Status);
        Assert.StartsWith("case handlers=deep ended its worker process with a stack overflow in plugin recursing-handler (machine:faultHandlers:0, VmLab.TestPlugins.ThrowingHandler) (exit code 134, SIGABRT)",
            cases["handlers=deep"].Error);
        Assert.Equal("failed", cases["handlers=spin"].Status);
        Assert.StartsWith("case handlers=spin timed out after 20 s (--case-timeout); its worker process was killed; plugins from outside VmLab in this case: spinning-handler (machine:faultHandlers:0)",
            cases["handlers=spin"].Error);
        Assert.Contains("error: case handlers=deep failed: case handlers=deep ended its worker process with a stack overflow in plugin recursing-handler", r.Stderr);

        // Resuming does not run the failed cases again (and is not taken down by them); --retry-failed does, and they fail
        // the same way (with a shorter timeout: no case that must complete runs again).
        var again = Cli.Run("sweep", sweep, "--db", db, "--jobs", "2", "--case-timeout", "20");
        Assert.Contains("4 already finished, ran 0", again.Stdout);
        var retry = Cli.Run("sweep", sweep, "--db", db, "--jobs", "2", "--case-timeout", "5", "--retry-failed");
        Assert.Contains("2 already finished, ran 2: 0 completed, 2 failed", retry.Stdout);
        Assert.StartsWith("case handlers=spin timed out after 5 s (--case-timeout)", Cases(db).Single(c => c.Id == "handlers=spin").Error);
    }

    [Fact]
    public void ResultsInWorkerProcessesEqualResultsInProcess()
    {
        string sweep = Sweep("""
            "dz": [ { "plugin": "demand-zero" } ],
            "cow": [ { "plugin": "cow" }, { "plugin": "demand-zero" } ],
            "quiet": [ { "plugin": "quiet-handler" }, { "plugin": "demand-zero" } ]
            """);
        Assert.Equal(0, Cli.Run("sweep", sweep, "--db", _s.PathOf("p.db"), "--jobs", "2").ExitCode);
        Assert.Equal(0, Cli.Run("sweep", sweep, "--db", _s.PathOf("n.db"), "--isolation", "none").ExitCode);

        static object Essence(CaseResult c) => new { c.Id, c.Ordinal, Config = c.Config.ToJsonString(), c.ConfigHash, Metrics = string.Join(";", c.Metrics), c.Status, c.Error, Events = string.Join(";", c.Events) };
        Assert.Equal(Cases(_s.PathOf("n.db")).Select(Essence), Cases(_s.PathOf("p.db")).Select(Essence));
        Assert.True(Cases(_s.PathOf("p.db")).All(c => c.Metrics["accesses"] > 0));
    }

    [Fact]
    public void CaseTimeoutNeedsWorkerProcessesAndAPositiveNumber()
    {
        string sweep = Sweep("\"dz\": [ { \"plugin\": \"demand-zero\" } ]");
        var none = Cli.Run("sweep", sweep, "--db", _s.PathOf("x.db"), "--isolation", "none", "--case-timeout", "5");
        Assert.Equal(2, none.ExitCode);
        Assert.Contains("--case-timeout needs --isolation process", none.Stderr);
        var zero = Cli.Run("sweep", sweep, "--db", _s.PathOf("x.db"), "--case-timeout", "0");
        Assert.Equal(2, zero.ExitCode);
        Assert.Contains("--case-timeout expects a number of seconds > 0, got '0'", zero.Stderr);
        Assert.False(File.Exists(_s.PathOf("x.db")));
    }

    [Fact]
    public void RunTimeoutStopsAPluginThatNeverReturns()
    {
        string config = _s.File("spin.json", $$"""
            { "pluginPaths": ["{{Plugin}}"],
              "machine": { "memory": { "frames": 4096 }, "faultHandlers": [ { "plugin": "spinning-handler" }, { "plugin": "demand-zero" } ] },
              "workload": { "plugin": "lackey", "options": { "path": "{{Tiny}}" } } }
            """);
        var started = DateTime.UtcNow;
        var r = Cli.RunProcess("run", config, "--timeout", "2", "--json", _s.PathOf("out.json"));
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("error: run spin timed out after 2 s (--timeout); nothing was written", r.Stderr);
        Assert.False(File.Exists(_s.PathOf("out.json")));
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(60));

        var ok = Cli.Run("run", Cli.Repo("configs", "quickstart.json"), "--timeout", "600");
        Assert.Equal(0, ok.ExitCode);
    }
}
