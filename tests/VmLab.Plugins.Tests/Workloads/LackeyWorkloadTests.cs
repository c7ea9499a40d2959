using VmLab.Traces;
using System.IO.Compression;
using System.Text;
using VmLab.Abstractions;
using VmLab.Abstractions.Plugins;
using VmLab.Abstractions.Workloads;
using VmLab.Plugins.Workloads;

namespace VmLab.Plugins.Tests.Workloads;

public sealed class LackeyWorkloadTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "vmlab-lackey-" + Guid.NewGuid().ToString("N")[..8]);

    public LackeyWorkloadTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(string name, string text)
    {
        string path = Path.Combine(_dir, name);
        File.WriteAllText(path, text);
        return path;
    }

    private static List<MemoryAccess> Read(string path, int batchSize = 4096, long limit = 0, int pid = 0)
    {
        var sim = new RecordingSimulation(batchSize);
        new LackeyWorkload(new LackeyOptions { Path = path, Limit = limit, Pid = pid }, path, "workload:options").Run(sim, CancellationToken.None);
        return sim.Accesses;
    }

    [Fact]
    public void EachRecordKindBecomesItsAccessKindAndModifyIsAReadThenAWrite()
    {
        var path = Write("a.lackey", "I  0401ab70,3\n L 1fff000538,8\n S 1fff000530,8\n M 0025747C,1\n");
        Assert.Equal(
        [
            new MemoryAccess(0x0401ab70, 0, 3, AccessKind.Fetch, AccessMode.User),
            new MemoryAccess(0x1fff000538, 0, 8, AccessKind.Read, AccessMode.User),
            new MemoryAccess(0x1fff000530, 0, 8, AccessKind.Write, AccessMode.User),
            new MemoryAccess(0x0025747C, 0, 1, AccessKind.Read, AccessMode.User),
            new MemoryAccess(0x0025747C, 0, 1, AccessKind.Write, AccessMode.User),
        ], Read(path));
    }

    [Fact]
    public void ValgrindBannerLinesBlankLinesAndCrlfAreAccepted()
    {
        var path = Write("b.lackey", "==123== Lackey, an example Valgrind tool\r\n\r\n L 10,4\r\n==123== \r\n");
        Assert.Equal([new MemoryAccess(0x10, 0, 4, AccessKind.Read, AccessMode.User)], Read(path));
    }

    [Fact]
    public void AccessesArriveInBatchesOfThePreferredSizeInOrder()
    {
        var sb = new StringBuilder();
        for (int i = 0; i < 1000; i++) sb.Append(" L ").Append((i * 8).ToString("x")).Append(",8\n");
        var path = Write("c.lackey", sb.ToString());
        var sim = new RecordingSimulation(batchSize: 64);
        new LackeyWorkload(new LackeyOptions { Path = path }, path, "w").Run(sim, CancellationToken.None);
        Assert.Equal(1000, sim.Accesses.Count);
        Assert.True(sim.Batches >= 1000 / 64);
        Assert.Equal(Enumerable.Range(0, 1000).Select(i => (ulong)i * 8), sim.Accesses.Select(a => a.Address));
    }

    [Fact]
    public void LimitStopsAfterThatManyRecordsAndPidIsApplied()
    {
        var path = Write("d.lackey", " L 10,4\n M 20,4\n S 30,4\n");
        var accesses = Read(path, limit: 2, pid: 7);
        Assert.Equal(3, accesses.Count); // L, then M as two accesses
        Assert.All(accesses, a => Assert.Equal(7, a.Pid));
    }

    [Fact]
    public void GzipTraceReadsTheSameAsPlainText()
    {
        string text = "I  0401ab70,3\n L 1fff000538,8\n";
        var plain = Write("e.lackey", text);
        string gz = Path.Combine(_dir, "e.lackey.gz");
        using (var f = File.Create(gz))
        using (var z = new GZipStream(f, CompressionLevel.Optimal))
            z.Write(Encoding.ASCII.GetBytes(text));
        Assert.Equal(Read(plain), Read(gz));
    }

    [Theory]
    [InlineData(" X 10,4", 2)]
    [InlineData(" L 10", 2)]
    [InlineData(" L zz,4", 2)]
    [InlineData(" L 10,", 2)]
    [InlineData("L10,4", 2)]
    [InlineData(" L 10,4 junk", 2)]
    public void MalformedLineIsAnErrorWithFileLineAndText(string bad, int line)
    {
        var path = Write("f.lackey", " L 10,4\n" + bad + "\n L 20,4\n");
        var e = Assert.Throws<VmLabInputException>(() => Read(path));
        Assert.Equal($"{path}:{line}", e.Where);
        Assert.Contains($"\"{bad}\"", e.Message);
    }

    [Fact]
    public void TruncatedGzipIsAnErrorNotASilentShortTrace()
    {
        var sb = new StringBuilder();
        var rng = new Random(1);
        for (int i = 0; i < 20000; i++) sb.Append(" L ").Append(rng.NextInt64(1L << 40).ToString("x")).Append(",8\n");
        string gz = Path.Combine(_dir, "g.lackey.gz");
        using (var f = File.Create(gz))
        using (var z = new GZipStream(f, CompressionLevel.Optimal))
            z.Write(Encoding.ASCII.GetBytes(sb.ToString()));
        var bytes = File.ReadAllBytes(gz);
        File.WriteAllBytes(gz, bytes[..(bytes.Length / 2)]);

        var e = Assert.Throws<VmLabInputException>(() => Read(gz));
        Assert.StartsWith(gz, e.Where);
        Assert.Contains("truncated", e.Message + e.Where, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void XzCompressedTraceIsRefusedWithAClearMessage()
    {
        string xz = Path.Combine(_dir, "h.lackey.xz");
        File.WriteAllBytes(xz, [0xFD, (byte)'7', (byte)'z', (byte)'X', (byte)'Z', 0, 0, 0]);
        var e = Assert.Throws<VmLabInputException>(() => Read(xz));
        Assert.Contains("xz", e.Message);
    }
}
