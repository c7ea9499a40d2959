using System.Diagnostics;
using System.IO.Compression;
using VmLab.Traces;
using VmLab.Abstractions;
using VmLab.Abstractions.Plugins;
using VmLab.Abstractions.Traces;
using static VmLab.Plugins.Tests.Workloads.TraceTestKit;

namespace VmLab.Plugins.Tests.Workloads;

/// <summary>Compressed traces read whole or refused as damaged, and traces read from pipes.</summary>
public sealed class TraceFileTests
{
    private static readonly string[] Lines = File.ReadAllLines(Trace("tiny.lackey"));
    private static readonly byte[] FirstHalf = LackeyReaderTests.Utf8(LackeyReaderTests.Text(Lines[..1000]));
    private static readonly byte[] SecondHalf = LackeyReaderTests.Utf8(LackeyReaderTests.Text(Lines[1000..]));
    private static readonly List<MemoryAccess> Whole = ReferenceLackey(Lines);

    private static List<MemoryAccess> Read(string path) => ReadAll(LackeyReader.Open(path, "path", 0));

    private static byte[] Gzip(byte[] data)
    {
        using var ms = new MemoryStream();
        using (var gz = new GZipStream(ms, CompressionLevel.Optimal, leaveOpen: true)) gz.Write(data);
        return ms.ToArray();
    }

    /// <summary>xz(1) on <paramref name="data"/>: there is no managed xz encoder.</summary>
    private static byte[] Xz(byte[] data)
    {
        var start = new ProcessStartInfo("xz", "-c -z") { RedirectStandardInput = true, RedirectStandardOutput = true, UseShellExecute = false };
        using var xz = Process.Start(start)!;
        var output = new MemoryStream();
        var copy = xz.StandardOutput.BaseStream.CopyToAsync(output);
        xz.StandardInput.BaseStream.Write(data);
        xz.StandardInput.Close();
        copy.Wait();
        xz.WaitForExit();
        Assert.Equal(0, xz.ExitCode);
        return output.ToArray();
    }

    private static string Write(string name, params byte[][] parts)
    {
        string path = TempFile(name);
        File.WriteAllBytes(path, parts.SelectMany(p => p).ToArray());
        return path;
    }

    [Fact]
    public void MultiMemberGzipIsReadWhole()
    {
        string path = Write("two.lackey.gz", Gzip(FirstHalf), Gzip(SecondHalf));
        Assert.Equal(Whole, Read(path));
    }

    [Fact]
    public void GzipCutInsideAnyMemberIsReportedAsDamaged()
    {
        byte[] first = Gzip(FirstHalf), second = Gzip(SecondHalf);
        byte[] both = [.. first, .. second];
        // inside the first member, just before its trailer, inside the second member, and one byte short of the end
        foreach (int cut in new[] { first.Length / 2, first.Length - 3, first.Length + second.Length / 2, both.Length - 1 })
        {
            string path = Write($"cut{cut}.lackey.gz", both[..cut]);
            var e = Assert.Throws<VmLabInputException>(() => Read(path));
            Assert.StartsWith(path, e.Where);
            Assert.Contains("the gzip-compressed data is damaged", e.Message);
        }
    }

    [Fact]
    public void GzipWithAChangedByteIsReportedAsDamaged()
    {
        byte[] data = Gzip([.. FirstHalf, .. SecondHalf]);
        data[data.Length / 2] ^= 0x55;
        string path = Write("flipped.lackey.gz", data);
        var e = Assert.Throws<VmLabInputException>(() => Read(path));
        Assert.Contains("the gzip-compressed data is damaged", e.Message);
    }

    [Fact]
    public void ConcatenatedXzStreamsAreReadWholeWithOrWithoutStreamPadding()
    {
        byte[] first = Xz(FirstHalf), second = Xz(SecondHalf);
        Assert.Equal(Whole, Read(Write("two.lackey.xz", first, second)));
        Assert.Equal(Whole, Read(Write("padded.lackey.xz", first, new byte[8], second, new byte[4])));
    }

