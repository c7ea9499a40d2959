using System.IO.Compression;
using System.Text;

namespace VmLab.Cli.Tests;

/// <summary>Every bad input: exit code 2, a message naming where and what, no stack trace, nothing written.</summary>
public sealed class BadInputTests : IDisposable
{
    private readonly Scratch _s = new();

    public void Dispose() => _s.Dispose();

    private string Config(string workload = "\"plugin\": \"lackey\", \"options\": { \"path\": \"t.lackey\" }", string machine = "") =>
        _s.File("exp.json", $$"""
            {
              "machine": { {{machine}} },
              "workload": { {{workload}} }
            }
            """);

    private CliResult RunBad(params string[] args)
    {
        string json = _s.PathOf("out.json");
        var r = Cli.Run([.. args, "--json", json]);
        Assert.Equal(2, r.ExitCode);
        Assert.DoesNotContain("   at ", r.Stderr);
        Assert.DoesNotContain("Exception", r.Stderr);
        Assert.False(File.Exists(json), "nothing is written on bad input");
        return r;
    }

    [Fact]
    public void MissingConfigFile()
    {
        var r = RunBad("run", _s.PathOf("absent.json"));
        Assert.Contains("absent.json: config file not found", r.Stderr);
    }

    [Fact]
    public void MalformedJsonNamesLineAndColumn()
    {
        string path = _s.File("bad.json", "{\n  \"seed\": 1\n  \"name\": \"x\"\n}");
        var r = RunBad("run", path);
        Assert.Contains($"{path}:3:3: malformed JSON", r.Stderr);
    }

    [Fact]
    public void UnknownKeyNamesPathAndSuggests()
    {
        _s.File("t.lackey", " L 10,4\n");
        var r = RunBad("run", Config(machine: "\"cpu\": 2"));
        Assert.Contains("exp.json:2:23: machine:cpu: unknown key 'cpu'; did you mean 'cpus'?", r.Stderr);
    }

    [Fact]
    public void UnknownPlugin()
    {
        _s.File("t.lackey", " L 10,4\n");
        var r = RunBad("run", Config(workload: "\"plugin\": \"lackie\""));
        Assert.Contains("workload:plugin: unknown workload plugin 'lackie'; did you mean 'lackey'?", r.Stderr);
        Assert.Contains("a plugin built outside VmLab is found in the folders named by pluginPaths (config) or VMLAB_PLUGIN_PATH", r.Stderr);
    }

    [Fact]
    public void OptionOfTheWrongType()
    {
        _s.File("t.lackey", " L 10,4\n");
        var r = RunBad("run", Config(), "--set", "workload:options:pid=first");
        Assert.Contains("--set workload:options:pid: workload:options:pid: expected an integer, got \"first\"", r.Stderr);
    }

    [Fact]
    public void OptionOutOfRange()
    {
        _s.File("t.lackey", " L 10,4\n");
        var r = RunBad("run", Config(), "--set", "machine:memory:frames=3");
        Assert.Contains("machine:memory:frames: 3 is out of range; allowed: 16 to", r.Stderr);
    }

    [Fact]
    public void MissingTraceFile()
    {
        var r = RunBad("run", Config());
        Assert.Contains("workload:options:path: file not found:", r.Stderr);
    }

    [Fact]
    public void MalformedTraceLineNamesFileLineAndText()
    {
        string trace = _s.File("t.lackey", " L 10,4\n S 20;4\n");
        var r = RunBad("run", Config());
        Assert.Contains($"{trace}:2: malformed Lackey record \" S 20;4\"", r.Stderr);
    }

    [Fact]
    public void AMalformedLineDeepInATraceIsTheSameErrorWithOrWithoutTheDecoderThread()
    {
        // Past the decoder's ring (4 x 65,536 accesses), so the decoder thread had to wait for the simulation.
        var text = new StringBuilder();
        for (int i = 0; i < 300_000; i++) text.Append(" L ").Append((0x10000 + i * 8).ToString("x8")).Append(",8\n");
        text.Append(" S 20;4\n L 10,4\n");
        string trace = _s.File("t.lackey", text.ToString());
        var inline = RunBad("run", Config(), "--set", "workload:options:decodeThreads=0");
        var ahead = RunBad("run", Config(), "--set", "workload:options:decodeThreads=1");
        Assert.Contains($"{trace}:300001: malformed Lackey record \" S 20;4\"", inline.Stderr);
        Assert.Equal(inline.Stderr, ahead.Stderr);
    }

    private static byte[] GzippedLackey()
    {
        var text = new StringBuilder();
        var rng = new Random(2);
        for (int i = 0; i < 50000; i++) text.Append(" L ").Append(rng.NextInt64(1L << 40).ToString("x")).Append(",8\n");
        var ms = new MemoryStream();
        using (var z = new GZipStream(ms, CompressionLevel.Fastest, leaveOpen: true)) z.Write(Encoding.ASCII.GetBytes(text.ToString()));
        return ms.ToArray();
    }

