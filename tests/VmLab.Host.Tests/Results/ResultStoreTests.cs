using Microsoft.Data.Sqlite;
using VmLab.Abstractions.Plugins;
using VmLab.Host.Results;
using VmLab.Host.Sweeps;
using VmLab.Host.Tests.Sweeps;

namespace VmLab.Host.Tests.Results;

public sealed class ResultStoreTests : IDisposable
{
    private const string Sweep = """
        {
          "name": "tlb",
          "base": "base.json",
          "matrix": { "machine:tlb:options:entries": [1, 2, 4, 8, 16] }
        }
        """;

    private readonly SweepFixture _fx = new();

    public void Dispose() => _fx.Dispose();

    private string P(string name) => Path.Combine(_fx.Folder, name);

    /// <summary>What must agree between two results of the same case (timing and host may differ).</summary>
    public static object Essence(CaseResult c) => new
    {
        c.Id, c.Ordinal, Parameters = c.Parameters.ToJsonString(), Config = c.Config.ToJsonString(), c.ConfigHash, c.Seed,
        Plugins = string.Join(";", c.Plugins), Metrics = string.Join(";", c.Metrics), c.Status, c.Error,
    };

    [Fact]
    public void MergingTheShardsGivesTheUnshardedResults()
    {
        var sweep = _fx.Load(Sweep);
        using (var all = ResultStore.Open(P("all.db"), create: true)) new SweepRunner().Run(sweep, all, new SweepRunOptions());
        for (int k = 1; k <= 3; k++)
        {
            using var shard = ResultStore.Open(P($"shard{k}.db"), create: true);
            new SweepRunner().Run(sweep, shard, new SweepRunOptions { ShardIndex = k, ShardCount = 3 });
        }

        var merged = ResultStore.Merge([P("shard3.db"), P("shard1.db"), P("shard2.db")], P("merged.db"));

        using var unsharded = ResultStore.Open(P("all.db"), create: false);
        var expected = unsharded.Read();
        Assert.Equal(expected.Sweep, merged.Sweep with { Axes = expected.Sweep.Axes, Context = expected.Sweep.Context });
        Assert.Equal(expected.Sweep.Context.ToJson().ToJsonString(), merged.Sweep.Context.ToJson().ToJsonString());
        Assert.Equal(expected.Sweep.Axes.ToJsonString(), merged.Sweep.Axes.ToJsonString());
        Assert.Equal(expected.Cases.Select(Essence), merged.Cases.Select(Essence));
        Assert.False(File.Exists(P("merged.db-wal")) && new FileInfo(P("merged.db-wal")).Length > 0);
    }

