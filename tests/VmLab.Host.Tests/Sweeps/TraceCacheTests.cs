using VmLab.Abstractions;
using VmLab.Abstractions.Workloads;
using VmLab.Host.Running;
using VmLab.Host.Sweeps;

namespace VmLab.Host.Tests.Sweeps;

public sealed class TraceCacheTests : IDisposable
{
    private readonly SweepFixture _fx = new();

    public void Dispose() => _fx.Dispose();

    private VmLab.Host.Config.Experiment[] Experiments(int count)
    {
        var sweep = _fx.Load($$"""{ "base": "base.json", "matrix": { "machine:tlb:options:entries": [{{string.Join(", ", Enumerable.Range(1, count))}}] } }""");
        return [.. sweep.Cases.Select(c => c.Experiment)];
    }

    /// <summary>A workload that is not a pure access stream.</summary>
    private sealed class ScenarioWorkload : IWorkload
    {
        public void Run(ISimulation simulation, CancellationToken cancellationToken) => simulation.Execute([MemoryAccess.Read(0x1000)]);
    }

    [Fact]
    public void OnlyTraceWorkloadsHaveAKey()
    {
        var e = Experiments(1)[0];
        Assert.NotNull(TraceCache.KeyOf(e));
        var scenario = e with
        {
            Workload = e.Workload with
            {
                Plugin = e.Workload.Plugin with { Registration = e.Workload.Plugin.Registration with { ImplementationType = typeof(ScenarioWorkload) } },
            },
        };
        Assert.Null(TraceCache.KeyOf(scenario));
        Assert.Same(scenario, new TraceCache(1L << 30).Prepare([scenario, scenario])[0]);
    }

    [Fact]
    public void ATraceReadByOneRunOnlyIsNotRecorded()
    {
        var experiments = Experiments(1);
        var cache = new TraceCache(1L << 30);
        var prepared = cache.Prepare(experiments);
        Assert.Same(experiments[0], prepared[0]);
    }

    [Fact]
    public void RecordedRunsEqualStreamedRunsAndTheMemoryIsFreedAfterTheLastRun()
    {
        var experiments = Experiments(3);
        var cache = new TraceCache(1L << 30);
        var prepared = cache.Prepare(experiments);
        var runner = new ExperimentRunner();

        var first = runner.Run(prepared[0]);
        Assert.Equal((1, 1, (long)TraceCache.ChunkBytes), (cache.Decodes, cache.Replays, cache.HeldBytes));
        var rest = prepared.Skip(1).Select(e => runner.Run(e)).ToList();

        Assert.Equal((1, 3, 0L), (cache.Decodes, cache.Replays, cache.HeldBytes));
        var streamed = experiments.Select(e => runner.Run(e).Metrics).ToList();
        Assert.Equal(streamed, new[] { first }.Concat(rest).Select(r => r.Metrics));
    }
}
