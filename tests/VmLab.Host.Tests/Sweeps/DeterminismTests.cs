using VmLab.Host.Config;
using VmLab.Host.Plugins;
using VmLab.Host.Results;
using VmLab.Host.Running;
using VmLab.Host.Sweeps;

namespace VmLab.Host.Tests.Sweeps;

/// <summary>
/// Same config + seed ⇒ same metrics, whether a run is alone, repeated, or one case of a sweep run on 1 or N workers;
/// on a multi-process synthetic workload under memory pressure (OOM kills) with the invariant checker on.
/// </summary>
public sealed class DeterminismTests : IDisposable
{
    // Three processes writing to 300 + 200 + 150 pages (reads of untouched pages map the zero page and take no frame)
    // on 256 frames: the OOM killer runs.
    private const string Base = """
        {
          "name": "pressure",
          "seed": 3,
          "machine": {
            "memory": { "frames": 256 },
            "checks": { "invariants": true, "every": 20000 },
            "tlb": { "plugin": "fully-associative", "options": { "entries": 32 } }
          },
          "workload": { "plugin": "synthetic", "options": {
            "accesses": 60000, "quantum": 3000,
            "processes": [
              { "pid": 1, "pattern": "uniform", "footprintPages": 300, "writeRatio": 0.5 },
              { "pid": 2, "pattern": "zipf", "footprintPages": 200, "alpha": 0.9, "writeRatio": 0.5 },
              { "pid": 3, "pattern": "pointer-chase", "footprintPages": 150, "nodeSize": 64, "writeRatio": 0.5 }
            ] } }
        }
        """;

    private const string Sweep = """
        {
          "name": "determinism",
          "base": "pressure.json",
          "matrix": {
            "seed": [3, 4],
            "machine:memory:frames": [200, 256, 320],
            "machine:tlb:options:entries": [16, 64]
          }
        }
        """;

    private readonly SweepFixture _fx = new();

    public void Dispose() => _fx.Dispose();

    private RunResult Run(params string[] overrides) =>
        new ExperimentRunner().Run(new ExperimentLoader(PluginCatalog.CreateDefault()).Load(_fx.Write("pressure.json", Base), overrides));

    [Fact]
    public void SameSeedGivesIdenticalMetricsUnderMemoryPressure()
    {
        var a = Run();
        var b = Run();
        Assert.Equal(RunResult.Completed, a.Status);
        Assert.Contains(a.Events, e => e.StartsWith("oom-kill", StringComparison.Ordinal)); // the pressure is real
        Assert.Equal(a.Metrics, b.Metrics);
        Assert.Equal(a.Events, b.Events);
        Assert.NotEqual(a.Metrics, Run("seed=4").Metrics); // and the seed does drive the workload
    }

    [Fact]
    public void ASweepGivesTheSameMetricsOnOneWorkerAndOnSeveral()
    {
        _fx.Write("pressure.json", Base);
        var sweep = SweepFixture.NewLoader().Load(_fx.Write("determinism.sweep.json", Sweep));
        Assert.Equal(12, sweep.Cases.Count);
        IReadOnlyList<CaseResult> RunWith(int jobs, string db)
        {
            using var store = ResultStore.Open(Path.Combine(_fx.Folder, db), create: true);
            var summary = new SweepRunner().Run(sweep, store, new SweepRunOptions { Jobs = jobs });
            Assert.Equal(12, summary.Ran);
            return store.Read().Cases;
        }
        var one = RunWith(1, "one.db").ToDictionary(c => c.Id);
        var many = RunWith(4, "many.db").ToDictionary(c => c.Id);
        Assert.Equal(one.Keys.Order(), many.Keys.Order());
        foreach (var (id, c) in one)
        {
            Assert.Equal(RunResult.Completed, c.Status);
            Assert.Equal(c.Metrics, many[id].Metrics);
        }
        // The cases differ from each other: the comparison is not between twelve copies of one result.
        Assert.Equal(12, one.Values.Select(c => string.Join(",", c.Metrics.Select(kv => $"{kv.Key}={kv.Value}"))).Distinct().Count());
    }
}