    private static string JournalMode(string path)
    {
        using var c = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Mode = SqliteOpenMode.ReadOnly, Pooling = false }.ToString());
        c.Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "PRAGMA journal_mode";
        return (string)cmd.ExecuteScalar()!;
    }

    private static void Sql(string path, string sql)
    {
        using var c = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false }.ToString());
        c.Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = sql;
        cmd.ExecuteNonQuery();
    }

    [Fact]
    public void TheSweepRecordsItsDescriptionBaseOverridesTracesAndVmLabVersion()
    {
        var sweep = new SweepLoader(new VmLab.Host.Config.ExperimentLoader(VmLab.Host.Plugins.PluginCatalog.CreateDefault()))
        {
            BaseOverrides = ["machine:memory:frames=8192"],
        }.Load(_fx.Write("described.json", """
            { "name": "tlb", "description": "entries on the tiny trace", "base": "base.json", "matrix": { "machine:tlb:options:entries": [1, 2] } }
            """));
        using (var db = ResultStore.Open(P("c.db"), create: true)) new SweepRunner().Run(sweep, db, new SweepRunOptions { Jobs = 1 });

        using var store = ResultStore.OpenReadOnly(P("c.db"));
        var context = store.Read().Sweep.Context;

        Assert.Equal("entries on the tiny trace", context.Description);
        Assert.Equal("base.json", context.Base!.File);
        Assert.Equal("base", context.Base.Name);
        Assert.True(context.Base.Resolved);
        Assert.Equal(8192, context.Base.Config["machine"]!["memory"]!["frames"]!.GetValue<int>()); // the override applied
        Assert.Equal(64, context.Base.Config["machine"]!["tlb"]!["options"]!["entries"]!.GetValue<int>()); // the base's, not an axis value
        Assert.False(context.Base.Config["machine"]!.AsObject().ContainsKey("pluginPaths"));
        Assert.Equal(["machine:memory:frames=8192"], context.Overrides);
        var trace = Assert.Single(context.Traces!);
        byte[] bytes = File.ReadAllBytes(SweepFixture.TinyTrace);
        Assert.Equal(("lackey", SweepFixture.TinyTrace, (long)bytes.Length), (trace.Workload, trace.Path, trace.Bytes));
        Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(bytes)), trace.Sha256);
        Assert.Equal([SweepContext.VmLabVersion], context.VmLabVersions);
        Assert.Empty(context.Missing());
    }

    [Fact]
    public void ASchemaOneDatabaseWithoutContextStillReadsAndAResumeAddsIt()
    {
        var sweep = _fx.Load(Sweep);
        using (var db = ResultStore.Open(P("old.db"), create: true)) new SweepRunner().Run(sweep, db, new SweepRunOptions());
        // What a VmLab before schema 2 wrote: the same tables, no context keys, user_version 1.
        Sql(P("old.db"), "DELETE FROM sweep WHERE key IN ('description', 'base', 'overrides', 'traces', 'vmlab_versions'); PRAGMA user_version = 1;");

        ResultSet old;
        using (var store = ResultStore.OpenReadOnly(P("old.db"))) old = store.Read();

        Assert.Equal(1, old.Sweep.SchemaVersion);
        Assert.Equal(5, old.Cases.Count);
        Assert.Equal(["description", "base experiment", "--set overrides", "traces", "VmLab version"], old.Sweep.Context.Missing());
        Assert.Contains("(schema 1: written by a VmLab that did not record them", ComparisonReport.Build(old).ToText());

        using (var db = ResultStore.Open(P("old.db"), create: false)) new SweepRunner().Run(sweep, db, new SweepRunOptions());
        using (var store = ResultStore.OpenReadOnly(P("old.db")))
        {
            var resumed = store.Read().Sweep;
            Assert.Equal(2, resumed.SchemaVersion);
            Assert.Empty(resumed.Context.Missing());
        }
    }

    [Fact]
    public void EveryVmLabVersionThatRanCasesStaysRecordedThroughAResumeAndAMerge()
    {
        var sweep = _fx.Load(Sweep);
        using (var db = ResultStore.Open(P("v.db"), create: true)) new SweepRunner().Run(sweep, db, new SweepRunOptions { ShardIndex = 1, ShardCount = 2 });
        Sql(P("v.db"), "UPDATE sweep SET value = '[\"0.0.9\"]' WHERE key = 'vmlab_versions'"); // as if an older VmLab had run this shard
        using (var db = ResultStore.Open(P("w.db"), create: true)) new SweepRunner().Run(sweep, db, new SweepRunOptions { ShardIndex = 2, ShardCount = 2 });

        var merged = ResultStore.Merge([P("v.db"), P("w.db")], P("vw.db"));
        Assert.Equal(["0.0.9", SweepContext.VmLabVersion], merged.Sweep.Context.VmLabVersions);

        using (var db = ResultStore.Open(P("v.db"), create: false)) new SweepRunner().Run(sweep, db, new SweepRunOptions());
        using var store = ResultStore.OpenReadOnly(P("v.db"));
        Assert.Equal(["0.0.9", SweepContext.VmLabVersion], store.Read().Sweep.Context.VmLabVersions);
    }

    [Fact]
    public void ReadingADatabaseChangesNothingInItAndWorksOnAReadOnlyFile()
    {
        using (var db = ResultStore.Open(P("r.db"), create: true)) new SweepRunner().Run(_fx.Load(Sweep), db, new SweepRunOptions());
        var merged = ResultStore.Merge([P("r.db")], P("ro.db")); // a single-file (DELETE-journal) copy
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(P("ro.db"), UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        byte[] before = File.ReadAllBytes(P("ro.db"));

        using (var store = ResultStore.OpenReadOnly(P("ro.db")))
            Assert.Equal(merged.Cases.Select(Essence), store.Read().Cases.Select(Essence));

        Assert.Equal(before, File.ReadAllBytes(P("ro.db")));
        Assert.Equal("delete", JournalMode(P("ro.db"))); // opening to write would have switched it to WAL
        Assert.False(File.Exists(P("ro.db-wal")));
        Assert.Throws<VmLabInputException>(() => ResultStore.OpenReadOnly(P("absent.db")));
    }

    [Fact]
    public void TheMergedDatabaseIsOneFileInDeleteJournalMode()
    {
        using (var db = ResultStore.Open(P("w.db"), create: true)) new SweepRunner().Run(_fx.Load(Sweep), db, new SweepRunOptions());
        Assert.Equal("wal", JournalMode(P("w.db")));
        ResultStore.Merge([P("w.db")], P("m1.db"));
        Assert.Equal("delete", JournalMode(P("m1.db")));
        Assert.Equal("wal", JournalMode(P("w.db"))); // the input is read, not converted
    }

    [Fact]
    public void MergePrefersACompletedResultToAFailedOne()
    {
        var sweep = _fx.Load(Sweep);
        using (var a = ResultStore.Open(P("a.db"), create: true)) new SweepRunner().Run(sweep, a, new SweepRunOptions());
        using (var b = ResultStore.Open(P("b.db"), create: true))
        {
            b.BeginSweep(sweep);
            using var a = ResultStore.Open(P("a.db"), create: false);
            var good = a.Read().Cases[0];
            b.Save(good with { Status = "failed", Error = "boom", Metrics = new Dictionary<string, long>() });
        }

        var merged = ResultStore.Merge([P("b.db"), P("a.db")], P("m.db"));

        Assert.Equal(5, merged.Cases.Count);
        Assert.All(merged.Cases, c => Assert.Equal("completed", c.Status));
    }

    [Fact]
    public void MergeRefusesDatabasesOfDifferentSweepsAndLeavesNoOutput()
    {
        using (var a = ResultStore.Open(P("a.db"), create: true)) new SweepRunner().Run(_fx.Load(Sweep), a, new SweepRunOptions());
        var other = _fx.Load("""{ "name": "other", "base": "base.json", "matrix": { "machine:tlb:options:entries": [8] } }""");
        using (var b = ResultStore.Open(P("b.db"), create: true)) new SweepRunner().Run(other, b, new SweepRunOptions());

        var e = Assert.Throws<VmLabInputException>(() => ResultStore.Merge([P("a.db"), P("b.db")], P("m.db")));

        Assert.Equal(P("b.db"), e.Where);
        Assert.Contains("holds sweep 'other'", e.Message);
        Assert.False(File.Exists(P("m.db")));
    }

    [Fact]
    public void AFileThatIsNotAResultsDatabaseIsAnInputErrorNamingIt()
    {
        File.WriteAllText(P("text.db"), "this is text, not SQLite, and long enough to have a header of one hundred bytes or so..........");
        var e = Assert.Throws<VmLabInputException>(() => ResultStore.Open(P("text.db"), create: false));
        Assert.Equal(P("text.db"), e.Where);
        Assert.Contains("not a VmLab results database", e.Message);

        using (var other = new SqliteConnection($"Data Source={P("other.db")};Pooling=False"))
        {
            other.Open();
            using var cmd = other.CreateCommand();
            cmd.CommandText = "CREATE TABLE t (x)";
            cmd.ExecuteNonQuery();
        }
        var e2 = Assert.Throws<VmLabInputException>(() => ResultStore.Open(P("other.db"), create: false));
        Assert.Contains("written by something else", e2.Message);

        var e3 = Assert.Throws<VmLabInputException>(() => ResultStore.Open(P("missing.db"), create: false));
        Assert.Contains("not found", e3.Message);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(99)]
    public void AFileTooShortToBeADatabaseIsRefusedAndLeftAsItWas(int length)
    {
        byte[] bytes = [.. Enumerable.Repeat((byte)'x', length)];
        File.WriteAllBytes(P("short.db"), bytes);

        var e = Assert.Throws<VmLabInputException>(() => ResultStore.Open(P("short.db"), create: true));

        Assert.Equal(P("short.db"), e.Where);
        Assert.Contains("not a VmLab results database", e.Message);
        Assert.Equal(bytes, File.ReadAllBytes(P("short.db")));
        Assert.False(File.Exists(P("short.db-wal")));

        // Through a symbolic link, the file it names is measured, not the link.
        File.CreateSymbolicLink(P("link.db"), P("short.db"));
        Assert.Contains("not a VmLab results database", Assert.Throws<VmLabInputException>(() => ResultStore.Open(P("link.db"), create: true)).Message);
        using (var store = ResultStore.Open(P("real.db"), create: true)) { }
        File.CreateSymbolicLink(P("real-link.db"), P("real.db"));
        using (var viaLink = ResultStore.Open(P("real-link.db"), create: false)) { }
    }

    [Fact]
    public void ADanglingSymbolicLinkIsRefusedByNameAndLeftAsItIs()
    {
        File.CreateSymbolicLink(P("dangling.db"), P("missing/results.db"));

        var e = Assert.Throws<VmLabInputException>(() => ResultStore.Open(P("dangling.db"), create: true));

        Assert.Equal(P("dangling.db"), e.Where);
        Assert.Contains("is a symbolic link to", e.Message);
        Assert.Contains("which does not exist", e.Message);
        Assert.Equal(P("missing/results.db"), new FileInfo(P("dangling.db")).LinkTarget);
        Assert.False(Directory.Exists(P("missing")));
        // Reading it (a resumed sweep, vmlab report) says the same.
        Assert.Contains("which does not exist", Assert.Throws<VmLabInputException>(() => ResultStore.Open(P("dangling.db"), create: false)).Message);
        Assert.Contains("which does not exist", Assert.Throws<VmLabInputException>(() => ResultStore.OpenReadOnly(P("dangling.db"))).Message);
    }

    [Fact]
    public void TwoDifferentSweepsStartedTogetherOnOneDatabaseNeverBothClaimIt()
    {
        var a = _fx.Load(Sweep);
        var b = _fx.Load(Sweep.Replace("\"tlb\"", "\"other\"", StringComparison.Ordinal));
        for (int round = 0; round < 30; round++)
        {
            string db = P($"race{round}.db");
            using var barrier = new Barrier(2);
            var claimed = new string?[2];
            var unexpected = new Exception?[2];
            var threads = new[] { a, b }.Select((sweep, i) => new Thread(() =>
            {
                // An exception escaping a thread would end the test process; it is kept and fails this test instead.
                try
                {
                    using var store = ResultStore.Open(db, create: true);
                    barrier.SignalAndWait();
                    try
                    {
                        store.BeginSweep(sweep);
                        claimed[i] = sweep.Name;
                    }
                    catch (VmLabInputException e) when (e.Message.Contains("holds results of sweep", StringComparison.Ordinal))
                    {
                    }
                }
                catch (Exception e)
                {
                    unexpected[i] = e;
                    barrier.RemoveParticipant();
                }
            })).ToList();
            threads.ForEach(t => t.Start());
            threads.ForEach(t => t.Join());
            Assert.True(unexpected.All(e => e is null), $"round {round}: {string.Join("; ", unexpected.Where(e => e is not null).Select(e => e!.GetType().Name + ": " + e.Message))}");

            var winners = claimed.Where(n => n is not null).ToList();
            Assert.Single(winners);
            using var check = ResultStore.Open(db, create: false);
            Assert.Equal(winners[0], check.Read().Sweep.Name);
        }
    }

    [Fact]
    public void EachFinishedCaseIsVisibleToAnotherConnectionAsSoonAsItIsSaved()
    {
        var sweep = _fx.Load(Sweep);
        using var store = ResultStore.Open(P("live.db"), create: true);
        var counts = new List<long>();
        var progress = new SyncProgress(_ =>
        {
            using var reader = new SqliteConnection($"Data Source={P("live.db")};Mode=ReadOnly;Pooling=False");
            reader.Open();
            using var cmd = reader.CreateCommand();
            cmd.CommandText = "SELECT count(*) FROM cases";
            counts.Add((long)cmd.ExecuteScalar()!);
        });

        new SweepRunner().Run(sweep, store, new SweepRunOptions { Jobs = 1 }, progress);

        Assert.Equal([0L, 1, 2, 3, 4, 5], counts);
    }

    private sealed class SyncProgress(Action<SweepProgress> action) : IProgress<SweepProgress>
    {
        public void Report(SweepProgress value) => action(value);
    }
}
