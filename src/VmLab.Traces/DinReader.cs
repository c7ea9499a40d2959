using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
using VmLab.Abstractions;
using VmLab.Abstractions.Plugins;

namespace VmLab.Traces;

public sealed record DinOptions
{
    [Description("Trace file in Dinero din or xdin text (plain, .gz, .xz or .zst), relative to the config file.")]
    [Required]
    [ExistingFile]
    public string Path { get; init; } = "";

    [Description("Process id the trace's accesses belong to.")]
    [Range(0, 65535)]
    public int Pid { get; init; }

    [Description("Bytes per access for din records (din carries no size; xdin records carry their own).")]
    [Range(1, 4096)]
    public int AccessSize { get; init; } = 1;

    [Description("Records to skip at the start of the trace.")]
    [Range(typeof(long), "0", "9223372036854775807")]
    public long Start { get; init; }

    [Description("Stop after this many records (0 = the whole trace).")]
    [Range(typeof(long), "0", "9223372036854775807")]
    public long Limit { get; init; }

    [Description(TraceDecoding.OptionDescription)]
    [Range(0, 1)]
    public int DecodeThreads { get; init; }
}

/// <summary>
/// Dinero traces, both text formats of Dinero IV, told apart line by line:
/// <list type="bullet">
/// <item><b>din</b> (Dinero III, <c>-informat d</c>): <c>label address</c>, address in hex without <c>0x</c>;
/// label 0 read, 1 write, 2 instruction fetch, 3 "unknown access type" (simulated as a read, as Dinero IV treats it
/// like a miscellaneous reference), 4 cache flush (no memory access; skipped).</item>
/// <item><b>xdin</b> (Dinero IV extended din): <c>type address size</c>, address and size in hex (optional <c>0x</c>);
/// type r read, w write, i fetch, m miscellaneous (a read), c copy-back and v invalidate (cache management, no access; skipped).</item>
/// </list>
/// The rest of a line after the fields is a comment. Blank lines are skipped.
/// </summary>
public sealed class DinReader : TraceReader
{
    private readonly LineSource _lines;
    private readonly int _pid;
    private readonly ushort _size;

    public DinReader(Stream stream, string path, int pid, int accessSize) : base(path, stream)
    {
        _lines = new LineSource(stream, path, "Dinero din");
        _pid = pid;
        _size = (ushort)accessSize;
    }

    public override int MaxAccessesPerRecord => 1;

    public override int Read(Span<MemoryAccess> destination)
    {
        int n = 0;
        long records = Records;
        long limit = RecordLimit;
        while (n < destination.Length && records < limit && _lines.TryReadLine(out var line))
        {
            int result = Parse(line, _size, out var kind, out ulong address, out ushort size);
            if (result < 0) throw Malformed(line, result);
            if (result == 0) continue;
            records++;
            if (result == 2) continue; // a flush, copy-back or invalidate: a record, not an access
            destination[n++] = new MemoryAccess(address, _pid, size, kind, AccessMode.User);
        }
        Records = records;
        Accesses += n;
        return n;
    }

    /// <summary>Parses one line: 1 an access, 2 a record that is not an access, 0 a blank line, negative malformed (-1 din, -2 xdin).</summary>
    public static int Parse(ReadOnlySpan<byte> line, ushort dinSize, out AccessKind kind, out ulong address, out ushort size)
    {
        kind = AccessKind.Read;
        address = 0;
        size = dinSize;
        int i = 0;
        while (i < line.Length && Text.IsBlank(line[i])) i++;
        if (i == line.Length) return 0;
        byte label = line[i++];
        bool xdin;
        bool access = true;
        switch (label)
        {
            case (byte)'0': kind = AccessKind.Read; xdin = false; break;
            case (byte)'1': kind = AccessKind.Write; xdin = false; break;
            case (byte)'2': kind = AccessKind.Fetch; xdin = false; break;
            case (byte)'3': kind = AccessKind.Read; xdin = false; break;
            case (byte)'4': access = false; xdin = false; break;
            case (byte)'r' or (byte)'R': kind = AccessKind.Read; xdin = true; break;
            case (byte)'w' or (byte)'W': kind = AccessKind.Write; xdin = true; break;
            case (byte)'i' or (byte)'I': kind = AccessKind.Fetch; xdin = true; break;
            case (byte)'m' or (byte)'M': kind = AccessKind.Read; xdin = true; break;
            case (byte)'c' or (byte)'C' or (byte)'v' or (byte)'V': access = false; xdin = true; break;
            default: return char.IsAsciiDigit((char)label) ? -1 : -2;
        }
        int bad = xdin ? -2 : -1;
        if (i == line.Length || !Text.IsBlank(line[i])) return bad;
        while (i < line.Length && Text.IsBlank(line[i])) i++;
        if (xdin)
        {
            if (!Text.TryHex(line, ref i, out address)) return bad;
        }
        else
        {
            int digits = 0;
            while (i < line.Length && Text.HexValue(line[i]) is int v and >= 0)
            {
                if (address >> 60 != 0) return bad;
                address = (address << 4) | (uint)v;
                digits++;
                i++;
            }
            if (digits == 0) return bad;
        }
        if (i < line.Length && !Text.IsBlank(line[i])) return bad;
        if (xdin)
        {
            while (i < line.Length && Text.IsBlank(line[i])) i++;
            if (!Text.TryHex(line, ref i, out ulong s) || s == 0 || s > ushort.MaxValue) return bad;
            if (i < line.Length && !Text.IsBlank(line[i])) return bad;
            size = (ushort)s;
        }
        return access ? 1 : 2;
    }

    private VmLabInputException Malformed(ReadOnlySpan<byte> line, int result) =>
        new(_lines.Where, result == -1
            ? $"malformed din record \"{Printable(line)}\"; expected \"<label> <hex address>\" with label 0 (read), 1 (write), 2 (fetch), 3 (misc) or 4 (flush)"
            : $"malformed xdin record \"{Printable(line)}\"; expected \"<type> <hex address> <hex size>\" with type r, w, i, m, c or v (or a din line \"<label> <hex address>\")");

    protected override void Dispose(bool disposing)
    {
        if (disposing) _lines.Dispose();
    }
}
