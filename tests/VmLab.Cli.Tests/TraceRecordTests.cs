using System.Diagnostics;
using System.Globalization;
using VmLab.Traces;

namespace VmLab.Cli.Tests;

/// <summary>
/// A test that records a small C program under the real valgrind: it runs where gcc and valgrind are on PATH and is
/// skipped elsewhere, saying which is missing (xUnit 2 decides skips at discovery, so the reason is set here).
/// </summary>
public sealed class ValgrindFactAttribute : FactAttribute
{
    public ValgrindFactAttribute()
    {
        if (!OperatingSystem.IsLinux()) Skip = "trace record runs valgrind, which these tests use on Linux only";
        else if ((TraceRecordTests.Missing("valgrind") ?? TraceRecordTests.Missing("gcc")) is { } missing) Skip = missing;
    }
}

/// <summary>
/// <c>vmlab trace record</c>: the --skip/--limit window, the maps captured beside the trace, bad window values. The
/// exact-window tests use a stand-in valgrind that writes a fixed Lackey log into the log pipe it is given; the others
/// record a tiny C program under the real one (a few seconds each).
/// </summary>
public sealed class TraceRecordTests
{
    private static string Configs(string relative) => Cli.Repo("configs", relative);

    private static string TempDir() => Directory.CreateTempSubdirectory("vmlab-record-test-").FullName;

    private static (int Exit, string Out, string Err) Vmlab(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int exit = new VmLabCommand(stdout, stderr).Run(args);
        return (exit, stdout.ToString(), stderr.ToString());
    }

