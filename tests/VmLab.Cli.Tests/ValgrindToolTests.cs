using System.Diagnostics;

namespace VmLab.Cli.Tests;

/// <summary>
/// The vmlab valgrind tool: built from the embedded source against the installed valgrind, it prints stock Lackey's
/// records line for line; where it cannot be built, <c>trace record</c> falls back to stock Lackey and says so.
/// </summary>
public sealed class ValgrindToolTests
{
    private static string TempDir() => Directory.CreateTempSubdirectory("vmlab-tool-test-").FullName;

    private static (int Exit, string Out, string Err) Vmlab(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int exit = new VmLabCommand(stdout, stderr).Run(args);
        return (exit, stdout.ToString(), stderr.ToString());
    }

    /// <summary>
    /// No libc and no dynamic loader (whose records vary from run to run with the random bytes the kernel puts on the
    /// stack): stores, loads, read-modify-writes, a locked add (a compare-and-swap in valgrind's IR), a 16-byte copy,
    /// calls and branches, then exit(0) by system call.
    /// </summary>
    private const string Program = """
        static long data[512];
        static volatile long sink;
        __attribute__((noinline)) static long mix(long a, long b) { return a * 31 + (b ^ (a >> 3)); }
        void _start(void) {
            long s = 0;
            for (int i = 0; i < 512; i++) data[i] = i * 3;
            for (int i = 0; i < 512; i++) s = mix(s, data[(i * 7) % 512]);
            for (int i = 0; i < 64; i++) data[i] += s;
            __atomic_fetch_add(&data[7], 1, __ATOMIC_SEQ_CST);
            __builtin_memcpy(&data[100], &data[200], 16);
            sink = s + data[7] + data[100];
            __asm__ volatile("mov $60, %%eax\n\txor %%edi, %%edi\n\tsyscall" ::: "memory");
            __builtin_unreachable();
        }
        """;

    private static string Valgrind() =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(d => Path.Combine(d, "valgrind")).First(File.Exists);

