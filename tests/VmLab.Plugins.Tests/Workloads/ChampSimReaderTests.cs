using VmLab.Traces;
using System.Buffers.Binary;
using VmLab.Abstractions;
using VmLab.Abstractions.Plugins;
using VmLab.Plugins.Workloads;
using static VmLab.Plugins.Tests.Workloads.TraceTestKit;

namespace VmLab.Plugins.Tests.Workloads;

public sealed class ChampSimReaderTests
{
    /// <summary>An input_instr as ChampSim lays it out: ip@0, branch@8-9, registers@10-15, destination memory@16, source memory@32.</summary>
    private static byte[] Standard(ulong ip, ulong[] destinations, ulong[] sources)
    {
        var r = new byte[64];
        BinaryPrimitives.WriteUInt64LittleEndian(r, ip);
        r[8] = 1; r[9] = 1; r[10] = 0xAA; r[15] = 0xBB; // branch and register bytes do not matter
        for (int i = 0; i < destinations.Length; i++) BinaryPrimitives.WriteUInt64LittleEndian(r.AsSpan(16 + 8 * i), destinations[i]);
        for (int i = 0; i < sources.Length; i++) BinaryPrimitives.WriteUInt64LittleEndian(r.AsSpan(32 + 8 * i), sources[i]);
        return r;
    }

    /// <summary>A cloudsuite_instr: ip@0, registers@10-17, padding, destination memory@24 (4), source memory@56 (4), asid@88.</summary>
    private static byte[] Cloudsuite(ulong ip, ulong[] destinations, ulong[] sources, byte asid)
    {
        var r = new byte[96];
        BinaryPrimitives.WriteUInt64LittleEndian(r, ip);
        for (int i = 0; i < destinations.Length; i++) BinaryPrimitives.WriteUInt64LittleEndian(r.AsSpan(24 + 8 * i), destinations[i]);
        for (int i = 0; i < sources.Length; i++) BinaryPrimitives.WriteUInt64LittleEndian(r.AsSpan(56 + 8 * i), sources[i]);
        r[88] = asid;
        r[89] = 0xFF;
        return r;
    }

    private static List<MemoryAccess> Read(byte[] data, ChampSimLayout layout, int batch = 37, long limit = long.MaxValue, int size = 1)
    {
        var reader = new ChampSimReader(new MemoryStream(data), "t.champsim", layout, pid: 5, useAsid: true, fetches: true, accessSize: size) { RecordLimit = limit };
        return ReadAll(reader, batch);
    }

    [Fact]
    public void StandardRecordIsAFetchThenLoadsThenStoresSkippingZeroAddresses()
    {
        var data = Standard(0x400000, [0x7000, 0], [0x1000, 0, 0x3000, 0x4000]);
        Assert.Equal(
            [MemoryAccess.Fetch(0x400000, 1, 5), MemoryAccess.Read(0x1000, 1, 5), MemoryAccess.Read(0x3000, 1, 5), MemoryAccess.Read(0x4000, 1, 5), MemoryAccess.Write(0x7000, 1, 5)],
            Read(data, ChampSimLayout.Standard));
    }

    [Fact]
    public void CloudsuiteRecordUsesAllFourDestinationsAndTheAsidAsPid()
    {
        var data = Cloudsuite(0x500000, [0x8000, 0x9000, 0, 0xA000], [0x2000], asid: 7).Concat(Cloudsuite(0x500004, [], [], asid: 9)).ToArray();
        Assert.Equal(
            [MemoryAccess.Fetch(0x500000, 1, 7), MemoryAccess.Read(0x2000, 1, 7), MemoryAccess.Write(0x8000, 1, 7), MemoryAccess.Write(0x9000, 1, 7), MemoryAccess.Write(0xA000, 1, 7),
             MemoryAccess.Fetch(0x500004, 1, 9)],
            Read(data, ChampSimLayout.Cloudsuite));
    }

    [Fact]
    public void AccessSizeOptionAppliesToEveryAccess()
    {
        var accesses = Read(Standard(0x400000, [0x7000, 0], [0x1000]), ChampSimLayout.Standard, size: 8);
        Assert.All(accesses, a => Assert.Equal(8, a.Size));
    }

    [Fact]
    public void XzSampleBuiltFromTinyLackeyGivesTheLackeyAccessesGroupedByInstruction()
    {
        // configs/traces/tiny.champsim.xz was made by lackey2champsim.py: each I is an instruction, its L/M addresses its
        // sources (at most 4), its S/M addresses its destinations (at most 2). Rebuild that expectation from the text.
        var expected = new List<MemoryAccess>();
        ulong? ip = null;
        var loads = new List<ulong>();
        var stores = new List<ulong>();
        void Flush()
        {
            if (ip is null) return;
            expected.Add(MemoryAccess.Fetch(ip.Value, 1, 5));
            foreach (var l in loads.Take(4)) expected.Add(MemoryAccess.Read(l, 1, 5));
            foreach (var s in stores.Take(2)) expected.Add(MemoryAccess.Write(s, 1, 5));
        }
        foreach (var line in File.ReadLines(Trace("tiny.lackey")))
        {
            var parts = line.Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries);
            ulong address = Convert.ToUInt64(parts[1].Split(',')[0], 16);
            if (parts[0] == "I")
            {
                Flush();
                ip = address;
                loads.Clear();
                stores.Clear();
            }
            if (parts[0] is "L" or "M") loads.Add(address);
            if (parts[0] is "S" or "M") stores.Add(address);
        }
        Flush();

        var reader = new ChampSimReader(TraceFile.Open(Trace("tiny.champsim.xz"), "path"), "tiny.champsim.xz", ChampSimLayout.Standard, 5, false, true, 1);
        var actual = ReadAll(reader);
        Assert.Equal(1512, reader.Records);
        Assert.Equal(expected, actual);
    }

    [Fact]
    public void LimitCountsInstructions()
    {
        var data = Standard(0x400000, [], [0x1000]).Concat(Standard(0x400004, [], [0x1008])).Concat(Standard(0x400008, [], [])).ToArray();
        var accesses = Read(data, ChampSimLayout.Standard, limit: 2);
        Assert.Equal(4, accesses.Count);
    }

    [Fact]
    public void TruncatedLastRecordIsAnErrorWithItsByteOffset()
    {
        var data = Standard(0x400000, [], []).Concat(Standard(0x400004, [], [])).ToArray()[..100];
        var e = Assert.Throws<VmLabInputException>(() => Read(data, ChampSimLayout.Standard));
        Assert.Equal("t.champsim at byte 64", e.Where);
        Assert.Contains("36 of its 64 bytes", e.Message);
    }

    [Fact]
    public void WithoutFetchesOnlyTheDataAccessesRemain()
    {
        var data = Standard(0x400000, [0x7000], [0x1000]);
        var reader = new ChampSimReader(new MemoryStream(data), "t", ChampSimLayout.Standard, 1, useAsid: false, fetches: false, accessSize: 1);
        Assert.Equal([MemoryAccess.Read(0x1000, 1, 1), MemoryAccess.Write(0x7000, 1, 1)], ReadAll(reader));
    }

    [Fact]
    public void CloudsuiteWithoutAsidUsesTheConfiguredPid()
    {
        var reader = new ChampSimReader(new MemoryStream(Cloudsuite(0x500000, [], [], asid: 7)), "t", ChampSimLayout.Cloudsuite, 4, useAsid: false, fetches: true, accessSize: 1);
        Assert.Equal([MemoryAccess.Fetch(0x500000, 1, 4)], ReadAll(reader));
    }
}
