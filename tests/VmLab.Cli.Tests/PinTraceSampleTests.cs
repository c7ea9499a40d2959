using System.Diagnostics;
using System.Text;
using System.Text.Json;
using VmLab.Abstractions;
using VmLab.Abstractions.Plugins;
using VmLab.Abstractions.Traces;
using VmLab.Host.Plugins;

namespace VmLab.Cli.Tests;

/// <summary>
/// Builds samples/PinTrace once, on its own, against VmLab.Abstractions only (without building anything it references:
/// no second build of Abstractions runs beside the other test projects').
/// </summary>
public sealed class PinTraceSampleBuild
{
    public PinTraceSampleBuild()
    {
        Project = Cli.Repo("samples", "PinTrace");
        Output = Cli.BuildSample("PinTrace");
        var catalog = new PluginCatalog(new McMasterPluginAssemblyLoader());
        catalog.AddDirectory(Output);
        Assert.Empty(catalog.Errors);
        Format = catalog.TraceFormats.Find("pinatrace") ?? throw new InvalidOperationException("pinatrace not registered");
    }

    public string Project { get; }

    /// <summary>The build output: the plugin folder named in VMLAB_PLUGIN_PATH.</summary>
    public string Output { get; }

    /// <summary>The format as the host sees it: loaded from the folder, in its own load context.</summary>
    public ITraceFormat Format { get; }
}

public sealed class PinTraceSampleTests(PinTraceSampleBuild sample) : IClassFixture<PinTraceSampleBuild>
{
    private static string TempDir() => Directory.CreateTempSubdirectory("vmlab-pinatrace-").FullName;

    private CliResult Vmlab(params string[] args) =>
        Cli.RunProcessWithEnvironment(new() { ["VMLAB_PLUGIN_PATH"] = sample.Output }, args);

    private List<MemoryAccess> Decode(string text, int pid = 0, int accessSize = 1)
    {
        using var reader = sample.Format.OpenReader(new MemoryStream(Encoding.ASCII.GetBytes(text)),
            new TraceReaderOptions { Path = "t.pinatrace", Pid = pid, AccessSize = accessSize });
        var all = new List<MemoryAccess>();
        var batch = new MemoryAccess[3];
        int n;
        while ((n = reader.Read(batch)) > 0) all.AddRange(batch.AsSpan(0, n));
        return all;
    }