    private static string Run(string file, IEnumerable<string> args, string? valgrindLib = null)
    {
        var psi = new ProcessStartInfo(file) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        if (valgrindLib is not null) psi.Environment["VALGRIND_LIB"] = valgrindLib;
        using var p = Process.Start(psi)!;
        var output = p.StandardOutput.ReadToEndAsync();
        string errors = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, $"{file} {string.Join(' ', args)} exited {p.ExitCode}: {errors}");
        return output.Result;
    }

    private static string[] Records(string log) => File.ReadLines(log).Where(l => !l.StartsWith("==", StringComparison.Ordinal)).ToArray();

    [ValgrindFact]
    public void TheToolPrintsStockLackeysRecordsRecordForRecord()
    {
        string dir = TempDir();
        File.WriteAllText(Path.Combine(dir, "p.c"), Program);
        string program = Path.Combine(dir, "p");
        Run("gcc", ["-O1", "-static", "-nostdlib", "-fno-stack-protector", "-fno-pie", "-no-pie", "-o", program, Path.Combine(dir, "p.c")]);
        string valgrind = Valgrind();
        var tool = ValgrindTool.Prepare(valgrind, Path.Combine(dir, "cache"), out string why);
        Assert.True(tool is not null, why);

        // Valgrind's own command line lies on the client's stack, so both runs get one of the same length (the tool
        // name is one letter shorter: --error-limit, which neither tool uses, takes up the difference), and the same
        // VALGRIND_LIB, which holds links to the stock tools beside ours.
        string stock = Path.Combine(dir, "stock.log"), ours = Path.Combine(dir, "ourss.log");
        Run(valgrind, ["--tool=lackey", "--trace-mem=yes", "--basic-counts=no", "--error-limit=no", $"--log-file={stock}", program], tool!.LibDirectory);
        Run(valgrind, [$"--tool={ValgrindTool.Name}", "--trace-mem=yes", "--basic-counts=no", "--error-limit=yes", $"--log-file={ours}", program], tool.LibDirectory);

        string[] expected = Records(stock), actual = Records(ours);
        Assert.True(expected.Length > 3000, $"stock Lackey printed only {expected.Length} records");
        foreach (var kind in (string[])["I  ", " L ", " S ", " M "])
            Assert.Contains(expected, l => l.StartsWith(kind, StringComparison.Ordinal));
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(expected[i] == actual[i], $"record {i + 1}: stock Lackey '{expected[i]}', vmlab '{actual[i]}'");
        Assert.Contains(File.ReadLines(ours), l => l.StartsWith("==", StringComparison.Ordinal) && l.Contains("vmlab-lackey", StringComparison.Ordinal));
    }

    /// <summary>A stand-in valgrind outside any valgrind installation: it keeps its arguments and writes a fixed log.</summary>
    private static (string Fake, string ArgsFile) FakeValgrind(string dir)
    {
        if (OperatingSystem.IsWindows()) throw new PlatformNotSupportedException("trace record runs valgrind, which is Unix-only");
        string bin = Directory.CreateDirectory(Path.Combine(dir, "bin")).FullName;
        string fake = Path.Combine(bin, "valgrind"), argsFile = Path.Combine(dir, "args");
        File.WriteAllText(fake, $$"""
            #!/bin/bash
            printf '%s\n' "$@" > '{{argsFile}}'
            for arg in "$@"; do case "$arg" in --log-file=*) log="${arg#--log-file=}";; esac; done
            cat '{{Cli.Repo("configs", "traces/tiny.lackey")}}' > "$log"

            """);
        File.SetUnixFileMode(fake, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return (fake, argsFile);
    }

    [Fact]
    public void WhereTheToolCannotBeBuiltTheRecordingUsesStockLackeyWithAOneLineNote()
    {
        string dir = TempDir();
        var (fake, argsFile) = FakeValgrind(dir);
        string output = Path.Combine(dir, "t.lackey");

        var (exit, stdout, stderr) = Vmlab("trace", "record", "--valgrind", fake, "--out", output, "--", "/bin/true");

        Assert.True(exit == 0, stderr);
        Assert.Contains("2,000 records", stdout);
        string note = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries), l => l.StartsWith("note:", StringComparison.Ordinal));
        Assert.Contains("using stock Lackey (slower)", note);
        Assert.Contains("lackey-amd64-linux was not found", note);
        Assert.Contains("--tool=lackey", File.ReadAllLines(argsFile));
    }

    [Fact]
    public void ToolVmlabWhereItCannotBeBuiltIsExit2NamingTheOptionAndRunsNothing()
    {
        string dir = TempDir();
        var (fake, argsFile) = FakeValgrind(dir);
        string output = Path.Combine(dir, "t.vmt");

        var (exit, _, stderr) = Vmlab("trace", "record", "--valgrind", fake, "--tool", "vmlab", "--out", output, "--", "/bin/true");

        Assert.Equal(2, exit);
        Assert.Contains("--tool: the vmlab valgrind tool cannot be used", stderr);
        Assert.Contains("give --tool lackey", stderr);
        Assert.DoesNotContain("   at ", stderr);
        Assert.False(File.Exists(argsFile));
        Assert.Empty(Directory.GetFiles(dir, "t.vmt*"));
    }

    [Theory]
    [InlineData("lackey", "--tool=lackey")]
    [InlineData("callgrind", null)]
    public void ToolLackeyRunsStockLackeyAndAnyOtherNameIsExit2(string choice, string? expectedArg)
    {
        string dir = TempDir();
        var (fake, argsFile) = FakeValgrind(dir);
        string output = Path.Combine(dir, "t.lackey");

        var (exit, _, stderr) = Vmlab("trace", "record", "--valgrind", fake, "--tool", choice, "--out", output, "--", "/bin/true");

        if (expectedArg is not null)
        {
            Assert.True(exit == 0, stderr);
            Assert.DoesNotContain("note:", stderr);
            Assert.Contains(expectedArg, File.ReadAllLines(argsFile));
        }
        else
        {
            Assert.Equal(2, exit);
            Assert.Contains($"--tool expects vmlab or lackey, got '{choice}'", stderr);
            Assert.False(File.Exists(argsFile));
            Assert.False(File.Exists(output));
        }
    }
}
