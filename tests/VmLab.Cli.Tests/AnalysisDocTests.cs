using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Microsoft.Data.Sqlite;

namespace VmLab.Cli.Tests;

/// <summary>
/// docs/analysis.md's Python examples, run exactly as the page shows them with a python3 that has pandas (Debian's
/// python3-pandas, which ./test installs), on the results of the commands the page gives.
/// </summary>
public sealed partial class AnalysisDocTests : IDisposable
{
    private readonly Scratch _s = new();

    public void Dispose() => _s.Dispose();

    [GeneratedRegex(@"```python\n(.*?)```", RegexOptions.Singleline)]
    private static partial Regex PythonBlock();

    /// <summary>Debian's python3 first (python3-pandas installs there), then the first python3 on PATH; the first that imports pandas.</summary>
    private static string? PythonWithPandas()
    {
        var candidates = new List<string> { "/usr/bin/python3" };
        candidates.AddRange((Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries).Select(d => Path.Combine(d, "python3")));
        foreach (var python in candidates.Where(File.Exists).Distinct())
            if (Python(python, "import pandas", Path.GetTempPath()).Exit == 0) return python;
        return null;
    }

    private static (int Exit, string Out, string Err) Python(string python, string code, string folder)
    {
        var psi = new ProcessStartInfo(python) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = folder };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(code);
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        string output = p.StandardOutput.ReadToEnd();
        if (!p.WaitForExit(120_000))
        {
            p.Kill(entireProcessTree: true);
            return (-1, output, "timed out after 120 s");
        }
        return (p.ExitCode, output, err.Result);
    }

    [Fact]
    public void ThePandasExamplesOfTheAnalysisPageRunOnASweepsResults()
    {
        string python = PythonWithPandas()
            ?? throw new InvalidOperationException("no python3 with pandas found (tried /usr/bin/python3 and python3 on PATH): apt-get install -y python3-pandas, or run ./test, which installs it");
        var blocks = PythonBlock().Matches(File.ReadAllText(Cli.Repo("docs", "analysis.md"))).Select(m => m.Groups[1].Value).ToList();
        Assert.Equal(2, blocks.Count);

        // The page's two commands (in this process, so the cases share one decoding of the trace).
        Assert.Equal(0, Cli.Run("sweep", Cli.Repo("configs", "sweeps", "tlb-size-policy.json"), "--db", _s.PathOf("results.db"), "--isolation", "none").ExitCode);
        Assert.Equal(0, Cli.Run("report", _s.PathOf("results.db"), "--metrics", "all", "--csv-format", "long", "--csv", _s.PathOf("results-long.csv")).ExitCode);

        // The miss ratio of entries=8 under LRU, from the database, as pandas prints it (6 decimals).
        double expected;
        using (var c = new SqliteConnection($"Data Source={_s.PathOf("results.db")};Mode=ReadOnly;Pooling=False"))
        {
            c.Open();
            using var cmd = c.CreateCommand();
            cmd.CommandText = """
                SELECT CAST(m.value AS REAL) / a.value FROM metrics m JOIN metrics a ON a.case_id = m.case_id AND a.name = 'accesses'
                WHERE m.case_id = 'entries=8,policy=lru' AND m.name = 'tlb.misses'
                """;
            expected = (double)cmd.ExecuteScalar()!;
        }
        string lru8 = expected.ToString("0.000000", CultureInfo.InvariantCulture);

        var database = Python(python, blocks[0], _s.Dir);
        Assert.True(database.Exit == 0, $"the database example failed (exit {database.Exit}):\n{database.Err}");
        Assert.StartsWith("tlb-size-policy - Fully-associative TLB", database.Out);
        Assert.Matches(@"(?m)^trace traces/ls\.lackey\.gz \d+ bytes, sha256 [0-9a-f]{12}$", database.Out);
        Assert.Matches($@"(?m)^8\s+0\.\d{{6}}\s+{Regex.Escape(lru8)}$", database.Out); // columns fifo, lru
        Assert.Matches(@"(?m)^256\s+0\.\d{6}\s+0\.\d{6}$", database.Out);

        var csv = Python(python, blocks[1], _s.Dir);
        Assert.True(csv.Exit == 0, $"the long-CSV example failed (exit {csv.Exit}):\n{csv.Err}");
        Assert.Matches($@"(?m)^8\s+0\.\d{{6}}\s+{Regex.Escape(lru8)}$", csv.Out);
        Assert.Matches(@"(?m)^\s+64\s+1\.000000\s+1\.000000$", csv.Out); // the baseline, entries=64 under lru, against itself
    }
}
