using VmLab.Host.Results;
using VmLab.Host.Running;
using VmLab.Host.Sweeps;

namespace VmLab.Host.Tests.Sweeps;

public sealed class SweepRunnerTests : IDisposable
{
    private const string TlbSweep = """
        {
          "name": "tlb",
          "base": "base.json",
          "matrix": {
            "machine:tlb:options:entries": [1, 2, 4, 8],
            "machine:tlb:options:policy": ["lru", "fifo"]
          },
          "baseline": { "entries": 4, "policy": "lru" }
        }
        """;

    private readonly SweepFixture _fx = new();

    public void Dispose() => _fx.Dispose();

    private string Db(string name = "results.db") => Path.Combine(_fx.Folder, name);

    private static Dictionary<string, IReadOnlyDictionary<string, long>> StandaloneMetrics(Sweep sweep) =>
        sweep.Cases.ToDictionary(c => c.Id, c => new ExperimentRunner().Run(c.Experiment).Metrics);

    [Fact]
    public void EveryCaseStoresTheMetricsOfAStandaloneRunAndTheTraceIsDecodedOnce()
    {
        var sweep = _fx.Load(TlbSweep);
        using var store = ResultStore.Open(Db(), create: true);

        var summary = new SweepRunner().Run(sweep, store, new SweepRunOptions { Jobs = 2 });

        Assert.Equal((8, 8, 8, 0), (summary.Ran, summary.Completed + summary.Failed, summary.Completed, summary.Failed));
        Assert.Equal(1, summary.TraceDecodes);
        Assert.Equal(8, summary.TraceReplays);
        Assert.Equal((0, 0), (summary.TraceStreamed, summary.TraceStreamedDirect));
        // tiny.lackey: 2,000 records, 20 of them M (two accesses each) = 2,020 accesses of 16 bytes, in one 64 Ki chunk.
        Assert.Equal((1 << 16) * 16, summary.TraceCachePeakBytes);

        var expected = StandaloneMetrics(sweep);
        var stored = store.Read();
        Assert.Equal(sweep.Cases.Select(c => c.Id), stored.Cases.Select(c => c.Id));
        foreach (var c in stored.Cases)
        {
            Assert.Equal(RunResult.Completed, c.Status);
            Assert.Null(c.Error);
            Assert.Equal(expected[c.Id], c.Metrics);
            Assert.Equal(7UL, c.Seed);
            Assert.Equal(SweepLoader.ConfigHash(sweep.Cases.Single(x => x.Id == c.Id).Experiment), c.ConfigHash);
            Assert.Contains("fully-associative", c.Plugins.Keys);
            Assert.True(c.FinishedUtc >= c.StartedUtc);
        }
        Assert.Equal(2020, stored.Cases[0].Metrics["accesses"]);
        Assert.Equal("tlb", stored.Sweep.Name);
        Assert.Equal("entries=4,policy=lru", stored.Sweep.BaselineId);
        Assert.Equal(8, stored.Sweep.CaseCount);
    }

