using Microsoft.Data.Sqlite;

namespace VmLab.Cli.Tests;

/// <summary>
/// A results database edited by hand, one field at a time: report, merge and resuming the sweep end with exit 0 (the
/// edit is harmless or taken as data) or exit 2 with a message naming the file, never with an unhandled exception.
/// </summary>
public sealed class TamperedDatabaseTests : IDisposable
{
    private readonly Scratch _s = new();

    public void Dispose() => _s.Dispose();

    private static readonly string[] CaseColumns =
        ["id", "ordinal", "parameters", "config", "config_hash", "seed", "plugins", "status", "error", "events", "elapsed_seconds", "started_utc", "finished_utc", "host"];

    private static readonly string[] SweepKeys =
        ["name", "file", "definition_hash", "baseline", "axes", "case_count", "description", "base", "overrides", "traces", "vmlab_versions"];

    /// <summary>Values a hand edit or a damaged file can leave: SQL NULL, empty, text where JSON or a number belongs, wrong JSON kinds, extremes.</summary>
    private static readonly string[] Values = ["NULL", "''", "'garbage'", "'{'", "'null'", "'[]'", "'{}'", "-1", "99999999999999999999", "'9223372036854775808'", "X'00ff'"];

    private static IEnumerable<(string Name, string Sql)> Edits()
    {
        foreach (var column in CaseColumns)
            foreach (var value in Values)
                yield return ($"cases.{column}={value}", $"UPDATE cases SET {column} = {value} WHERE ordinal = 0");
        foreach (var key in SweepKeys)
        {
            foreach (var value in Values)
                yield return ($"sweep.{key}={value}", $"UPDATE sweep SET value = {value} WHERE key = '{key}'");
            yield return ($"sweep.{key} deleted", $"DELETE FROM sweep WHERE key = '{key}'");
        }
        foreach (var value in Values)
        {
            yield return ($"metrics.value={value}", $"UPDATE metrics SET value = {value} WHERE rowid IN (SELECT rowid FROM metrics LIMIT 1)");
            yield return ($"metrics.case_id={value}", $"UPDATE metrics SET case_id = {value} WHERE name = 'accesses'");
        }
        yield return ("cases emptied", "DELETE FROM cases");
        yield return ("metrics emptied", "DELETE FROM metrics");
        yield return ("a duplicate ordinal", "UPDATE cases SET ordinal = 1");
        yield return ("application_id changed", "PRAGMA application_id = 1");
        yield return ("a newer schema", "PRAGMA user_version = 99");
    }

    [Fact]
    public void ReportMergeAndResumeNeverCrashOnASingleFieldEdit()
    {
        Assert.Equal(0, Cli.Run("run", Cli.Repo("configs", "quickstart.json"), "--timeout", "600").ExitCode); // warm up
        _s.File("base.json", $$"""
            { "machine": { "memory": { "frames": 4096 }, "tlb": { "plugin": "fully-associative" } },
              "workload": { "plugin": "lackey", "options": { "path": "{{Cli.Repo("configs", "traces", "tiny.lackey")}}" } } }
            """);
        string sweep = _s.File("s.json", """{ "name": "t", "base": "base.json", "matrix": { "machine:tlb:options:entries": [4, 8] } }""");
        string original = _s.PathOf("orig.db");
        Assert.Equal(0, Cli.Run("sweep", sweep, "--db", original, "--isolation", "none").ExitCode);

        var outcomes = new List<string>();
        int n = 0;
        foreach (var (name, sql) in Edits())
        {
            string db = _s.PathOf($"e{n}.db");
            n++;
            File.Copy(original, db);
            using (var c = new SqliteConnection($"Data Source={db};Pooling=False"))
            {
                c.Open();
                using var cmd = c.CreateCommand();
                cmd.CommandText = sql;
                try
                {
                    cmd.ExecuteNonQuery();
                }
                catch (SqliteException)
                {
                    continue; // a constraint refused the edit (NOT NULL, primary key): nothing to test
                }
            }
            foreach (var args in new[]
                     {
                         new[] { "report", db },
                         ["merge", db, "-o", _s.PathOf($"m{n}.db")],
                         ["sweep", sweep, "--db", db, "--isolation", "none"],
                     })
            {
                CliResult r;
                try
                {
                    r = Cli.Run(args);
                }
                catch (Exception e)
                {
                    Assert.Fail($"{name}: vmlab {args[0]} threw {e.GetType().Name}: {e.Message}");
                    return;
                }
                Assert.True(r.ExitCode is 0 or 1 or 2, $"{name}: vmlab {args[0]} exit {r.ExitCode}");
                Assert.DoesNotContain("   at ", r.Stderr);
                if (r.ExitCode == 2) Assert.Matches(@"(?m)^(error|vmlab): \S", r.Stderr); // a message, not silence
                outcomes.Add($"{name} {args[0]} {r.ExitCode}");
            }
        }
        Assert.True(outcomes.Count > 150, $"only {outcomes.Count} edits were tried");
    }
}
