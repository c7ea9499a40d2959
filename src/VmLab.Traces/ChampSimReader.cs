using System.Buffers.Binary;
using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
using VmLab.Abstractions;
using VmLab.Abstractions.Plugins;

namespace VmLab.Traces;

/// <summary>The record layout of a ChampSim trace.</summary>
public enum ChampSimLayout
{
    /// <summary><c>input_instr</c>, 64 bytes: ip, branch bytes, 2 destination and 4 source registers, 2 destination and 4 source addresses.</summary>
    Standard,

    /// <summary><c>cloudsuite_instr</c>, 96 bytes: 4 destination and 4 source registers and addresses, and a 2-byte ASID.</summary>
    Cloudsuite,
}

public sealed record ChampSimOptions
{
    [Description("Trace file (.xz, .gz, .zst or plain; compression is told by content), relative to the config file.")]
    [Required]
    [ExistingFile]
    public string Path { get; init; } = "";

    [Description("Record layout: standard (input_instr, 64 bytes) or cloudsuite (cloudsuite_instr, 96 bytes).")]
    public ChampSimLayout Layout { get; init; } = ChampSimLayout.Standard;

    [Description("Process id of the accesses (standard layout; cloudsuite records carry their own ASID, used as the pid unless useAsid is false).")]
    [Range(0, 65535)]
    public int Pid { get; init; }

    [Description("Cloudsuite layout: use the record's asid[0] as the process id.")]
    public bool UseAsid { get; init; } = true;

    [Description("Fetch the instruction at ip before its loads and stores.")]
    public bool Fetches { get; init; } = true;

    [Description("Bytes per access (the format records no sizes).")]
    [Range(1, 4096)]
    public int AccessSize { get; init; } = 1;

    [Description("Instructions (records) to skip at the start of the trace.")]
    [Range(typeof(long), "0", "9223372036854775807")]
    public long Start { get; init; }

    [Description("Stop after this many instructions (0 = the whole trace).")]
    [Range(typeof(long), "0", "9223372036854775807")]
    public long Limit { get; init; }

    [Description(TraceDecoding.OptionDescription)]
    [Range(0, 1)]
    public int DecodeThreads { get; init; }
}

/// <summary>
/// ChampSim binary traces. Per instruction: a fetch of <c>ip</c>, then one load per non-zero source address, then one
/// store per non-zero destination address — the order ChampSim itself issues them. The format carries no access sizes:
/// every access is <see cref="ChampSimOptions.AccessSize"/> bytes (1 by default, so none straddles a page).
/// </summary>
public sealed class ChampSimReader : TraceReader
{
    public const int StandardRecordSize = 64;
    public const int CloudsuiteRecordSize = 96;

    private readonly RecordSource _records;
    private readonly ChampSimLayout _layout;
    private readonly int _recordSize;
    private readonly int _pid;
    private readonly bool _useAsid;
    private readonly bool _fetches;
    private readonly ushort _size;

    public ChampSimReader(Stream stream, string path, ChampSimLayout layout, int pid, bool useAsid, bool fetches, int accessSize) : base(path, stream)
    {
        _layout = layout;
        _recordSize = layout == ChampSimLayout.Standard ? StandardRecordSize : CloudsuiteRecordSize;
        _records = new RecordSource(stream, path, layout == ChampSimLayout.Standard ? "ChampSim" : "ChampSim cloudsuite", _recordSize);
        _pid = pid;
        _useAsid = useAsid;
        _fetches = fetches;
        _size = (ushort)accessSize;
    }

    /// <summary>1 fetch + 4 loads + 4 stores (cloudsuite) or 1 + 4 + 2 (standard).</summary>
    public override int MaxAccessesPerRecord => _layout == ChampSimLayout.Standard ? 7 : 9;

    public override int Read(Span<MemoryAccess> destination)
    {
        int n = 0;
        int per = MaxAccessesPerRecord;
        long records = Records;
        while (n + per <= destination.Length && records < RecordLimit)
        {
            long want = Math.Min((destination.Length - n) / per, RecordLimit - records);
            var span = _records.Next((int)Math.Min(want, int.MaxValue));
            if (span.IsEmpty) break;
            int count = span.Length / _recordSize;
            n = _layout == ChampSimLayout.Standard ? DecodeStandard(span, count, destination, n) : DecodeCloudsuite(span, count, destination, n);
            records += count;
        }
        Records = records;
        Accesses += n;
        return n;
    }

    private int DecodeStandard(ReadOnlySpan<byte> span, int count, Span<MemoryAccess> destination, int n)
    {
        int pid = _pid;
        ushort size = _size;
        for (int r = 0; r < count; r++)
        {
            var rec = span.Slice(r * StandardRecordSize, StandardRecordSize);
            if (_fetches) destination[n++] = new MemoryAccess(BinaryPrimitives.ReadUInt64LittleEndian(rec), pid, size, AccessKind.Fetch, AccessMode.User);
            for (int i = 0; i < 4; i++)
            {
                ulong a = BinaryPrimitives.ReadUInt64LittleEndian(rec[(32 + 8 * i)..]);
                if (a != 0) destination[n++] = new MemoryAccess(a, pid, size, AccessKind.Read, AccessMode.User);
            }
            for (int i = 0; i < 2; i++)
            {
                ulong a = BinaryPrimitives.ReadUInt64LittleEndian(rec[(16 + 8 * i)..]);
                if (a != 0) destination[n++] = new MemoryAccess(a, pid, size, AccessKind.Write, AccessMode.User);
            }
        }
        return n;
    }

    private int DecodeCloudsuite(ReadOnlySpan<byte> span, int count, Span<MemoryAccess> destination, int n)
    {
        ushort size = _size;
        for (int r = 0; r < count; r++)
        {
            var rec = span.Slice(r * CloudsuiteRecordSize, CloudsuiteRecordSize);
            int pid = _useAsid ? rec[88] : _pid;
            if (_fetches) destination[n++] = new MemoryAccess(BinaryPrimitives.ReadUInt64LittleEndian(rec), pid, size, AccessKind.Fetch, AccessMode.User);
            for (int i = 0; i < 4; i++)
            {
                ulong a = BinaryPrimitives.ReadUInt64LittleEndian(rec[(56 + 8 * i)..]);
                if (a != 0) destination[n++] = new MemoryAccess(a, pid, size, AccessKind.Read, AccessMode.User);
            }
            for (int i = 0; i < 4; i++)
            {
                ulong a = BinaryPrimitives.ReadUInt64LittleEndian(rec[(24 + 8 * i)..]);
                if (a != 0) destination[n++] = new MemoryAccess(a, pid, size, AccessKind.Write, AccessMode.User);
            }
        }
        return n;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) _records.Dispose();
    }
}
