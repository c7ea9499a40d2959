using VmLab.Traces;
using System.Text;
using VmLab.Abstractions;
using VmLab.Abstractions.Plugins;
using VmLab.Plugins.Workloads;
using static VmLab.Plugins.Tests.Workloads.TraceTestKit;

namespace VmLab.Plugins.Tests.Workloads;

public sealed class DinReaderTests
{
    private static DinReader Reader(string text, int size = 4) =>
        new(new MemoryStream(Encoding.ASCII.GetBytes(text)), "t.din", pid: 2, accessSize: size);

    [Fact]
    public void DinLabelsAreReadWriteFetchMiscAndFlush()
    {
        // Dinero din: 0 read, 1 write, 2 fetch, 3 unknown type (a read), 4 flush (no access). Rest of line is a comment.
        var reader = Reader("2 0\n0 1000  load here\n1 70f60890\n3 abc\n4 0\n\n2 2cb5\n");
        var accesses = ReadAll(reader);
        Assert.Equal(
            [MemoryAccess.Fetch(0, 4, 2), MemoryAccess.Read(0x1000, 4, 2), MemoryAccess.Write(0x70f60890, 4, 2), MemoryAccess.Read(0xabc, 4, 2), MemoryAccess.Fetch(0x2cb5, 4, 2)],
            accesses);
        Assert.Equal(6, reader.Records); // the flush is a record, not an access
    }

    [Fact]
    public void XdinRecordsCarryTheirOwnHexSize()
    {
        var accesses = ReadAll(Reader("r 0x1000 8\nW 2000 0x10\ni 400000 4 comment\nm 3000 1\nc 1000 40\nv 0 1\n"));
        Assert.Equal(
            [MemoryAccess.Read(0x1000, 8, 2), MemoryAccess.Write(0x2000, 16, 2), MemoryAccess.Fetch(0x400000, 4, 2), MemoryAccess.Read(0x3000, 1, 2)],
            accesses);
    }

    [Theory]
    [InlineData("0 1000\n5 2000\n", 2, "malformed din record")]
    [InlineData("0 1000\n0 12g4\n", 2, "malformed din record")]
    [InlineData("0 1000\n0\n", 2, "malformed din record")]
    [InlineData("r 1000\n", 1, "malformed xdin record")]
    [InlineData("x 1000 4\n", 1, "malformed xdin record")]
    public void MalformedLineIsReportedWithFileAndLine(string text, int line, string message)
    {
        var e = Assert.Throws<VmLabInputException>(() => ReadAll(Reader(text)));
        Assert.Equal($"t.din:{line}", e.Where);
        Assert.Contains(message, e.Message);
    }
}
