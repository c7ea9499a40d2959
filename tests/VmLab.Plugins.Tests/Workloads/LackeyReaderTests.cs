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

    /// <summary>A line of one of many shapes, mostly valgrind's, some not: digit counts, case, leading zeros, sizes, spacing, endings.</summary>
    private static string RandomLine(Random rng)
    {
        string kind = rng.Next(12) switch { 0 => "I", 1 => "L", 2 => "S", 3 => "M", 4 => "X", 5 => "i", _ => "ILSM"[rng.Next(4)].ToString() };
        string lead = kind == "I" ? (rng.Next(8) == 0 ? " " : "") : (rng.Next(8) == 0 ? "" : " ");
        string gap = rng.Next(10) == 0 ? (rng.Next(2) == 0 ? " " : "   ") : (kind == "I" ? "  " : " ");
        int digits = rng.Next(10) == 0 ? rng.Next(0, 22) : rng.Next(1, 17);
        var hex = new StringBuilder();
        for (int d = 0; d < digits; d++) hex.Append("0123456789abcdefABCDEF"[rng.Next(rng.Next(6) == 0 ? 22 : 16)]);
        if (rng.Next(6) == 0 && digits > 0) hex[0] = '0';
        string size = rng.Next(8) switch
        {
            0 => rng.Next(65530, 65541).ToString(),
            1 => "0" + rng.Next(10),
            2 => new string('0', rng.Next(1, 7)) + rng.Next(1, 9),
            3 => "",
            _ => rng.Next(1, 33).ToString(),
        };
        string comma = rng.Next(30) == 0 ? ";" : ",";
        string tail = rng.Next(12) switch { 0 => "\r", 1 => " ", 2 => "x", _ => "" };
        return lead + kind + gap + hex + comma + size + tail;
    }

    [Fact]
    public void TheInPlaceParserAcceptsExactlyTheLinesTheGeneralOneAcceptsWithTheSameValues()
    {
        var rng = new Random(18);
        int fast = 0;
        var buffer = new byte[256];
        for (int n = 0; n < 200_000; n++)
        {
            string line = RandomLine(rng);
            Array.Fill(buffer, (byte)'7'); // what follows the line must not matter
            int length = Encoding.ASCII.GetBytes(line, buffer);
            buffer[length] = (byte)'\n';
            bool ok = LackeyReader.TryParse(buffer.AsSpan(0, length), out char kind, out ulong address, out ushort size, out bool skip);
            int taken = LackeyReader.TryParseFast(ref buffer[0], out byte fastKind, out ulong fastAddress, out ushort fastSize);
            if (taken == 0) continue;
            fast++;
            Assert.True(ok && !skip, $"the in-place parser took \"{line}\", which the general one refuses");
            Assert.Equal(length + 1, taken);
            Assert.Equal(kind, (char)fastKind);
            Assert.Equal(address, fastAddress);
            Assert.Equal(size, fastSize);
        }
        Assert.True(fast > 50_000, $"only {fast} lines took the in-place path");
    }

    [Theory]
    [InlineData("I  0401ab70,3", 0x0401ab70UL, 3)]
    [InlineData(" L 1ffefff8a8,8", 0x1ffefff8a8UL, 8)]
    [InlineData(" S 7,65535", 7UL, 65535)]
    [InlineData(" M FFFFFFFFFFFFFFFF,00001", ulong.MaxValue, 1)]
    [InlineData(" L 123456789ABCDEF0,0", 0x123456789ABCDEF0UL, 0)]
    [InlineData(" L 00000000abcdef12,16", 0xabcdef12UL, 16)]
    public void ValgrindShapedLinesTakeTheInPlacePath(string line, ulong address, int size)
    {
        var buffer = new byte[64];
        int length = Encoding.ASCII.GetBytes(line + "\n", buffer);
        Assert.Equal(length, LackeyReader.TryParseFast(ref buffer[0], out _, out ulong a, out ushort s));
        Assert.Equal(address, a);
        Assert.Equal(size, s);
    }

    [Fact]
    public void AMixOfShapesReadsTheSameAsLineByLineParsingAcrossBufferRefills()
    {
        // Valid lines of every shape (CRLF, banners, extra spaces, long hex) mixed so that lines cross the 256 KiB buffer's
        // refills and the in-place path's window ends at every offset.
        var rng = new Random(7);
        var lines = new List<string>();
        while (lines.Count < 150_000)
        {
            string line = RandomLine(rng);
            if (rng.Next(50) == 0) line = "==123== banner " + rng.Next();
            if (rng.Next(80) == 0) line = "";
            bool longHex = line.Split(',')[0].Trim().Split(' ')[^1].Length > 16; // leading zeros past 16 digits: the reference cannot read them
            if (!longHex && LackeyReader.TryParse(Encoding.ASCII.GetBytes(line), out _, out _, out _, out _)) lines.Add(line);
        }
        var text = Encoding.ASCII.GetBytes(string.Join("\n", lines));
        var expected = ReferenceLackey(lines);
        foreach (int batch in new[] { 2, 37, 4096 })
            Assert.Equal(expected, ReadAll(new LackeyReader(new MemoryStream(text), "t.lackey", 0), batch));
    }

    [Fact]
    public void AMalformedLineAfterManyGoodOnesIsReportedAtItsLine()
    {
        var sb = new StringBuilder();
        for (int i = 0; i < 100_000; i++) sb.Append(" L ").Append((0x1000 + i).ToString("x8")).Append(",4\n");
        sb.Append(" L 12,4,5\n L 10,4\n");
        var reader = new LackeyReader(new MemoryStream(Encoding.ASCII.GetBytes(sb.ToString())), "t.lackey", 0);
        var e = Assert.Throws<VmLabInputException>(() => ReadAll(reader, 4096));
        Assert.Equal("t.lackey:100001", e.Where);
        Assert.Contains("\" L 12,4,5\"", e.Message);
    }
}
