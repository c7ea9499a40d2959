using VmLab.Traces;
using System.IO.Compression;
using System.Text;
using VmLab.Abstractions;
using VmLab.Abstractions.Plugins;
using VmLab.Plugins.Workloads;
using static VmLab.Plugins.Tests.Workloads.TraceTestKit;

namespace VmLab.Plugins.Tests.Workloads;

[Collection(AllocationMeasurement.Name)]
public sealed class LackeyReaderTests
{
    [Fact]
    public void TinyTraceHasTheRecordCountsItsReadmeStates()
    {
        // configs/traces/README.md: 2,000 records: 1,512 I, 298 L, 170 S, 20 M.
        using var reader = LackeyReader.Open(Trace("tiny.lackey"), "path", pid: 3);
        var accesses = ReadAll(reader);
        Assert.Equal(2000, reader.Records);
        Assert.Equal(1512, accesses.Count(a => a.Kind == AccessKind.Fetch));
        Assert.Equal(298 + 20, accesses.Count(a => a.Kind == AccessKind.Read));
        Assert.Equal(170 + 20, accesses.Count(a => a.Kind == AccessKind.Write));
        Assert.All(accesses, a => Assert.Equal(3, a.Pid));
    }

    [Fact]
    public void DecodesExactlyWhatAPlainReadingOfTheTextMeans()
    {
        var expected = ReferenceLackey(File.ReadLines(Trace("tiny.lackey")));
        Assert.Equal(expected, ReadAll(LackeyReader.Open(Trace("tiny.lackey"), "path", 0)));
    }

    [Theory]
    [InlineData("tiny.lackey.xz")]   // written by xz(1)
    [InlineData("tiny.lackey.zst")]  // written by zstd(1)
    public void CompressedSampleDecodesToTheSameAccessesAsThePlainOne(string name)
    {
        var plain = ReadAll(LackeyReader.Open(Trace("tiny.lackey"), "path", 0));
        var reader = LackeyReader.Open(Trace(name), "path", 0);
        Assert.Equal(plain, ReadAll(reader));
    }

    [Fact]
    public void GzipAndZstdWrittenByVmLabDecodeToTheSameAccesses()
    {
        var plain = ReadAll(LackeyReader.Open(Trace("tiny.lackey"), "path", 0));
        foreach (var name in new[] { "t.lackey.gz", "t.lackey.zst" })
        {
            string path = TempFile(name);
            using (var output = TraceFile.Create(path, path))
            using (var input = File.OpenRead(Trace("tiny.lackey")))
                input.CopyTo(output);
            Assert.Equal(plain, ReadAll(LackeyReader.Open(path, "path", 0)));
        }
    }

    [Fact]
    public void ValgrindBannerLinesAndBlankLinesAreSkipped()
    {
        string path = TempFile("log.lackey");
        File.WriteAllText(path, "==123== Lackey, an example Valgrind tool\n\nI  0401ab70,3\n S 1fff000538,8\r\n==123== \n M 04033e06,1");
        var accesses = ReadAll(LackeyReader.Open(path, "path", 0));
        Assert.Equal(
            [MemoryAccess.Fetch(0x401ab70, 3), MemoryAccess.Write(0x1fff000538, 8), MemoryAccess.Read(0x4033e06, 1), MemoryAccess.Write(0x4033e06, 1)],
            accesses);
    }

    [Theory]
    [InlineData("I  0401ab70,3\nX 1234,4\n", 2)]
    [InlineData("I  0401ab70,3\nI  0401ab70\n", 2)]
    [InlineData("I  0401ab70,3\nI  0401ab70,3\n L zz,8\n", 3)]
    [InlineData("I  0401ab70,99999\n", 1)]
    [InlineData("I  1234567890abcdef1,3\n", 1)]
    public void MalformedLineIsReportedWithFileAndLine(string text, int line)
    {
        string path = TempFile("bad.lackey");
        File.WriteAllText(path, text);
        var e = Assert.Throws<VmLabInputException>(() => ReadAll(LackeyReader.Open(path, "path", 0)));
        Assert.Equal($"{path}:{line}", e.Where);
        Assert.Contains("malformed Lackey record", e.Message);
    }

    [Theory]
    [InlineData("gz")]
    [InlineData("xz")]
    [InlineData("zst")]
    public void TruncatedCompressedTraceIsAnErrorWithTheCompressedOffset(string compression)
    {
        byte[] whole = compression == "gz" ? Gzip(File.ReadAllBytes(Trace("tiny.lackey"))) : File.ReadAllBytes(Trace($"tiny.lackey.{compression}"));
        string path = TempFile($"cut.lackey.{compression}");
        File.WriteAllBytes(path, whole[..(whole.Length * 2 / 3)]);
        var e = Assert.Throws<VmLabInputException>(() => ReadAll(LackeyReader.Open(path, "path", 0)));
        Assert.StartsWith($"{path} at compressed byte ", e.Where);
    }

    [Fact]
    public void UnsupportedCompressionIsNamedWithTheSupportedOnes()
    {
        string path = TempFile("trace.lackey.bz2");
        File.WriteAllBytes(path, [(byte)'B', (byte)'Z', (byte)'h', (byte)'9', 0x31, 0x41, 0x59, 0x26]);
        var e = Assert.Throws<VmLabInputException>(() => LackeyReader.Open(path, "path", 0));
        Assert.Contains("bzip2-compressed traces are not supported", e.Message);
        Assert.Contains("gzip (.gz), xz (.xz) and zstd (.zst)", e.Message);
    }

    [Fact]
    public void RecordLimitCountsRecordsNotAccesses()
    {
        string path = TempFile("m.lackey");
        File.WriteAllText(path, " M 1000,4\n M 2000,4\n M 3000,4\n");
        using var reader = LackeyReader.Open(path, "path", 0);
        reader.RecordLimit = 2;
        var accesses = ReadAll(reader);
        Assert.Equal(4, accesses.Count);
        Assert.Equal(0x2000UL, accesses[^1].Address);
    }

    [Fact]
    public void ReadNeverAllocatesPerRecord()
    {
        var buffer = new MemoryAccess[4096];
        long records = 0;
        long bytes = AllocationMeasurement.FewestBytes(() =>
        {
            var reader = LackeyReader.Open(Trace("ls.lackey.gz"), "path", 0);
            reader.Read(buffer); // warm up: first refill
            reader.Read(buffer);
            return () =>
            {
                while (reader.Read(buffer) > 0) { }
                records = reader.Records;
                reader.Dispose();
            };
        });
        Assert.Equal(1_016_853, records);
        Assert.True(bytes < 1024, $"parsing allocated {bytes} bytes");
    }

    private static byte[] Gzip(byte[] data)
    {
        using var ms = new MemoryStream();
        using (var gz = new GZipStream(ms, CompressionLevel.Optimal, leaveOpen: true)) gz.Write(data);
        return ms.ToArray();
    }

    internal static string Text(IEnumerable<string> lines) => string.Join('\n', lines) + "\n";
    internal static byte[] Utf8(string s) => Encoding.UTF8.GetBytes(s);
}
