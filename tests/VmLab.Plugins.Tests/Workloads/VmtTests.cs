using VmLab.Traces;
using VmLab.Abstractions;
using VmLab.Abstractions.Plugins;
using VmLab.Plugins.Workloads;
using static VmLab.Plugins.Tests.Workloads.TraceTestKit;

namespace VmLab.Plugins.Tests.Workloads;

[Collection(AllocationMeasurement.Name)]
public sealed class VmtTests
{
    private static byte[] Write(IReadOnlyList<MemoryAccess> accesses, int recordsPerBlock = 1000, int pageSize = 4096)
    {
        var ms = new MemoryStream();
        var writer = new VmtWriter(ms, pageSize, recordsPerBlock);
        var array = accesses.ToArray();
        for (int i = 0; i < array.Length; i += 100) writer.Write(array.AsSpan(i, Math.Min(100, array.Length - i)));
        writer.Finish();
        return ms.ToArray();
    }

    private static List<MemoryAccess> Read(byte[] data, int batch = 37) => ReadAll(new VmtReader(new MemoryStream(data), "t.vmt"), batch);

    /// <summary>Accesses with everything the format must keep: all kinds, both modes, pids, sizes, far and backward jumps.</summary>
    private static List<MemoryAccess> RandomAccesses(int count, int seed)
    {
        var random = new Random(seed);
        var list = new List<MemoryAccess>(count);
        ulong data = 0x7fff0000, code = 0x400000;
        while (list.Count < count)
        {
            int pid = random.Next(4) == 0 ? random.Next(70000) : 1;
            var mode = random.Next(10) == 0 ? AccessMode.Kernel : AccessMode.User;
            switch (random.Next(5))
            {
                case 0:
                    code += (ulong)random.Next(1, 16);
                    list.Add(new MemoryAccess(code, pid, (ushort)random.Next(1, 16), AccessKind.Fetch, mode));
                    break;
                case 1:
                    data = (ulong)random.NextInt64() * 2 + (ulong)random.Next(2); // anywhere in 64 bits
                    list.Add(new MemoryAccess(data, pid, (ushort)random.Next(0, 65536), AccessKind.Read, mode));
                    break;
                case 2:
                    data -= (ulong)random.Next(0, 4096);
                    list.Add(new MemoryAccess(data, pid, 8, AccessKind.Write, mode));
                    break;
                default:
                    data += (ulong)random.Next(0, 64);
                    ushort size = (ushort)(1 << random.Next(4));
                    list.Add(new MemoryAccess(data, pid, size, AccessKind.Read, mode));
                    if (random.Next(2) == 0) list.Add(new MemoryAccess(data, pid, size, AccessKind.Write, mode)); // a modify
                    break;
            }
        }
        return list;
    }

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(65536)]
    public void RandomAccessesRoundTripExactlyWhateverTheBlockSize(int recordsPerBlock)
    {
        var accesses = RandomAccesses(20_000, recordsPerBlock);
        Assert.Equal(accesses, Read(Write(accesses, recordsPerBlock)));
    }

    [Fact]
    public void NumbersOfEveryEncodedLengthRoundTripAtEveryOffsetOfTheWordTheyAreReadFrom()
    {
        // Address deltas whose zigzag LEB128 takes 1 to 10 bytes, both signs, around each length's limits; sizes and
        // pids of 1 to 3 bytes; a 1-byte record before each shifts where the number starts within the 8-byte word the
        // reader loads.
        var accesses = new List<MemoryAccess>();
        ulong address = 0;
        int pid = 1;
        for (int shift = 0; shift <= 63; shift++)
            foreach (long delta in new[] { 1L << shift, -(1L << shift), (1L << shift) - 1, -((1L << shift) + 1), long.MaxValue >> (63 - shift) })
                for (int pad = 0; pad < 3; pad++)
                {
                    for (int i = 0; i < pad; i++) accesses.Add(new MemoryAccess(address, pid, 8, AccessKind.Read, AccessMode.User));
                    address += (ulong)delta;
                    ushort size = (ushort)(shift % 3 == 0 ? 8 : shift % 3 == 1 ? 200 + shift : 40000 + shift);
                    pid = shift % 4 == 0 ? 1 : 100 + shift * 1000;
                    accesses.Add(new MemoryAccess(address, pid, size, AccessKind.Write, AccessMode.User));
                }
        Assert.Equal(accesses, Read(Write(accesses, 97)));
    }

    /// <summary>
    /// Mostly records of two or three bytes (a user read, write or fetch of pid 0 with a one-byte delta and size), the
    /// form decoded two to an 8-byte read, with a longer record (a modify, kernel mode, another pid, a far jump, a large
    /// size) every few records.
    /// </summary>
    private static List<MemoryAccess> ShortRecords(int count, int seed)
    {
        var random = new Random(seed);
        var list = new List<MemoryAccess>(count);
        ulong data = 0x601000, code = 0x401000;
        while (list.Count < count)
        {
            int step = random.Next(-31, 32);
            int pid = 0;
            var mode = AccessMode.User;
            int size = random.Next(1, 128);
            if (random.Next(7) == 0)
            {
                switch (random.Next(5))
                {
                    case 0: mode = AccessMode.Kernel; break;
                    case 1: pid = random.Next(1, 300); break;
                    case 2: step = random.Next(64, 100_000); break;
                    case 3: size = random.Next(128, 65536); break;
                    default:
                        data += (ulong)(long)step;
                        list.Add(new MemoryAccess(data, 0, 8, AccessKind.Read, AccessMode.User));
                        list.Add(new MemoryAccess(data, 0, 8, AccessKind.Write, AccessMode.User));
                        continue;
                }
            }
            var kind = (AccessKind)random.Next(3);
            if (kind == AccessKind.Fetch) code += (ulong)(long)step;
            else data += (ulong)(long)step;
            list.Add(new MemoryAccess(kind == AccessKind.Fetch ? code : data, pid, (ushort)size, kind, mode));
        }
        return list;
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(5)]
    [InlineData(8)]
    [InlineData(61)]
    [InlineData(65536)]
    public void ShortRecordsRoundTripWhereverTheyFallInTheBlockAndTheBatch(int recordsPerBlock)
    {
        var accesses = ShortRecords(30_000, recordsPerBlock);
        var data = Write(accesses, recordsPerBlock);
        foreach (int batch in new[] { 2, 3, 37, 4096 })
            Assert.Equal(accesses, Read(data, batch));
    }

    [Fact]
    public void AShortRecordCutByItsBlocksPayloadLengthIsAnErrorNamingItsByte()
    {
        // The second fetch is a short record of 3 bytes (a one-byte delta and a new size), the last of the block: the
        // header's payload length is lowered by one and the record's last byte dropped, so it runs past the payload.
        var data = Write([new MemoryAccess(0x401000, 0, 5, AccessKind.Fetch, AccessMode.User), new MemoryAccess(0x401005, 0, 3, AccessKind.Fetch, AccessMode.User)]).ToList();
        const int lengthAt = VmtFormat.HeaderSize + 12;
        int length = BitConverter.ToInt32(data.ToArray(), lengthAt);
        data.RemoveAt(VmtFormat.HeaderSize + VmtFormat.BlockHeaderSize + length - 1);
        var bytes = data.ToArray();
        BitConverter.GetBytes(length - 1).CopyTo(bytes, lengthAt);
        var e = Assert.Throws<VmLabInputException>(() => Read(bytes));
        Assert.Contains("block payload ends inside a record", e.Message);
        Assert.Equal($"t.vmt at byte {VmtFormat.HeaderSize + VmtFormat.BlockHeaderSize + length - 3}", e.Where);
    }

    [Fact]
    public void LackeyToVmtToLackeyIsByteIdentical()
    {
        var vmt = new MemoryStream();
        using (var reader = LackeyReader.Open(Trace("tiny.lackey"), "path", 0))
        {
            var writer = new VmtWriter(vmt, 4096, 300);
            var buffer = new MemoryAccess[64];
            int n;
            while ((n = reader.Read(buffer)) > 0) writer.Write(buffer.AsSpan(0, n));
            writer.Finish();
            Assert.Equal(2000, writer.Records); // the 20 M records stay single records
        }
        var text = new MemoryStream();
        var lackey = new LackeyTraceWriter(text, "out");
        lackey.Write(Read(vmt.ToArray()).ToArray());
        lackey.Finish();
        Assert.Equal(File.ReadAllBytes(Trace("tiny.lackey")), text.ToArray());
    }

    [Fact]
    public void HeaderCarriesMagicVersionAndPageSize()
    {
        var data = Write([MemoryAccess.Read(0x1000)], pageSize: 16384);
        Assert.Equal("VMLABTRC"u8.ToArray(), data[..8]);
        Assert.Equal(1, BitConverter.ToUInt16(data, 8));
        Assert.Equal(16384, new VmtReader(new MemoryStream(data), "t.vmt").PageSize);
    }

    [Fact]
    public void SkipSeeksThroughTheIndexToTheSameRecordsAsDecodingFromTheStart()
    {
        var accesses = RandomAccesses(5000, 3);
        string path = TempFile("seek.vmt");
        File.WriteAllBytes(path, Write(accesses, recordsPerBlock: 100));
        var all = new VmtReader(File.OpenRead(path), path);
        // walk record by record to know where each record starts among the accesses
        var full = new List<MemoryAccess>();
        var starts = new List<int>();
        while (true)
        {
            starts.Add(full.Count);
            var buffer = new MemoryAccess[2];
            int n = all.Read(buffer);
            if (n == 0) break;
            full.AddRange(buffer.AsSpan(0, n));
        }
        all.Dispose();
        foreach (long start in new long[] { 0, 1, 99, 100, 101, 2345, starts.Count - 2 })
        {
            var reader = VmtReader.Open(path, "path");
            var index = reader.ReadIndex()!;
            Assert.Equal(0, index[0].FirstRecord);
            reader.Skip(start);
            Assert.Equal(start, reader.Records);
            Assert.Equal(full.Skip(starts[(int)start]).ToList(), ReadAll(reader));
        }
    }

    [Fact]
    public void EveryTruncationIsAnInputErrorNeverASilentShortTrace()
    {
        var data = Write(RandomAccesses(300, 5), recordsPerBlock: 64);
        for (int cut = 0; cut < data.Length; cut++)
        {
            var e = Assert.Throws<VmLabInputException>(() => Read(data[..cut]));
            Assert.StartsWith("t.vmt at byte ", e.Where);
        }
    }

    [Theory]
    [InlineData(0, "not a VmLab trace")]
    [InlineData(8, "unsupported .vmt version")]
    [InlineData(32, "expected a block")]
    [InlineData(36, "inconsistent")]
    [InlineData(48, "reserved bits")]
    public void CorruptStructureIsAnErrorNamingTheByte(int offset, string message)
    {
        var data = Write([MemoryAccess.Read(0x1000), MemoryAccess.Write(0x2000)]);
        data[offset] = offset == 48 ? (byte)0xE1 : (byte)(data[offset] ^ 0x5A);
        if (offset == 36) data[36] = 0; // zero records in the block
        var e = Assert.Throws<VmLabInputException>(() => Read(data));
        Assert.Contains(message, e.Message);
        Assert.StartsWith("t.vmt at byte ", e.Where);
    }

    [Fact]
    public void CompactEncodingOfTheLsTraceTakesAboutThreeBytesPerRecord()
    {
        var vmt = new MemoryStream();
        long records;
        using (var reader = LackeyReader.Open(Trace("ls.lackey.gz"), "path", 0))
        {
            var writer = new VmtWriter(vmt);
            var buffer = new MemoryAccess[4096];
            int n;
            while ((n = reader.Read(buffer)) > 0) writer.Write(buffer.AsSpan(0, n));
            writer.Finish();
            records = reader.Records;
        }
        Assert.Equal(1_016_853, records);
        Assert.InRange((double)vmt.Length / records, 2.0, 4.0);
    }

    [Fact]
    public void DecodingNeverAllocatesPerRecord()
    {
        var data = Write(RandomAccesses(200_000, 9), recordsPerBlock: 4096);
        var buffer = new MemoryAccess[4096];
        long records = 0;
        long bytes = AllocationMeasurement.FewestBytes(() =>
        {
            var reader = new VmtReader(new MemoryStream(data), "t.vmt");
            reader.Read(buffer); // warm up: first block (sizes the payload buffer)
            return () =>
            {
                while (reader.Read(buffer) > 0) { }
                records = reader.Records;
            };
        });
        Assert.True(bytes < 1024, $"decoding allocated {bytes} bytes");
        Assert.True(records > 150_000);
    }
}
