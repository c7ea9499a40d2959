using VmLab.Traces;
using System.Text.Json.Nodes;
using VmLab.Cli;
using VmLab.Host.Config;
using VmLab.Host.Plugins;
using VmLab.Host.Running;

namespace VmLab.Cli.Tests;

public sealed class TraceCommandTests
{
    private static string RepoRoot
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "VmLab.sln"))) dir = dir.Parent;
            return dir!.FullName;
        }
    }

    private static string Configs(string relative) => Path.Combine(RepoRoot, "configs", relative);

    private static string TempDir() => Directory.CreateTempSubdirectory("vmlab-cli-test-").FullName;

    private static (int Exit, string Out, string Err) Vmlab(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int exit = new VmLabCommand(stdout, stderr).Run(args);
        return (exit, stdout.ToString(), stderr.ToString());
    }

    private static IReadOnlyDictionary<string, long> Metrics(string config, params string[] overrides)
    {
        var experiment = new ExperimentLoader(PluginCatalog.CreateDefault()).Load(config, overrides);
        var result = new ExperimentRunner().Run(experiment);
        Assert.Equal(RunResult.Completed, result.Status);
        return result.Metrics;
    }

    [Fact]
    public void LsTraceConvertedToVmtGivesTheSameMetricsAsTheLackeyOriginal()
    {
        string vmt = Path.Combine(TempDir(), "ls.vmt");
        var (exit, stdout, stderr) = Vmlab("trace", "convert", Configs("traces/ls.lackey.gz"), vmt);
        Assert.Equal(0, exit);
        Assert.Equal("", stderr);
        Assert.Contains("1,016,853 records, 1,019,737 accesses", stdout); // README: 1,016,853 records, 2,884 of them M (two accesses)

        var lackey = Metrics(Configs("quickstart.json"));
        var native = Metrics(Configs("quickstart.json"), "workload:plugin=vmt", $"workload:options:path={vmt}");
        Assert.Equal(1_020_499, lackey["accesses"]);
        Assert.Equal(lackey, native);
    }

    [Fact]
    public void VmtConvertedBackToLackeyIsTheOriginalText()
    {
        string dir = TempDir();
        Assert.Equal(0, Vmlab("trace", "convert", Configs("traces/tiny.lackey.zst"), Path.Combine(dir, "t.vmt.gz")).Exit);
        Assert.Equal(0, Vmlab("trace", "convert", Path.Combine(dir, "t.vmt.gz"), Path.Combine(dir, "t.lackey")).Exit);
        Assert.Equal(File.ReadAllBytes(Configs("traces/tiny.lackey")), File.ReadAllBytes(Path.Combine(dir, "t.lackey")));
    }

    [Theory]
    [InlineData("workloads/lackey-xz.json")]
    [InlineData("workloads/lackey-zst.json")]
    [InlineData("workloads/vmt.json")]
    [InlineData("workloads/din.json")]
    [InlineData("workloads/champsim.json")]
    [InlineData("workloads/trace.json")]
    public void EveryFormatOfTheTinyTraceGivesTheMetricsOfThePlainLackeyText(string config)
    {
        // tiny.din was converted from tiny.lackey (sizes become 1 byte; no access of tiny.lackey straddles a page), and
        // tiny.champsim.xz groups the same accesses by instruction in the same order: the translations are the same.
        var plain = Metrics(Configs("quickstart.json"), $"workload:options:path={Configs("traces/tiny.lackey")}");
        var other = Metrics(Configs(config));
        Assert.Equal(2020, plain["accesses"]);
        Assert.Equal(plain, other);
    }

    [Theory]
    [InlineData("traces/tiny.lackey.xz", "auto")]
    [InlineData("traces/tiny.vmt", "vmt")]
    [InlineData("traces/tiny.din", "DIN")]
    public void TheTraceWorkloadReadsEveryRegisteredFormatByContentOrByName(string trace, string format)
    {
        var plain = Metrics(Configs("quickstart.json"), $"workload:options:path={Configs("traces/tiny.lackey")}");
        var any = Metrics(Configs("quickstart.json"), "workload:plugin=trace", $"workload:options:path={Configs(trace)}", $"workload:options:format={format}");
        Assert.Equal(plain, any);
    }

    [Fact]
    public void TheTraceWorkloadRefusesAnUnknownFormatNamingTheKeyAndTheFormats()
    {
        var (exit, _, stderr) = Vmlab("run", Configs("quickstart.json"), "--set", "workload:plugin=trace", "--set", "workload:options:format=lackee");
        Assert.Equal(2, exit);
        Assert.Contains("workload:options:format: unknown trace format 'lackee'; formats: champsim, cloudsuite, din, lackey, vmt (or auto", stderr);
    }

    [Fact]
    public async Task TraceInfoAndRunReadAFifo()
    {
        string dir = TempDir();
        byte[] text = File.ReadAllBytes(Configs("traces/tiny.lackey"));
        string fifo = Path.Combine(dir, "trace.fifo");
        using (var mkfifo = System.Diagnostics.Process.Start("mkfifo", fifo)) await mkfifo.WaitForExitAsync();

        var writer = Task.Run(() => File.WriteAllBytes(fifo, text));
        var (exit, stdout, stderr) = Vmlab("trace", "info", fifo);
        await writer;
        Assert.True(exit == 0, stderr);
        Assert.Contains($"{fifo}: lackey trace", stdout);
        Assert.Matches(@"records\s+2,000\b", stdout);

        writer = Task.Run(() => File.WriteAllBytes(fifo, text));
        var fromPipe = Metrics(Configs("quickstart.json"), $"workload:options:path={fifo}");
        await writer;
        Assert.Equal(Metrics(Configs("quickstart.json"), $"workload:options:path={Configs("traces/tiny.lackey")}"), fromPipe);
    }

    [Fact]
    public void PluginsListsTheTraceFormatsAsAKind()
    {
        var (exit, stdout, _) = Vmlab("plugins", "--kind", "trace-format");
        Assert.Equal(0, exit);
        Assert.StartsWith("trace-format:", stdout);
        foreach (var name in new[] { "champsim", "cloudsuite", "din", "lackey", "vmt" }) Assert.Contains($"  {name} ", stdout);
        Assert.DoesNotContain("fully-associative", stdout);
    }

    [Theory]
    [InlineData("synthetic-sequential")]
    [InlineData("synthetic-stride")]
    [InlineData("synthetic-uniform")]
    [InlineData("synthetic-zipf")]
    [InlineData("synthetic-hot-cold")]
    [InlineData("synthetic-phases")]
    [InlineData("synthetic-pointer-chase")]
    [InlineData("synthetic-multiprocess")]
    public void SyntheticConfigRunsThroughTheCliAndIsDeterministic(string name)
    {
        string config = Configs($"workloads/{name}.json");
        var (exit, stdout, _) = Vmlab("run", config, "--json", "-");
        Assert.Equal(0, exit);
        var metrics = JsonNode.Parse(stdout)!["metrics"]!;
        Assert.Equal(1_000_000, (long)metrics["accesses"]!); // 1,000,000 accesses, none straddling a page
        var again = Metrics(config);
        Assert.Equal(again.Count, metrics.AsObject().Count);
        foreach (var (key, value) in again) Assert.Equal(value, (long)metrics[key]!);
    }

    [Fact]
    public void MultiprocessMixSwitchesAddressSpacesOncePerQuantum()
    {
        var m = Metrics(Configs("workloads/synthetic-multiprocess.json"));
        Assert.Equal(1_000_000 / 50_000 - 1, m["context_switches"]);
    }

    [Fact]
    public void SplitWithStartAndLimitAddsUpToTheWholeTrace()
    {
        var whole = Metrics(Configs("workloads/vmt.json"), "workload:options:limit=0");
        var first = Metrics(Configs("workloads/vmt.json"), "workload:options:limit=1000");
        var second = Metrics(Configs("workloads/vmt-second-half.json"));
        Assert.Equal(whole["accesses"], first["accesses"] + second["accesses"]);
    }

    [Fact]
    public void InfoReportsKindsFootprintAndAReuseChart()
    {
        var (exit, stdout, stderr) = Vmlab("trace", "info", Configs("traces/tiny.lackey"));
        Assert.Equal(0, exit);
        Assert.Equal("", stderr);
        // README: 2,000 records: 1,512 I, 298 L, 170 S, 20 M; 11 distinct pages.
        Assert.Matches(@"records\s+2,000", stdout);
        Assert.Matches(@"read\s+318 ", stdout);
        Assert.Matches(@"write\s+190 ", stdout);
        Assert.Matches(@"fetch\s+1,512 ", stdout);
        Assert.Matches(@"footprint\s+11 pages", stdout);
        Assert.Matches(@"first touch \| #+\s+11 ", stdout);
    }

    [Fact]
    public void RecordRunsTheCommandUnderValgrindIntoAVmtTrace()
    {
        string output = Path.Combine(TempDir(), "true.vmt");
        var (exit, stdout, stderr) = Vmlab("trace", "record", "--out", output, "--", "/bin/true");
        Assert.True(exit == 0, stderr);
        Assert.Contains("recorded '/bin/true'", stdout);
        var (infoExit, info, _) = Vmlab("trace", "info", output);
        Assert.Equal(0, infoExit);
        Assert.Matches(@"fetch\s+[1-9][0-9,]+ ", info);
    }

    [Fact]
    public void RecordKeepsALogThatArrivesAfterValgrindHasExited()
    {
        // A stand-in valgrind that exits at once and sends the log from a child a moment later:
        // the exit is seen before the connection, the order a loaded machine can produce.
        string dir = TempDir();
        string fake = Path.Combine(dir, "valgrind");
        File.WriteAllText(fake, $$"""
            #!/bin/bash
            for arg in "$@"; do case "$arg" in --log-file=*) log="${arg#--log-file=}";; esac; done
            ( sleep 0.5; cat '{{Configs("traces/tiny.lackey")}}' > "$log" ) >/dev/null 2>&1 &
            exit 0

            """);
        if (OperatingSystem.IsWindows()) throw new PlatformNotSupportedException("trace record runs valgrind, which is Unix-only");
        File.SetUnixFileMode(fake, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        string output = Path.Combine(dir, "late.vmt");

        var (exit, stdout, stderr) = Vmlab("trace", "record", "--valgrind", fake, "--out", output, "--", "/bin/true");

        Assert.True(exit == 0, stderr);
        Assert.Contains("2,000 records", stdout);
        var (_, info, _) = Vmlab("trace", "info", output);
        Assert.Matches(@"fetch\s+1,512 ", info);
    }

    [Fact]
    public void RecordWhenValgrindNeverConnectsIsExit2AndLeavesNoOutput()
    {
        string dir = TempDir();
        string fake = Path.Combine(dir, "valgrind");
        File.WriteAllText(fake, "#!/bin/sh\nexit 3\n");
        if (OperatingSystem.IsWindows()) throw new PlatformNotSupportedException("trace record runs valgrind, which is Unix-only");
        File.SetUnixFileMode(fake, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        string output = Path.Combine(dir, "never.vmt");

        var (exit, _, stderr) = Vmlab("trace", "record", "--valgrind", fake, "--out", output, "--", "/bin/true");

        Assert.Equal(2, exit);
        Assert.Contains("valgrind exited with code 3 before sending its log", stderr);
        Assert.DoesNotContain("   at ", stderr);
        Assert.False(File.Exists(output));
        Assert.Empty(Directory.GetFiles(dir, "*.vmt*"));
    }

    [Fact]
    public void RecordWithoutValgrindIsExit2WithAClearMessage()
    {
        string output = Path.Combine(TempDir(), "x.vmt");
        var (exit, _, stderr) = Vmlab("trace", "record", "--valgrind", "/nonexistent/valgrind", "--out", output, "--", "/bin/true");
        Assert.Equal(2, exit);
        Assert.Contains("install valgrind", stderr);
        Assert.False(File.Exists(output));
    }

    [Fact]
    public void TruncatedTraceIsExit2NamingTheOffsetAndLeavesNoOutput()
    {
        string dir = TempDir();
        byte[] gz = File.ReadAllBytes(Configs("traces/ls.lackey.gz"));
        string cut = Path.Combine(dir, "cut.lackey.gz");
        File.WriteAllBytes(cut, gz[..(gz.Length / 2)]);
        string output = Path.Combine(dir, "cut.vmt");
        var (exit, _, stderr) = Vmlab("trace", "convert", cut, output);
        Assert.Equal(2, exit);
        Assert.Contains($"error: {cut} at compressed byte ", stderr);
        Assert.DoesNotContain("   at ", stderr); // no stack trace
        Assert.Equal([cut], Directory.GetFiles(dir));
    }

    [Fact]
    public void MalformedTraceLineThroughRunIsExit2WithFileAndLine()
    {
        string dir = TempDir();
        string trace = Path.Combine(dir, "bad.lackey");
        File.WriteAllText(trace, "I  0401ab70,3\n S 1fff000538,8\n Q 1234,8\n");
        var (exit, _, stderr) = Vmlab("run", Configs("quickstart.json"), "--set", $"workload:options:path={trace}");
        Assert.Equal(2, exit);
        Assert.Contains($"error: {trace}:3: malformed Lackey record", stderr);
    }

    [Fact]
    public void WritingXzIsRefusedWithTheAlternatives()
    {
        string output = Path.Combine(TempDir(), "t.vmt.xz");
        var (exit, _, stderr) = Vmlab("trace", "convert", Configs("traces/tiny.lackey"), output);
        Assert.Equal(2, exit);
        Assert.Contains("writing xz is not supported", stderr);
        Assert.False(File.Exists(output));
    }

    [Fact]
    public void UnknownOutputFormatAsksForAKnownExtensionOrTo()
    {
        var (exit, _, stderr) = Vmlab("trace", "convert", Configs("traces/tiny.lackey"), Path.Combine(TempDir(), "t.bin"));
        Assert.Equal(2, exit);
        Assert.Contains("end it in an extension of a writable format (.din, .xdin, .lackey, .vmt;", stderr);
        Assert.Contains("or give --to", stderr);
    }

    [Fact]
    public void ConvertingToChampSimIsRefusedAsReadOnly()
    {
        var (exit, _, stderr) = Vmlab("trace", "convert", Configs("traces/tiny.lackey"), Path.Combine(TempDir(), "t.champsim"));
        Assert.Equal(2, exit);
        Assert.Contains("does not write them", stderr);
    }

    [Fact]
    public void BadSyntheticOptionIsExit2NamingTheKeyPath()
    {
        var (exit, _, stderr) = Vmlab("check", Configs("workloads/synthetic-pointer-chase.json"), "--set", "workload:options:nodeSize=48");
        Assert.Equal(2, exit);
        Assert.Contains("workload:options:nodeSize", stderr);
        Assert.Contains("not a power of two", stderr);
    }

    [Fact]
    public void DuplicatePidInAMixIsExit2()
    {
        var (exit, _, stderr) = Vmlab("check", Configs("workloads/synthetic-multiprocess.json"), "--set", "workload:options:processes:1:pid=1");
        Assert.Equal(2, exit);
        Assert.Contains("pid 1 is listed twice", stderr);
    }

    [Fact]
    public void InfoOfAMultiProcessVmtListsEachProcessAndKernelAccesses()
    {
        string path = Path.Combine(TempDir(), "mix.vmt");
        using (var file = File.Create(path))
        {
            var writer = new VmLab.Traces.VmtWriter(file, 4096, 3);
            writer.Write([
                VmLab.Abstractions.MemoryAccess.Read(0x1000, 8, pid: 1),
                VmLab.Abstractions.MemoryAccess.Read(0x1000, 8, pid: 2),   // same address, other process: another page
                VmLab.Abstractions.MemoryAccess.Write(0x1ffc, 8, pid: 2),  // straddles into 0x2000
                new VmLab.Abstractions.MemoryAccess(0xffff800000001000, 3, 4, VmLab.Abstractions.AccessKind.Read, VmLab.Abstractions.AccessMode.Kernel),
            ]);
            writer.Finish();
        }
        var (exit, stdout, _) = Vmlab("trace", "info", path);
        Assert.Equal(0, exit);
        Assert.Matches(@"records\s+4\n", stdout.Replace("\r", ""));
        Assert.Matches(@"kernel mode\s+1 ", stdout);
        Assert.Matches(@"blocks\s+2\n", stdout.Replace("\r", ""));
        Assert.Matches(@"page touches\s+5\n", stdout.Replace("\r", ""));
        Assert.Matches(@"footprint\s+4 pages", stdout); // (1,0x1) (2,0x1) (2,0x2) (3,kernel page)
        Assert.Matches(@"processes\s+3\n", stdout.Replace("\r", ""));
        Assert.Matches(@"pid 2\s+2 ", stdout);
    }

    [Theory]
    [InlineData("traces/tiny.champsim.xz", "champsim", "1,512 records, 2,020 accesses")]
    [InlineData("traces/tiny.din", "din", "2,020 records, 2,020 accesses")]
    public void ConvertTellsTheInputFormatByContent(string input, string format, string counts)
    {
        string output = Path.Combine(TempDir(), "out.vmt.zst");
        var (exit, stdout, stderr) = Vmlab("trace", "convert", Configs(input), output);
        Assert.True(exit == 0, stderr);
        Assert.Contains($"({format}) -> {output} (vmt): {counts}", stdout);
        var (infoExit, info, _) = Vmlab("trace", "info", output);
        Assert.Equal(0, infoExit);
        Assert.Matches(@"accesses\s+2,020", info);
    }
}
