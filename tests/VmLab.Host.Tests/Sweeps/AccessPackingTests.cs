using System.IO.Compression;
using CsCheck;
using VmLab.Abstractions;
using VmLab.Host.Sweeps;
using VmLab.Traces;

namespace VmLab.Host.Tests.Sweeps;

/// <summary>The trace cache's packed recordings: exact round trips, batch by batch, and the memory they save.</summary>
public sealed class AccessPackingTests
{
    private static List<MemoryAccess> RoundTrip(IReadOnlyList<MemoryAccess[]> batches, out int bytes)
    {
        var packed = new byte[batches.Sum(b => b.Length) * AccessPacking.MaxBytesPerAccess + 1];
        var state = default(AccessPacking.State);
        bytes = 0;
        foreach (var batch in batches) bytes += AccessPacking.Pack(batch, packed.AsSpan(bytes), ref state);

        var result = new List<MemoryAccess>();
        state = default;
        int offset = 0;
        foreach (var batch in batches)
        {
            var buffer = new MemoryAccess[batch.Length];
            offset += AccessPacking.Unpack(packed.AsSpan(offset, bytes - offset), buffer, ref state);
            result.AddRange(buffer);
        }
        Assert.Equal(bytes, offset);
        return result;
    }

    [Fact]
    public void AnyAccessesComeBackBitForBitInTheirBatches()
    {
        // Addresses near each other and anywhere, every size and pid, and kinds and modes outside the defined values.
        var genAddress = Gen.OneOf(Gen.ULong, Gen.ULong[0x4000_0000, 0x4000_4000], Gen.Const(0UL), Gen.Const(ulong.MaxValue));
        var genAccess = Gen.Select(genAddress, Gen.OneOf(Gen.Int, Gen.Int[0, 3]), Gen.OneOf(Gen.UShort, Gen.UShort[1, 8]),
            Gen.OneOf(Gen.Byte, Gen.Byte[0, 2]), Gen.OneOf(Gen.Byte, Gen.Byte[0, 1]),
            (address, pid, size, kind, mode) => new MemoryAccess(address, pid, size, (AccessKind)kind, (AccessMode)mode));
        genAccess.Array[0, 40].Array[1, 8].Sample(batches =>
        {
            var expected = batches.SelectMany(b => b).ToList();
            Assert.Equal(expected, RoundTrip(batches, out _));
        }, iter: 500, threads: 1);
    }

    [Fact]
    public void ARealTracePacksIntoAFewBytesPerAccess()
    {
        // The quickstart's trace of ls under Lackey: fetches interleaved with data accesses, as a recorded sweep holds them.
        string path = Path.Combine(SweepFixture.RepoRoot, "configs", "traces", "ls.lackey.gz");
        using var file = new GZipStream(File.OpenRead(path), CompressionMode.Decompress);
        using var reader = new LackeyReader(file, path, 0);
        var batches = new List<MemoryAccess[]>();
        var buffer = new MemoryAccess[4096];
        int n;
        while ((n = reader.Read(buffer)) > 0) batches.Add(buffer[..n]);
        var expected = batches.SelectMany(b => b).ToList();
        Assert.True(expected.Count > 1_000_000);

        Assert.Equal(expected, RoundTrip(batches, out int bytes));
        double perAccess = (double)bytes / expected.Count;
        Assert.True(perAccess < 4, $"{perAccess:0.00} bytes per access");
    }
}
