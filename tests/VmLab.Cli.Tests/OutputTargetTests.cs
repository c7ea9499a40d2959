using System.Diagnostics;
using VmLab.Host.Results;

namespace VmLab.Cli.Tests;

/// <summary>
/// --json, --csv, --html and merge -o: regular files are replaced atomically, symbolic links are followed, devices and
/// FIFOs are written through and never replaced, and a target that cannot be written is exit 2 before the run.
/// </summary>
public sealed class OutputTargetTests : IDisposable
{
    private readonly Scratch _s = new();

    public void Dispose() => _s.Dispose();

    private static readonly string Tiny = Cli.Repo("configs", "traces", "tiny.lackey");

    private string Config() => _s.File("exp.json", $$"""
        { "name": "out", "machine": { "memory": { "frames": 4096 }, "tlb": { "plugin": "fully-associative" } },
          "workload": { "plugin": "lackey", "options": { "path": "{{Tiny}}" } } }
        """);

    private static void AssertBadInputBeforeTheRun(CliResult r, string message)
    {
        Assert.Equal(2, r.ExitCode);
        Assert.Contains(message, r.Stderr);
        Assert.DoesNotContain("   at ", r.Stderr);
        Assert.Equal("", r.Stdout); // no result table: the run never started
    }

    private string[] LeftoverFiles() => [.. Directory.GetFiles(_s.Dir).Select(Path.GetFileName).Where(n => n!.Contains(".tmp-", StringComparison.Ordinal))!];

    [Fact]
    public void CsvToDevFullFailsWithExitTwoAndLeavesTheDeviceInPlace()
    {
        var r = Cli.Run("run", Config(), "--csv", "/dev/full");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("error: /dev/full: cannot be written: No space left on device", r.Stderr);
        Assert.Equal(OutputTarget.Kind.Special, OutputTarget.KindOf("/dev/full"));
        Assert.Empty(Directory.GetFiles("/dev", ".full.tmp-*"));
    }

    [Fact]
    public void JsonAndCsvToDevNullAreWrittenThroughAndTheDeviceStays()
    {
        var r = Cli.Run("run", Config(), "--json", "/dev/null", "--csv", "/dev/null");
        Assert.Equal(0, r.ExitCode);
        Assert.Equal(OutputTarget.Kind.Special, OutputTarget.KindOf("/dev/null"));
        Assert.Equal(0, new FileInfo("/dev/null").Length);
    }

    [Fact]
    public async Task CsvIntoAFifoIsWrittenThroughItAndTheFifoStays()
    {
        string fifo = _s.PathOf("out.fifo");
        using (var mk = Process.Start("mkfifo", [fifo])) await mk.WaitForExitAsync();
        var reader = Task.Run(() => File.ReadAllText(fifo));
        var r = Cli.Run("run", Config(), "--csv", fifo);
        Assert.Equal(0, r.ExitCode);
        string text = await reader.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.StartsWith("name,seed,status,metric,value\nout,1,completed,accesses,", text);
        Assert.Equal(OutputTarget.Kind.Special, OutputTarget.KindOf(fifo));
    }

    [Fact]
    public void ASymbolicLinkIsFollowedTheFileItNamesIsReplacedAndTheLinkStays()
    {
        string real = _s.File("real.json", "old");
        string link = _s.PathOf("link.json");
        File.CreateSymbolicLink(link, real);
        string html = _s.PathOf("report-link.csv");
        File.CreateSymbolicLink(html, _s.PathOf("dangling.csv")); // a dangling link: its target is created

        var r = Cli.Run("run", Config(), "--json", link, "--csv", html);

        Assert.Equal(0, r.ExitCode);
        Assert.Equal(real, new FileInfo(link).LinkTarget);
        Assert.Contains("\"metrics\"", File.ReadAllText(real));
        Assert.NotNull(new FileInfo(html).LinkTarget);
        Assert.StartsWith("name,seed,status,metric,value", File.ReadAllText(_s.PathOf("dangling.csv")));
        Assert.Empty(LeftoverFiles());
    }