    [Fact]
    public void XzFollowedByDataThatIsNoStreamIsReportedAsDamaged()
    {
        foreach (var tail in new[] { "junk\n"u8.ToArray(), new byte[3], new byte[] { 0, 0, 0, 0, 1, 2, 3, 4 } })
        {
            string path = Write("junk.lackey.xz", Xz(FirstHalf), tail);
            var e = Assert.Throws<VmLabInputException>(() => Read(path));
            Assert.StartsWith(path, e.Where);
            Assert.Contains("the xz-compressed data is damaged", e.Message);
        }
    }

    [Fact]
    public void XzWhoseSecondStreamIsCorruptOrCutIsReportedAsDamaged()
    {
        byte[] first = Xz(FirstHalf), second = Xz(SecondHalf);
        byte[] flipped = (byte[])second.Clone();
        flipped[second.Length / 2] ^= 0x55;
        foreach (var bad in new[] { flipped, second[..(second.Length / 2)], second[..^2] })
        {
            string path = Write("bad.lackey.xz", first, bad);
            var e = Assert.Throws<VmLabInputException>(() => Read(path));
            Assert.Contains("the xz-compressed data is damaged", e.Message);
        }
    }

    [Theory]
    [InlineData("plain")]
    [InlineData("gz")]
    [InlineData("xz")]
    public async Task ATraceFromAPipeIsReadLikeTheSameFile(string compression)
    {
        byte[] plain = [.. FirstHalf, .. SecondHalf];
        byte[] data = compression switch { "gz" => Gzip(plain), "xz" => Xz(plain), _ => plain };
        string fifo = TempFile("trace.fifo");
        using (var mkfifo = Process.Start("mkfifo", fifo)) mkfifo.WaitForExit();
        var writer = Task.Run(() => File.WriteAllBytes(fifo, data));
        var catalog = new TraceFormatCatalog(TraceFormats.BuiltIn);
        var trace = TraceInput.Open(fifo, "path", catalog, null, new TraceReaderOptions { Path = fifo });
        Assert.Equal("lackey", trace.Format!.Name);
        Assert.Equal(Whole, ReadAll(trace.Reader));
        await writer;
    }

    [Fact]
    public async Task APipeReadASecondTimeIsRefusedInsteadOfWaitingForAWriter()
    {
        string fifo = TempFile("trace.fifo");
        using (var mkfifo = Process.Start("mkfifo", fifo)) mkfifo.WaitForExit();
        var writer = Task.Run(() => File.WriteAllBytes(fifo, [.. FirstHalf, .. SecondHalf]));
        var workload = new LackeyWorkload(new LackeyOptions { Path = fifo }, fifo, "workload:options");
        var first = new RecordingSimulation();
        workload.Stream(first, CancellationToken.None);
        await writer;
        Assert.Equal(Whole, first.Accesses);

        var e = Assert.Throws<VmLabInputException>(() => workload.Stream(new RecordingSimulation(), CancellationToken.None));
        Assert.Equal("workload:options:path", e.Where);
        Assert.Contains("is a pipe", e.Message);
    }

    [Fact]
    public async Task OnlyARegularFileWithoutCompressionIsUncompressed()
    {
        byte[] plain = [.. FirstHalf, .. SecondHalf];
        string file = TempFile("plain.lackey");
        File.WriteAllBytes(file, plain);
        string gz = TempFile("trace.lackey.gz");
        File.WriteAllBytes(gz, Gzip(plain));
        string tiny = TempFile("short");
        File.WriteAllBytes(tiny, [(byte)'I', (byte)' ']);
        Assert.True(TraceFile.IsUncompressedRegularFile(file));
        Assert.True(TraceFile.IsUncompressedRegularFile(Trace("tiny.vmt")));
        Assert.False(TraceFile.IsUncompressedRegularFile(gz));
        Assert.False(TraceFile.IsUncompressedRegularFile(Trace("tiny.lackey.zst")));
        Assert.False(TraceFile.IsUncompressedRegularFile(tiny));
        Assert.False(TraceFile.IsUncompressedRegularFile(TempFile("missing")));

        // A pipe is not opened: its writer is neither consumed nor cut off, and the reader that opens it gets everything.
        string fifo = TempFile("trace.fifo");
        using (var mkfifo = Process.Start("mkfifo", fifo)) mkfifo.WaitForExit();
        Assert.False(TraceFile.IsUncompressedRegularFile(fifo));
        var writer = Task.Run(() => File.WriteAllBytes(fifo, plain));
        Assert.Equal(Whole, Read(fifo));
        await writer;
    }
}