    /// <summary>The data accesses of a Lackey trace with the ip of each (the last I before it), read by string splitting.</summary>
    private static List<(ulong Ip, char Kind, ulong Address)> LackeyDataAccesses(string path)
    {
        var list = new List<(ulong, char, ulong)>();
        ulong ip = 0;
        foreach (var raw in File.ReadLines(path))
        {
            var parts = raw.Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length != 2) continue;
            ulong address = Convert.ToUInt64(parts[1].Split(',')[0], 16);
            switch (parts[0])
            {
                case "I": ip = address; break;
                case "L": list.Add((ip, 'R', address)); break;
                case "S": list.Add((ip, 'W', address)); break;
                case "M": list.Add((ip, 'R', address)); list.Add((ip, 'W', address)); break;
            }
        }
        return list;
    }

    [Fact]
    public void EachLineIsOneAccessOfTheGivenSizeAndProcess()
    {
        var accesses = Decode("0x4005d0: R 0x7ffd1f2a8c18\n\n0x4005d4: W 0x601040\r\n0x7f3a: R (nil)\n#eof\n", pid: 7, accessSize: 8);
        Assert.Equal(
        [
            new MemoryAccess(0x7ffd1f2a8c18, 7, 8, AccessKind.Read, AccessMode.User),
            new MemoryAccess(0x601040, 7, 8, AccessKind.Write, AccessMode.User),
            new MemoryAccess(0, 7, 8, AccessKind.Read, AccessMode.User),
        ], accesses);
    }

    [Theory]
    [InlineData("0x4005d0: R 0x10\n0x4005d0: X 0x10\n", 2, "malformed pinatrace record \"0x4005d0: X 0x10\"")]
    [InlineData("0x4005d0 R 0x10\n", 1, "malformed pinatrace record")]
    [InlineData("0x4005d0: R 0x10\n#eof\n0x4005d0: W 0x10\n", 3, "a record after #eof")]
    public void BadLinesAreErrorsNamingFileAndLine(string text, int line, string message)
    {
        var e = Assert.Throws<VmLabInputException>(() => Decode(text));
        Assert.Equal($"t.pinatrace:{line}", e.Where);
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void TheFormatIsToldByContentAndByPinsDefaultFileName()
    {
        var head = Encoding.ASCII.GetBytes("0x4005d0: R 0x7ffd1f2a8c18\n0x4005d4: W 0x601040\n");
        Assert.Equal(TraceMatch.Likely, sample.Format.Sniff(head, complete: true, "anything"));
        Assert.Equal(TraceMatch.No, sample.Format.Sniff(File.ReadAllBytes(Cli.Repo("configs", "traces", "tiny.lackey")).AsSpan(0, 4096), complete: false, "x"));
        Assert.Contains("pinatrace.out", sample.Format.Extensions);
    }

    [Fact]
    public void DecodingAllocatesNothingPerAccess()
    {
        var text = new StringBuilder();
        for (int i = 0; i < 200_000; i++)
            text.Append("0x40").Append((i % 4096).ToString("x")).Append(i % 3 == 0 ? ": W 0x" : ": R 0x").Append((0x7ffd0000 + i * 8 % 65536).ToString("x")).Append('\n');
        byte[] bytes = Encoding.ASCII.GetBytes(text.ToString());
        long fewest = long.MaxValue;
        for (int run = 0; run < 3; run++)
        {
            using var reader = sample.Format.OpenReader(new MemoryStream(bytes), new TraceReaderOptions { Path = "t" });
            var batch = new MemoryAccess[4096];
            long accesses = reader.Read(batch);
            long before = GC.GetAllocatedBytesForCurrentThread();
            int n;
            while ((n = reader.Read(batch)) > 0) accesses += n;
            fewest = Math.Min(fewest, GC.GetAllocatedBytesForCurrentThread() - before);
            Assert.Equal(200_000, accesses);
        }
        Assert.InRange(fewest, 0, 16 * 1024); // one object per access would be over 4 MB
    }

    [Fact]
    public void TraceConvertWritesWhatPinWouldAndTheCommittedSampleIsThatOutput()
    {
        string dir = TempDir();
        string lackey = Cli.Repo("configs", "traces", "tiny.lackey");
        string output = Path.Combine(dir, "tiny.pinatrace");
        var r = Vmlab("trace", "convert", lackey, output);
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Contains("(lackey) -> ", r.Stdout);
        Assert.Contains("(pinatrace)", r.Stdout);
        var lines = File.ReadAllLines(output);
        Assert.Equal("#eof", lines[^1]);
        var expected = LackeyDataAccesses(lackey).Select(a => $"0x{a.Ip:x}: {a.Kind} 0x{a.Address:x}").ToList();
        Assert.Equal(expected, lines[..^1]);
        Assert.Equal(File.ReadAllText(Path.Combine(sample.Project, "tiny.pinatrace")), File.ReadAllText(output));
    }

    [Fact]
    public void TraceInfoAndConvertReadItFromVmlabPluginPath()
    {
        string dir = TempDir();
        string trace = Path.Combine(dir, "trace.txt"); // a neutral name: the content says what it is
        File.Copy(Path.Combine(sample.Project, "tiny.pinatrace"), trace);
        int reads = File.ReadLines(trace).Count(l => l.Contains(": R ")), writes = File.ReadLines(trace).Count(l => l.Contains(": W "));

        var info = Vmlab("trace", "info", trace);
        Assert.True(info.ExitCode == 0, info.Stderr);
        Assert.Contains("trace.txt: pinatrace trace", info.Stdout);
        Assert.Matches($@"records\s+{reads + writes}\b", info.Stdout);

        string vmt = Path.Combine(dir, "tiny.vmt");
        var convert = Vmlab("trace", "convert", trace, vmt);
        Assert.True(convert.ExitCode == 0, convert.Stderr);
        var vmtInfo = Vmlab("trace", "info", vmt);
        Assert.Contains("vmt trace", vmtInfo.Stdout);
        Assert.Matches($@"read\s+{reads:N0}\b", vmtInfo.Stdout);
        Assert.Matches($@"write\s+{writes:N0}\b", vmtInfo.Stdout);

        // without the plugin the format is unknown, and the message lists what is known
        var without = Cli.RunProcess("trace", "info", trace, "--from", "pinatrace");
        Assert.Equal(2, without.ExitCode);
        Assert.Contains("unknown format 'pinatrace'", without.Stderr);
    }

    [Fact]
    public void VmlabRunRunsItThroughTheTraceWorkload()
    {
        string dir = TempDir();
        string trace = Path.Combine(sample.Project, "tiny.pinatrace");
        string config = Path.Combine(dir, "exp.json");
        File.WriteAllText(config, $$"""
            {
              "name": "pinatrace",
              "machine": { "tlb": { "plugin": "fully-associative", "options": { "entries": 64 } } },
              "workload": { "plugin": "trace", "options": { "path": "{{trace}}", "accessSize": 8 } }
            }
            """);
        var r = Vmlab("run", config, "--json", "-");
        Assert.True(r.ExitCode == 0, r.Stderr);
        using var json = JsonDocument.Parse(r.Stdout);
        int lines = File.ReadLines(trace).Count(l => l.StartsWith("0x", StringComparison.Ordinal));
        Assert.Equal(lines, json.RootElement.GetProperty("metrics").GetProperty("accesses").GetInt64());
    }
}