    [Fact]
    public void OverTheMemoryBudgetEveryCaseStreamsItsTraceWithTheSameMetrics()
    {
        var sweep = _fx.Load(TlbSweep);
        using var store = ResultStore.Open(Db(), create: true);

        var summary = new SweepRunner().Run(sweep, store, new SweepRunOptions { Jobs = 2, TraceCacheBytes = 1024 });

        Assert.Equal((0, 0, 8), (summary.TraceDecodes, summary.TraceReplays, summary.TraceStreamed));
        Assert.Equal(0, summary.TraceCachePeakBytes);
        var expected = StandaloneMetrics(sweep);
        Assert.All(store.Read().Cases, c => Assert.Equal(expected[c.Id], c.Metrics));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void APlainVmtTraceIsStreamedByEveryCaseAndACompressedOneIsRecordedWithTheSameMetrics(bool gzipped)
    {
        // Unpacking a recording costs what decoding a plain .vmt does, so only the compressed file is worth recording.
        string vmt = Path.Combine(SweepFixture.RepoRoot, "configs", "traces", "tiny.vmt");
        if (gzipped)
        {
            string gz = Path.Combine(_fx.Folder, "tiny.vmt.gz");
            using (var output = File.Create(gz))
            using (var zip = new System.IO.Compression.GZipStream(output, System.IO.Compression.CompressionLevel.Fastest))
                zip.Write(File.ReadAllBytes(vmt));
            vmt = gz;
        }
        _fx.Write("base.json", SweepFixture.BaseJson.Replace("\"plugin\": \"lackey\"", "\"plugin\": \"vmt\"")
            .Replace(SweepFixture.TinyTrace.Replace("\\", "\\\\"), vmt.Replace("\\", "\\\\")));
        var sweep = _fx.Load(TlbSweep);
        using var store = ResultStore.Open(Db(), create: true);

        var summary = new SweepRunner().Run(sweep, store, new SweepRunOptions { Jobs = 2 });

        Assert.Equal(gzipped ? (1, 8, 0, 0) : (0, 0, 0, 8),
            (summary.TraceDecodes, summary.TraceReplays, summary.TraceStreamed, summary.TraceStreamedDirect));
        Assert.Equal(gzipped ? TraceCache.ChunkBytes : 0, summary.TraceCachePeakBytes);
        var expected = StandaloneMetrics(sweep);
        Assert.All(store.Read().Cases, c => Assert.Equal(expected[c.Id], c.Metrics));
        Assert.All(store.Read().Cases, c => Assert.Equal(2020, c.Metrics["accesses"])); // the same accesses as tiny.lackey
    }

    [Fact]
    public void ASecondRunOnlyRunsTheCasesTheFirstDidNotFinish()
    {
        var sweep = _fx.Load(TlbSweep);
        using var store = ResultStore.Open(Db(), create: true);
        var first = new SweepRunner().Run(sweep, store, new SweepRunOptions { Jobs = 1, ShardIndex = 2, ShardCount = 3 });
        Assert.Equal(3, first.Ran); // ordinals 1, 4, 7
        var before = store.Read().Cases.ToDictionary(c => c.Id, c => c.FinishedUtc);

        var second = new SweepRunner().Run(sweep, store, new SweepRunOptions { Jobs = 2 });

        Assert.Equal((8, 3, 5), (second.CasesInShard, second.AlreadyFinished, second.Ran));
        var after = store.Read().Cases;
        Assert.Equal(8, after.Count);
        foreach (var (id, finished) in before) Assert.Equal(finished, after.Single(c => c.Id == id).FinishedUtc);

        var third = new SweepRunner().Run(sweep, store, new SweepRunOptions());
        Assert.Equal((8, 0), (third.AlreadyFinished, third.Ran));
    }

    [Fact]
    public void ACaseWhoseConfigChangedUnderTheSameIdRunsAgain()
    {
        var sweep = _fx.Load(TlbSweep);
        using var store = ResultStore.Open(Db(), create: true);
        new SweepRunner().Run(sweep, store, new SweepRunOptions());
        _fx.Write("base.json", SweepFixture.BaseJson.Replace("\"levels\": 4", "\"levels\": 5"));
        var changed = _fx.Load(TlbSweep);

        var summary = new SweepRunner().Run(changed, store, new SweepRunOptions());

        Assert.Equal((0, 8), (summary.AlreadyFinished, summary.Ran));
        Assert.All(store.Read().Cases, c => Assert.Equal(5, c.Config["machine"]!["pageTable"]!["options"]!["levels"]!.GetValue<int>()));
    }

    [Fact]
    public void ACaseThatFailsIsStoredWithItsErrorAndTheOthersComplete()
    {
        File.WriteAllText(Path.Combine(_fx.Folder, "bad.lackey"), "I  0401ab70,3\nthis is not lackey\n");
        var sweep = _fx.Load($$"""
            {
              "base": "base.json",
              "matrix": {
                "workload:options:path": { "name": "trace", "values": { "tiny": "{{SweepFixture.TinyTrace}}", "bad": "bad.lackey" } },
                "machine:tlb:options:entries": [4, 8]
              }
            }
            """);
        using var store = ResultStore.Open(Db(), create: true);

        var summary = new SweepRunner().Run(sweep, store, new SweepRunOptions { Jobs = 2 });

        Assert.Equal((2, 2), (summary.Completed, summary.Failed));
        var cases = store.Read().Cases;
        foreach (var c in cases.Where(c => c.Id.Contains("trace=bad")))
        {
            Assert.Equal(RunResult.Failed, c.Status);
            Assert.Contains("bad.lackey:2: malformed Lackey record \"this is not lackey\"", c.Error);
        }
        Assert.All(cases.Where(c => c.Id.Contains("trace=tiny")), c => Assert.Equal((RunResult.Completed, 2020L), (c.Status, c.Metrics["accesses"])));

        // A resumed sweep leaves failed cases alone unless asked to retry them.
        Assert.Equal(0, new SweepRunner().Run(sweep, store, new SweepRunOptions()).Ran);
        Assert.Equal(2, new SweepRunner().Run(sweep, store, new SweepRunOptions { RetryFailed = true }).Ran);
    }

    [Fact]
    public void ShardsAreDisjointAndTogetherHoldEveryCase()
    {
        var sweep = _fx.Load(TlbSweep);
        var shards = Enumerable.Range(1, 3).Select(k => SweepRunner.Shard(sweep.Cases, k, 3)).ToList();

        Assert.Equal([3, 3, 2], shards.Select(s => s.Count));
        Assert.Equal(sweep.Cases.Select(c => c.Id).Order(), shards.SelectMany(s => s).Select(c => c.Id).Order());
        Assert.Equal(shards[0].Select(c => c.Id), SweepRunner.Shard(_fx.Load(TlbSweep).Cases, 1, 3).Select(c => c.Id));
        Assert.Throws<ArgumentOutOfRangeException>(() => SweepRunner.Shard(sweep.Cases, 4, 3));
    }

    [Fact]
    public void ADatabaseOfAnotherSweepIsRefused()
    {
        using var store = ResultStore.Open(Db(), create: true);
        new SweepRunner().Run(_fx.Load(TlbSweep), store, new SweepRunOptions());
        var other = _fx.Load("""{ "name": "other", "base": "base.json", "matrix": { "machine:tlb:options:entries": [8] } }""");

        var e = Assert.Throws<VmLab.Abstractions.Plugins.VmLabInputException>(() => new SweepRunner().Run(other, store, new SweepRunOptions()));
        Assert.Contains("holds results of sweep 'tlb', not 'other'", e.Message);
    }

    [Fact]
    public void AWorkerProgramThatCannotStartIsAnInputErrorAndNoCaseIsRecorded()
    {
        var sweep = _fx.Load(TlbSweep);
        using var store = ResultStore.Open(Db(), create: true);
        var options = new SweepRunOptions { Jobs = 2, Worker = new WorkerCommand(Path.Combine(_fx.Folder, "no-such-vmlab"), []) };

        var e = Assert.Throws<VmLab.Abstractions.Plugins.VmLabInputException>(() => new SweepRunner().Run(sweep, store, options));

        Assert.Contains("cannot run the sweep's cases in worker processes", e.Message);
        Assert.Contains("--isolation none", e.Message);
        Assert.Empty(store.Finished());
    }
}
