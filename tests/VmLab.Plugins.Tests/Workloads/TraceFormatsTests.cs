using VmLab.Traces;
using VmLab.Abstractions.Plugins;
using VmLab.Plugins.Workloads;
using static VmLab.Plugins.Tests.Workloads.TraceTestKit;

namespace VmLab.Plugins.Tests.Workloads;

public sealed class TraceFormatsTests
{
    [Theory]
    [InlineData("tiny.lackey", TraceFormat.Lackey)]
    [InlineData("tiny.lackey.xz", TraceFormat.Lackey)]
    [InlineData("tiny.lackey.zst", TraceFormat.Lackey)]
    [InlineData("ls.lackey.gz", TraceFormat.Lackey)]
    [InlineData("tiny.din", TraceFormat.Din)]
    [InlineData("tiny.vmt", TraceFormat.Vmt)]
    [InlineData("tiny.champsim.xz", TraceFormat.ChampSim)]
    public void SampleTracesAreRecognisedByContent(string name, TraceFormat format)
    {
        // copy under a neutral name: the content decides, not the extension
        string copy = TempFile("trace.bin");
        File.Copy(Trace(name), copy);
        Assert.Equal(format, TraceFormats.Detect(copy));
    }

    [Fact]
    public void XdinTextIsDin()
    {
        string path = TempFile("t.txt");
        File.WriteAllText(path, "\nr 0x1000 8\n");
        Assert.Equal(TraceFormat.Din, TraceFormats.Detect(path));
    }

    [Fact]
    public void OtherTextIsAnErrorAskingForFrom()
    {
        string path = TempFile("t.txt");
        File.WriteAllText(path, "hello world\n");
        var e = Assert.Throws<VmLabInputException>(() => TraceFormats.Detect(path));
        Assert.Contains("--from", e.Message);
    }

    [Theory]
    [InlineData("a.vmt.zst", TraceFormat.Vmt)]
    [InlineData("a.lackey.gz", TraceFormat.Lackey)]
    [InlineData("a.xdin", TraceFormat.Din)]
    [InlineData("server.cloudsuite.champsim.xz", TraceFormat.Cloudsuite)]
    [InlineData("602.gcc_s-734B.champsimtrace.xz", TraceFormat.ChampSim)]
    public void OutputFormatComesFromTheName(string name, TraceFormat format) => Assert.Equal(format, TraceFormats.FromName(name));
}
