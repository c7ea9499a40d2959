using VmLab.Traces;
using VmLab.Abstractions;
using VmLab.Abstractions.Plugins;
using VmLab.Abstractions.Traces;
using static VmLab.Plugins.Tests.Workloads.TraceTestKit;

namespace VmLab.Plugins.Tests.Workloads;

public sealed class TraceFormatsTests
{
    private static readonly TraceFormatCatalog BuiltIn = new(TraceFormats.BuiltIn);

    private static string Detect(string path)
    {
        var trace = TraceInput.Open(path, "path", BuiltIn, null, new TraceReaderOptions { Path = path });
        trace.Reader.Dispose();
        return trace.Format!.Name;
    }

    [Theory]
    [InlineData("tiny.lackey", "lackey")]
    [InlineData("tiny.lackey.xz", "lackey")]
    [InlineData("tiny.lackey.zst", "lackey")]
    [InlineData("ls.lackey.gz", "lackey")]
    [InlineData("tiny.din", "din")]
    [InlineData("tiny.vmt", "vmt")]
    [InlineData("tiny.champsim.xz", "champsim")]
    public void SampleTracesAreRecognisedByContent(string name, string format)
    {
        // copy under a neutral name: the content decides, not the extension
        string copy = TempFile("trace.bin");
        File.Copy(Trace(name), copy);
        Assert.Equal(format, Detect(copy));
    }

    [Fact]
    public void XdinTextIsDin()
    {
        string path = TempFile("t.txt");
        File.WriteAllText(path, "\nr 0x1000 8\n");
        Assert.Equal("din", Detect(path));
    }

    [Fact]
    public void OtherTextIsAnErrorNamingTheFormatsAndAskingForFrom()
    {
        string path = TempFile("t.txt");
        File.WriteAllText(path, "hello world\n");
        var e = Assert.Throws<VmLabInputException>(() => Detect(path));
        Assert.Equal(path, e.Where);
        Assert.Contains("--from", e.Message);
        Assert.Contains("champsim, cloudsuite, din, lackey, vmt", e.Message);
    }

    [Fact]
    public void BinaryNamedCloudsuiteIsTheCloudsuiteLayout()
    {
        string path = TempFile("server.cloudsuite.champsim.xz");
        File.Copy(Trace("tiny.champsim.xz"), path);
        Assert.Equal("cloudsuite", Detect(path));
    }

    [Theory]
    [InlineData("a.vmt.zst", "vmt")]
    [InlineData("a.lackey.gz", "lackey")]
    [InlineData("a.xdin", "din")]
    [InlineData("server.cloudsuite.champsim.xz", "cloudsuite")]
    [InlineData("602.gcc_s-734B.champsimtrace.xz", "champsim")]
    public void OutputFormatComesFromTheLongestMatchingExtension(string name, string format) =>
        Assert.Equal(format, BuiltIn.FromFileName(name)?.Name);

    [Fact]
    public void AFormatIsFoundByNameWhateverTheCase() => Assert.Same(TraceFormats.Din, BuiltIn.Find("DIN"));

    [Fact]
    public void ASniffThatThrowsCannotClaimAFile()
    {
        var catalog = new TraceFormatCatalog([.. TraceFormats.BuiltIn, new ThrowingFormat()]);
        string path = Trace("tiny.lackey");
        var head = File.ReadAllBytes(path);
        Assert.Equal("lackey", catalog.Detect(head, complete: true, path).Name);
    }

    [Fact]
    public void TwoFormatsEquallySureAreAnErrorUnlessTheNameDecides()
    {
        var catalog = new TraceFormatCatalog([TraceFormats.Lackey, new EverythingFormat()]);
        var head = File.ReadAllBytes(Trace("tiny.lackey"));
        var e = Assert.Throws<VmLabInputException>(() => catalog.Detect(head, complete: true, "/x/trace.txt"));
        Assert.Contains("could be", e.Message);
        Assert.Equal("everything", catalog.Detect(head, complete: true, "/x/trace.every").Name);
        Assert.Equal("lackey", catalog.Detect(head, complete: true, "/x/trace.lackey").Name);
    }

    private sealed class ThrowingFormat : ITraceFormat
    {
        public string Name => "throwing";
        public string Description => "sniffing throws";
        public IReadOnlyList<string> Extensions => [".throw"];
        public bool CanWrite => false;
        public TraceMatch Sniff(ReadOnlySpan<byte> head, bool complete, string fileName) => throw new InvalidOperationException("broken");
        public ITraceReader OpenReader(Stream input, TraceReaderOptions options) => throw new NotSupportedException();
        public ITraceWriter CreateWriter(Stream output, TraceWriterOptions options) => throw new NotSupportedException();
    }

    /// <summary>Claims every text file as surely as Lackey does.</summary>
    private sealed class EverythingFormat : ITraceFormat
    {
        public string Name => "everything";
        public string Description => "claims any text";
        public IReadOnlyList<string> Extensions => [".every"];
        public bool CanWrite => false;
        public TraceMatch Sniff(ReadOnlySpan<byte> head, bool complete, string fileName) => TraceFormats.IsText(head) ? TraceMatch.Likely : TraceMatch.No;
        public ITraceReader OpenReader(Stream input, TraceReaderOptions options) => throw new NotSupportedException();
        public ITraceWriter CreateWriter(Stream output, TraceWriterOptions options) => throw new NotSupportedException();
    }
}
