using System.Text;
using VmLab.Abstractions;
using VmLab.Traces;
using Xunit;

namespace VmLab.Plugins.Tests.Workloads;

/// <summary>
/// Trace decoding allocates per trace (its buffers), never per access: once the first batch is read, reading the rest of
/// a trace allocates no more than the runtime's own one-off allocations (tiered JIT promotion can allocate a few KiB on
/// the thread that triggers it) — far below one object per access (24 bytes each: over 6 MB here).
/// </summary>
[Collection(AllocationMeasurement.Name)]
public sealed class TraceReaderAllocationTests
{
    private const int Records = 200_000;
    private const long OneOffBytes = 16 * 1024;

    /// <summary>Lackey text: a fetch, a load, a store or a modify in turn, over addresses that move forward and back.</summary>
    private static byte[] LackeyText()
    {
        var sb = new StringBuilder();
        for (int i = 0; i < Records; i++)
        {
            ulong address = 0x4000_0000UL + (ulong)(i * 8 % 65536);
            sb.Append((i % 4) switch { 0 => "I  ", 1 => " L ", 2 => " S ", _ => " M " }).Append(address.ToString("x8")).Append(",8\n");
        }
        return Encoding.ASCII.GetBytes(sb.ToString());
    }

    private static long AllocatedAfterFirstBatch(TraceReader reader, out long accesses)
    {
        var batch = new MemoryAccess[4096];
        accesses = reader.Read(batch);
        long before = GC.GetAllocatedBytesForCurrentThread();
        int n;
        while ((n = reader.Read(batch)) > 0) accesses += n;
        return GC.GetAllocatedBytesForCurrentThread() - before;
    }

    [Fact]
    public void LackeyReaderAllocatesNothingPerAccess()
    {
        using var reader = new LackeyReader(new MemoryStream(LackeyText()), "t.lackey", 0);
        Assert.InRange(AllocatedAfterFirstBatch(reader, out long accesses), 0, OneOffBytes);
        Assert.Equal(Records + Records / 4, accesses); // every fourth record is an M: a read and a write
    }

    [Fact]
    public void DecodingAheadHandsBatchesOverWithoutAllocating()
    {
        // Slots of two batches, so the ring goes round about 30 times; the consumer's side of every hand-over is measured.
        using var reader = new LackeyReader(new MemoryStream(LackeyText()), "t.lackey", 0);
        using var ahead = new DecodeAhead(reader, null, batchSize: 4096, slots: 2, slotAccesses: 8192);
        Assert.True(ahead.TryNext(out var first, out _));
        long accesses = first.Length;
        long before = GC.GetAllocatedBytesForCurrentThread();
        while (ahead.TryNext(out var batch, out _)) accesses += batch.Length;
        Assert.InRange(GC.GetAllocatedBytesForCurrentThread() - before, 0, OneOffBytes);
        Assert.Equal(Records + Records / 4, accesses);
    }

    [Fact]
    public void VmtReaderAllocatesNothingPerAccess()
    {
        var accessesIn = new List<MemoryAccess>();
        using (var lackey = new LackeyReader(new MemoryStream(LackeyText()), "t.lackey", 0))
        {
            var batch = new MemoryAccess[4096];
            int n;
            while ((n = lackey.Read(batch)) > 0) accessesIn.AddRange(batch.AsSpan(0, n));
        }
        var vmt = new MemoryStream();
        using (var writer = new VmtWriter(vmt, recordsPerBlock: 10_000))
        {
            writer.Write(accessesIn.ToArray());
            writer.Finish();
        }
        using var reader = new VmtReader(new MemoryStream(vmt.ToArray()), "t.vmt");
        Assert.InRange(AllocatedAfterFirstBatch(reader, out long accesses), 0, OneOffBytes);
        Assert.Equal(accessesIn.Count, accesses);
    }
}