    internal static string? Missing(string tool)
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
            if (File.Exists(Path.Combine(dir, tool))) return null;
        return $"{tool} is not on PATH (install valgrind, gcc and libc6-dev to run the recording tests)";
    }

    /// <summary>A stand-in valgrind that writes <paramref name="log"/> into the file of its --log-file argument (the pipe) and exits 0.</summary>
    private static string FakeValgrind(string dir, string log)
    {
        if (OperatingSystem.IsWindows()) throw new PlatformNotSupportedException("trace record runs valgrind, which is Unix-only");
        string fake = Path.Combine(dir, "valgrind");
        File.WriteAllText(fake, $$"""
            #!/bin/bash
            for arg in "$@"; do case "$arg" in --log-file=*) log="${arg#--log-file=}";; esac; done
            cat '{{log}}' > "$log"

            """);
        File.SetUnixFileMode(fake, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return fake;
    }

    [Theory]
    [InlineData(0, 2000)]
    [InlineData(300, 500)]
    [InlineData(1999, 1)]
    [InlineData(1500, 10_000)] // the log ends inside the window: the rest of it
    public void SkipAndLimitKeepExactlyThatWindowOfTheLog(int skip, int limit)
    {
        string dir = TempDir();
        string fake = FakeValgrind(dir, Configs("traces/tiny.lackey"));
        string output = Path.Combine(dir, "window.lackey");

        var (exit, stdout, stderr) = Vmlab("trace", "record", "--valgrind", fake, "--out", output,
            "--skip", skip.ToString(CultureInfo.InvariantCulture), "--limit", limit.ToString(CultureInfo.InvariantCulture), "--", "/bin/true");

        Assert.True(exit == 0, stderr);
        string[] log = File.ReadAllLines(Configs("traces/tiny.lackey")); // 2,000 records, no valgrind lines
        string[] expected = log.Skip(skip).Take(limit).ToArray();
        Assert.Equal(expected, File.ReadAllLines(output));
        Assert.Contains($"{expected.Length:N0} records", stdout);
        Assert.Contains($"(records {skip + 1:N0}-{skip + expected.Length:N0} of the log", stdout);
        Assert.DoesNotContain("recording ", stderr); // stderr is not a terminal here: no progress line
    }

    [Fact]
    public void ASkipPastTheEndOfTheLogGivesAnEmptyTraceAndSaysSo()
    {
        string dir = TempDir();
        string fake = FakeValgrind(dir, Configs("traces/tiny.lackey"));
        string output = Path.Combine(dir, "empty.lackey");

        var (exit, stdout, stderr) = Vmlab("trace", "record", "--valgrind", fake, "--out", output, "--skip", "5000", "--", "/bin/true");

        Assert.True(exit == 0, stderr);
        Assert.Equal("", File.ReadAllText(output));
        Assert.Contains("the window is empty: the log has 2,000 records", stdout);
        Assert.Contains("warning: the command's log has only 2,000 records, fewer than --skip 5,000", stderr);
    }

    [Theory]
    [InlineData("--skip", "-1", "--skip expects a whole number of records >= 0")]
    [InlineData("--skip", "1e3", "--skip expects a whole number of records >= 0")]
    [InlineData("--limit", "0", "--limit expects a whole number of records >= 1")]
    [InlineData("--limit", "lots", "--limit expects a whole number of records >= 1")]
    [InlineData("--limit", "99999999999999999999", "--limit expects a whole number of records >= 1")]
    public void ABadWindowIsExit2NamingTheOptionAndRunsNothing(string option, string value, string message)
    {
        string dir = TempDir();
        string marker = Path.Combine(dir, "ran");
        string fake = Path.Combine(dir, "valgrind");
        File.WriteAllText(fake, $"#!/bin/sh\ntouch '{marker}'\n");
        if (OperatingSystem.IsWindows()) throw new PlatformNotSupportedException("trace record runs valgrind, which is Unix-only");
        File.SetUnixFileMode(fake, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        string output = Path.Combine(dir, "x.vmt");

        var (exit, _, stderr) = Vmlab("trace", "record", "--valgrind", fake, "--out", output, option, value, "--", "/bin/true");

        Assert.Equal(2, exit);
        Assert.Contains(message, stderr);
        Assert.Contains($"got '{value}'", stderr);
        Assert.DoesNotContain("   at ", stderr);
        Assert.False(File.Exists(marker)); // valgrind never started
        Assert.Empty(Directory.GetFiles(dir, "x.vmt*"));
    }

    // ---- under the real valgrind -------------------------------------------------------------------------------

    /// <summary>
    /// Writes the address of its 64 KiB array to argv[1], stores to each of its 8,192 longs, then sleeps argv[2]
    /// seconds (0 when absent) — long enough to show that a recording stopped it after its window.
    /// </summary>
    private const string Program = """
        #include <stdio.h>
        #include <stdlib.h>
        #include <unistd.h>
        static volatile long data[8192];
        int main(int argc, char **argv) {
            FILE *f = fopen(argv[1], "w");
            if (!f) return 1;
            fprintf(f, "%lx\n", (unsigned long)&data[0]);
            fclose(f);
            for (int i = 0; i < 8192; i++) data[i] = i;
            if (argc > 2) sleep((unsigned)atoi(argv[2]));
            return 0;
        }
        """;

    private static string Compile(string dir)
    {
        File.WriteAllText(Path.Combine(dir, "stores.c"), Program);
        string binary = Path.Combine(dir, "stores");
        var psi = new ProcessStartInfo("gcc", ["-O1", "-o", binary, Path.Combine(dir, "stores.c")]) { RedirectStandardError = true };
        using var gcc = Process.Start(psi)!;
        string errors = gcc.StandardError.ReadToEnd();
        gcc.WaitForExit();
        Assert.True(gcc.ExitCode == 0, errors);
        return binary;
    }

    private static ulong HexLine(string path) => ulong.Parse(File.ReadAllText(path).Trim(), NumberStyles.HexNumber, CultureInfo.InvariantCulture);

    [ValgrindFact]
    public void TheCapturedMapsHoldTheArrayTheProgramStoresTo()
    {
        string dir = TempDir();
        string program = Compile(dir);
        string address = Path.Combine(dir, "address");
        string output = Path.Combine(dir, "stores.lackey");

        var (exit, stdout, stderr) = Vmlab("trace", "record", "--out", output, "--", program, address);

        Assert.True(exit == 0, stderr);
        Assert.Contains($"maps -> {output}.maps", stdout);
        ulong start = HexLine(address), end = start + 8192 * 8;
        // Every store of the loop is in the trace, as Lackey prints it ...
        int stores = File.ReadLines(output).Count(line => line.StartsWith(" S ", StringComparison.Ordinal)
            && ulong.Parse(line.AsSpan(3, line.IndexOf(',') - 3), NumberStyles.HexNumber, CultureInfo.InvariantCulture) is var a && a >= start && a < end);
        Assert.Equal(8192, stores);
        // ... and the maps beside it cover that array with writable mappings of the process (its start is in the
        // program's file-backed .data page, the rest in the anonymous .bss after it).
        var maps = ProcMaps.Parse(output + ".maps");
        for (ulong page = start & ~0xFFFUL; page < end; page += 4096)
        {
            var holding = maps.Where(e => e.Start <= page && page < e.End).ToList();
            Assert.True(holding.Count == 1, $"page 0x{page:x} is in {holding.Count} mappings");
            Assert.True(holding[0].Protection.HasFlag(VmLab.Abstractions.Protection.Write), $"{holding[0]}");
        }
        Assert.Contains(maps, e => e.Name == program && e.Start <= start && start < e.End);
    }

    [ValgrindFact]
    public void ALimitStopsTheCommandOnceTheWindowIsWrittenAndTheSkipPassesOverTheStartExactly()
    {
        string dir = TempDir();
        string program = Compile(dir);
        string address = Path.Combine(dir, "address");
        string first = Path.Combine(dir, "first.lackey");
        string window = Path.Combine(dir, "window.lackey");

        var clock = Stopwatch.StartNew();
        var (exit, stdout, stderr) = Vmlab("trace", "record", "--out", first, "--limit", "1000", "--", program, address, "120");
        var (exit2, stdout2, stderr2) = Vmlab("trace", "record", "--out", window, "--skip", "400", "--limit", "600", "--", program, address, "120");

        // Both runs were stopped after their window, far before the program's 120 s sleep would end.
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(100), $"took {clock.Elapsed}");
        Assert.True(exit == 0, stderr);
        Assert.True(exit2 == 0, stderr2);
        Assert.Contains("1,000 records", stdout);
        Assert.Contains("the command was stopped after them", stdout);
        Assert.Contains("600 records", stdout2);
        // The dynamic loader's first thousand records are the same in every run: the window is records 401-1,000 of the first.
        string[] full = File.ReadAllLines(first);
        Assert.Equal(1000, full.Length);
        Assert.Equal(full[400..], File.ReadAllLines(window));
        Assert.True(File.Exists(window + ".maps"));
    }
}