    [Fact]
    public void TruncatedGzipTraceSaysTheCompressedDataIsDamaged()
    {
        var gz = GzippedLackey();
        string trace = _s.Bytes("t.lackey", gz[..(gz.Length * 2 / 3)]);
        var r = RunBad("run", Config());
        Assert.Contains($"{trace} at compressed byte ", r.Stderr);
        Assert.Contains("the gzip-compressed data is damaged", r.Stderr);
    }

    [Fact]
    public void CorruptGzipTraceSaysTheCompressedDataIsDamaged()
    {
        var gz = GzippedLackey();
        for (int i = gz.Length / 2; i < gz.Length / 2 + 16; i++) gz[i] ^= 0xA5;
        string trace = _s.Bytes("t.lackey", gz);
        var r = RunBad("run", Config());
        Assert.Contains($"{trace} at compressed byte ", r.Stderr);
        Assert.Contains("the gzip-compressed data is damaged", r.Stderr);
        var info = Cli.Run("trace", "info", trace);
        Assert.Equal(2, info.ExitCode);
        Assert.Contains($"{trace} at compressed byte ", info.Stderr);
        Assert.Contains("the gzip-compressed data is damaged", info.Stderr);
    }

    [Fact]
    public void AVmtTraceGivenToTheLackeyWorkloadSaysWhatItIsAndWhichWorkloadReadsIt()
    {
        string trace = _s.PathOf("t.lackey");
        File.Copy(Path.Combine(Cli.RepoRoot, "configs", "traces", "tiny.vmt"), trace);
        var r = RunBad("run", Config());
        Assert.Contains($"{trace}: this is a vmt trace, not lackey", r.Stderr);
        Assert.Contains("The 'vmt' workload reads it: { \"plugin\": \"vmt\"", r.Stderr);
    }

    [Fact]
    public void AScalarWhereAComponentBelongsIsExitTwoNamingTheKeyInRunCheckAndSweep()
    {
        _s.File("t.lackey", " L 10,4\n");
        string config = Config(machine: "\"tlb\": { \"plugin\": \"fully-associative\" }");
        var run = RunBad("run", config, "--set", "machine:tlb=garbage");
        Assert.Contains("--set machine:tlb: machine:tlb: expected an object ({ ... }), got the value \"garbage\"", run.Stderr);

        var check = Cli.Run("check", config, "--set", "machine:tlb=garbage");
        Assert.Equal(2, check.ExitCode);
        Assert.Contains("machine:tlb: expected an object", check.Stderr);

        const string text = """{ "base": "exp.json", "matrix": { "machine:tlb": ["lru", "fifo"] } }""";
        string sweep = _s.File("s.json", text);
        foreach (var command in new[] { "check", "sweep" })
        {
            var r = command == "check" ? Cli.Run(command, sweep) : Cli.Run(command, sweep, "--db", _s.PathOf("s.db"));
            Assert.Equal(2, r.ExitCode);
            Assert.Contains($"s.json:1:{text.IndexOf("\"lru\"", StringComparison.Ordinal) + 1}: machine:tlb: expected an object ({{ ... }}), got the value \"lru\"", r.Stderr);
            Assert.False(File.Exists(_s.PathOf("s.db")), "nothing runs");
        }
    }

    [Fact]
    public void BadSetSyntax()
    {
        _s.File("t.lackey", " L 10,4\n");
        var r = RunBad("run", Config(), "--set", "machine:cpus");
        Assert.Contains("--set machine:cpus: expected key=value", r.Stderr);
    }

    [Fact]
    public void UnknownCommandAndOption()
    {
        Assert.Equal(2, Cli.Run("rnu").ExitCode);
        Assert.Contains("did you mean 'run'?", Cli.Run("rnu").Stderr);
        var r = Cli.Run("run", "x.json", "--jsno", "-");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("unknown option '--jsno'", r.Stderr);
    }

    [Fact]
    public void TheShippedCommandExitsTwoWithoutAStackTrace()
    {
        string path = _s.File("bad.json", "{ \"seed\": [ }");
        var r = Cli.RunProcess("run", path);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("malformed JSON", r.Stderr);
        Assert.DoesNotContain("   at ", r.Stderr);
        Assert.Equal("", r.Stdout);
    }

    [Fact]
    public void HighWatermarkBelowLowWatermarkNamesTheKey()
    {
        _s.File("t.lackey", " L 1000,1\n");
        var r = RunBad("run", Config(machine: "\"memory\": { \"lowWatermark\": 8, \"highWatermark\": 4 }"));
        Assert.Contains("machine:memory:highWatermark: is 4, below machine:memory:lowWatermark (8)", r.Stderr);
    }

    [Fact]
    public void OptWithAWorkloadThatCannotBeReadTwiceIsAConfigErrorAtTheReplacementKey()
    {
        _s.File("s.vms", "process p\np mmap a 1p rw private\np write a 1\n");
        var r = RunBad("run", Config(workload: "\"plugin\": \"scenario\", \"options\": { \"path\": \"s.vms\" }",
            machine: "\"replacement\": { \"plugin\": \"opt\" }"));
        Assert.Contains("machine:replacement:plugin: opt (Belady) needs the whole access stream in advance", r.Stderr);
        Assert.Contains("workload:plugin cannot be read twice", r.Stderr);
    }
}