    [Fact]
    public void JsonNamingAFolderIsExitTwoBeforeTheRunWithNoTemporaryFileLeft()
    {
        string folder = Directory.CreateDirectory(_s.PathOf("results")).FullName;
        AssertBadInputBeforeTheRun(Cli.Run("run", Config(), "--json", folder), $"error: {folder}: is a directory; give the path of a file to write");
        Assert.Empty(Directory.GetFileSystemEntries(folder));
        Assert.Empty(LeftoverFiles());
    }

    [Fact]
    public void JsonIntoAFolderWhereNoFileCanBeCreatedIsExitTwoBeforeTheRun()
    {
        // As root every ordinary folder is writable; /proc/self refuses new files to everyone.
        AssertBadInputBeforeTheRun(Cli.Run("run", Config(), "--json", "/proc/self/out.json"), "error: /proc/self/out.json: cannot be written: cannot create a file in /proc/self");
        AssertBadInputBeforeTheRun(Cli.Run("run", Config(), "--json", _s.PathOf("absent/out.json")), $"cannot be written: directory {_s.PathOf("absent")} does not exist");
    }

    [Fact]
    public void CsvToProcVersionIsExitTwoBeforeTheRun()
    {
        string before = File.ReadAllText("/proc/version");
        AssertBadInputBeforeTheRun(Cli.Run("run", Config(), "--csv", "/proc/version"), "error: /proc/version: cannot be written");
        Assert.Equal(before, File.ReadAllText("/proc/version"));
    }

    [Fact]
    public void AnExistingRegularFileIsReplacedWhole()
    {
        string csv = _s.File("out.csv", new string('x', 100_000));
        var r = Cli.Run("run", Config(), "--csv", csv);
        Assert.Equal(0, r.ExitCode);
        Assert.StartsWith("name,seed,status,metric,value\n", File.ReadAllText(csv));
        Assert.DoesNotContain("xxx", File.ReadAllText(csv));
        Assert.Empty(LeftoverFiles());
    }

    [Fact]
    public void ReportAndMergeFollowLinksAndWriteThroughDevices()
    {
        string sweep = _s.File("s.json", """{ "name": "o", "base": "exp.json", "matrix": { "machine:tlb:options:entries": [4, 8] } }""");
        Config();
        var run = Cli.Run("sweep", sweep, "--db", _s.PathOf("a.db"), "--jobs", "1");
        Assert.True(run.ExitCode == 0, run.Stderr);

        string realHtml = _s.File("real.html", "old");
        File.CreateSymbolicLink(_s.PathOf("link.html"), realHtml);
        var report = Cli.Run("report", _s.PathOf("a.db"), "--html", _s.PathOf("link.html"), "--csv", "/dev/null", "--json", "/dev/null");
        Assert.Equal(0, report.ExitCode);
        Assert.NotNull(new FileInfo(_s.PathOf("link.html")).LinkTarget);
        Assert.StartsWith("<!DOCTYPE html>", File.ReadAllText(realHtml), StringComparison.OrdinalIgnoreCase);
        Assert.Equal(OutputTarget.Kind.Special, OutputTarget.KindOf("/dev/null"));

        string realDb = _s.File("real.db", "");
        File.CreateSymbolicLink(_s.PathOf("link.db"), realDb);
        var merge = Cli.Run("merge", _s.PathOf("a.db"), "-o", _s.PathOf("link.db"));
        Assert.True(merge.ExitCode == 0, merge.Stderr);
        Assert.NotNull(new FileInfo(_s.PathOf("link.db")).LinkTarget);
        using (var store = ResultStore.Open(realDb, create: false)) Assert.Equal(2, store.Read().Cases.Count);

        var toNull = Cli.Run("merge", _s.PathOf("a.db"), "-o", "/dev/null");
        Assert.True(toNull.ExitCode == 0, toNull.Stderr);
        Assert.Equal(OutputTarget.Kind.Special, OutputTarget.KindOf("/dev/null"));
        var toFull = Cli.Run("merge", _s.PathOf("a.db"), "-o", "/dev/full");
        Assert.Equal(2, toFull.ExitCode);
        Assert.Contains("/dev/full: cannot be written: No space left on device", toFull.Stderr);
        Assert.Equal(OutputTarget.Kind.Special, OutputTarget.KindOf("/dev/full"));
        Assert.Empty(LeftoverFiles());
    }
}
