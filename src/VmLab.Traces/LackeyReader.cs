using System.ComponentModel;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.ComponentModel.DataAnnotations;
using VmLab.Abstractions;
using VmLab.Abstractions.Plugins;
using VmLab.Abstractions.Traces;
using VmLab.Abstractions.Workloads;

namespace VmLab.Traces;

public sealed record LackeyOptions
{
    [Description("Trace file (plain, .gz, .xz or .zst; compression is told by content), relative to the config file.")]
    [Required]
    [ExistingFile]
    public string Path { get; init; } = "";

    [Description("Process id the trace's accesses belong to.")]
    [Range(0, 65535)]
    public int Pid { get; init; }

    [Description("The traced process's /proc/PID/maps text: its VMAs replace the implicit address space, so accesses outside them fault. Empty: every address is valid memory.")]
    [ExistingFile]
    public string Maps { get; init; } = "";

    [Description("What the maps file's permissions mean: extent (only addresses outside every VMA fault) or recorded (the snapshot's permissions apply, which may refuse accesses made before a later mprotect).")]
    public MapsProtections MapsProtections { get; init; } = MapsProtections.Extent;

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

/// <summary>The <c>lackey</c> workload: a <see cref="LackeyReader"/> run through <see cref="TraceWorkload"/>, honouring pid, start and limit.</summary>
/// <param name="formats">The trace formats to recognise a file given by mistake (a <c>.vmt</c>): the host's catalog, or the built-in formats.</param>
/// <param name="workloadFor">The workload that reads a format of that name, if any.</param>
/// <param name="decoding">Where the trace is decoded; by default what <see cref="LackeyOptions.DecodeThreads"/> asks for on this machine.</param>
public sealed class LackeyWorkload(LackeyOptions options, string path, string keyPath, string? mapsPath = null,
    IReadOnlyList<ITraceFormat>? formats = null, Func<string, string?>? workloadFor = null, TraceDecoding? decoding = null) : ITraceWorkload
{
    private readonly TraceWorkload _trace = new(() => TraceWorkload.Range(
        new LackeyReader(TraceInput.OpenExpecting(path, keyPath + ":path", TraceFormats.Lackey, formats ?? TraceFormats.BuiltIn, workloadFor), path, options.Pid),
        options.Start, options.Limit), decoding ?? TraceDecoding.For(options.DecodeThreads, null));

    public double? Progress => _trace.Progress;

    /// <summary>Whether the last pass decoded on a thread of its own.</summary>
    public bool DecodedAhead => _trace.DecodedAhead;

    public void Run(ISimulation simulation, CancellationToken cancellationToken)
    {
        if (mapsPath is not null) Prepare(simulation.Kernel);
        Stream(simulation, cancellationToken);
    }

    public void Prepare(IKernelApi kernel)
    {
        if (mapsPath is not null) ProcMaps.Apply(kernel, options.Pid, mapsPath, kernel.UserTop, options.MapsProtections);
    }

    public void Stream(ISimulation simulation, CancellationToken cancellationToken) => _trace.Stream(simulation, cancellationToken);
}

/// <summary>
/// Valgrind Lackey (<c>--trace-mem=yes</c>) text: <c>I  addr,size</c> (fetch), <c> L</c> (load), <c> S</c> (store),
/// <c> M</c> (modify: a load then a store). Lines of valgrind's own output (<c>==pid==</c>) and blank lines are skipped.
/// </summary>
public sealed class LackeyReader : TraceReader
{
    private readonly LineSource _lines;
    private readonly int _pid;

    public LackeyReader(Stream stream, string path, int pid) : base(path, stream)
    {
        _lines = new LineSource(stream, path, "Lackey");
        _pid = pid;
    }

    public static LackeyReader Open(string path, string keyPath, int pid) => new(TraceFile.Open(path, keyPath), path, pid);

    public override int MaxAccessesPerRecord => 2;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public override int Read(Span<MemoryAccess> destination)
    {
        int n = 0;
        long records = Records;
        long limit = RecordLimit;
        int pid = _pid;
        while (n + 2 <= destination.Length && records < limit)
        {
            var window = _lines.Buffered;
            if (window.Length >= FastLineBytes)
            {
                // Lines as valgrind writes them, parsed in place: "I  hex,dec\n" or " K hex,dec\n".
                ref byte first = ref MemoryMarshal.GetReference(window);
                int last = window.Length - FastLineBytes;
                int at = 0, lines = 0;
                while (at <= last && n + 2 <= destination.Length && records < limit)
                {
                    int length = TryParseFast(ref Unsafe.Add(ref first, at), out byte kind, out ulong address, out ushort size);
                    if (length == 0) break;
                    at += length;
                    lines++;
                    records++;
                    switch (kind)
                    {
                        case (byte)'I':
                            destination[n++] = new MemoryAccess(address, pid, size, AccessKind.Fetch, AccessMode.User);
                            break;
                        case (byte)'L':
                            destination[n++] = new MemoryAccess(address, pid, size, AccessKind.Read, AccessMode.User);
                            break;
                        case (byte)'S':
                            destination[n++] = new MemoryAccess(address, pid, size, AccessKind.Write, AccessMode.User);
                            break;
                        default:
                            destination[n++] = new MemoryAccess(address, pid, size, AccessKind.Read, AccessMode.User);
                            destination[n++] = new MemoryAccess(address, pid, size, AccessKind.Write, AccessMode.User);
                            break;
                    }
                }
                _lines.Advance(at, lines);
                if (n + 2 > destination.Length || records >= limit) break;
                if (at > last) continue; // the window's tail: read more first
                // Otherwise a line of another shape (valgrind's own, blank, CRLF, malformed): the general parser takes it.
            }
            else if (_lines.Fill())
            {
                continue;
            }
            if (!_lines.TryReadLine(out var line)) break;
            if (!TryParse(line, out char k, out ulong a, out ushort s, out bool skip))
                throw Malformed(line);
            if (skip) continue;
            records++;
            switch (k)
            {
                case 'I':
                    destination[n++] = new MemoryAccess(a, pid, s, AccessKind.Fetch, AccessMode.User);
                    break;
                case 'L':
                    destination[n++] = new MemoryAccess(a, pid, s, AccessKind.Read, AccessMode.User);
                    break;
                case 'S':
                    destination[n++] = new MemoryAccess(a, pid, s, AccessKind.Write, AccessMode.User);
                    break;
                default:
                    destination[n++] = new MemoryAccess(a, pid, s, AccessKind.Read, AccessMode.User);
                    destination[n++] = new MemoryAccess(a, pid, s, AccessKind.Write, AccessMode.User);
                    break;
            }
        }
        Records = records;
        Accesses += n;
        return n;
    }

    /// <summary>Bytes that must follow a line's start for <see cref="TryParseFast"/> to read it: the longest line it takes (26) and its loads.</summary>
    public const int FastLineBytes = 32;

    /// <summary>
    /// Parses the common shape of a record in place — <c>I␣␣</c> or <c>␣L␣</c>/<c>␣S␣</c>/<c>␣M␣</c>, 1 to 16 hex
    /// digits, a comma, 1 to 5 decimal digits (at most 65535), <c>\n</c> — and returns its length with the
    /// <c>\n</c>; 0 for any other line, which <see cref="TryParse"/> then reads (so both accept exactly the same
    /// lines). The hex digits are told apart with one 16-byte compare and converted 8 at a time.
    /// <paramref name="line"/> must have <see cref="FastLineBytes"/> readable bytes.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.AggressiveInlining)]
    public static int TryParseFast(ref byte line, out byte kind, out ulong address, out ushort size)
    {
        address = 0;
        size = 0;
        kind = line;
        uint head = Unsafe.ReadUnaligned<uint>(ref line) & 0x00FFFFFF;
        if (head != ('I' | ' ' << 8 | ' ' << 16))
        {
            kind = Unsafe.Add(ref line, 1);
            if ((head & 0x00FF00FF) != (' ' | ' ' << 16) || (kind != (byte)'L' && kind != (byte)'S' && kind != (byte)'M'))
                return 0;
        }
        ref byte digits = ref Unsafe.Add(ref line, 3);
        var chars = Vector128.LoadUnsafe(ref digits);
        var hex = Vector128.LessThan(chars - Vector128.Create((byte)'0'), Vector128.Create((byte)10))
                  | Vector128.LessThan((chars | Vector128.Create((byte)0x20)) - Vector128.Create((byte)'a'), Vector128.Create((byte)6));
        int count = BitOperations.TrailingZeroCount(~hex.ExtractMostSignificantBits());
        if (count == 0 || Unsafe.Add(ref digits, count) != (byte)',') return 0;
        if (count <= 8)
        {
            address = Hex8(Unsafe.ReadUnaligned<ulong>(ref digits) << (8 * (8 - count)));
        }
        else
        {
            ulong high = Hex8(Unsafe.ReadUnaligned<ulong>(ref digits)) >> (4 * (16 - count));
            address = (high << 32) | Hex8(Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref digits, count - 8)));
        }
        ref byte decimals = ref Unsafe.Add(ref digits, count + 1);
        uint value = 0;
        int i = 0;
        for (; i < 6; i++)
        {
            uint d = (uint)(Unsafe.Add(ref decimals, i) - '0');
            if (d > 9) break;
            value = value * 10 + d;
        }
        if (i == 0 || i > 5 || value > ushort.MaxValue || Unsafe.Add(ref decimals, i) != (byte)'\n') return 0;
        size = (ushort)value;
        return 3 + count + 1 + i + 1;
    }

    /// <summary>Eight ASCII hex digits, the first in the lowest byte, as their value (leading zero bytes count as 0 digits).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Hex8(ulong chars)
    {
        // A digit's low nibble, plus 9 for a letter (bit 6 set): '0'-'9' 0-9, 'a'-'f' and 'A'-'F' 10-15; a zero byte is 0.
        ulong v = (chars & 0x0F0F0F0F0F0F0F0FUL) + ((chars >> 6) & 0x0101010101010101UL) * 9;
        v = ((v << 4) | (v >> 8)) & 0x00FF00FF00FF00FFUL;
        v = ((v << 8) | (v >> 16)) & 0x0000FFFF0000FFFFUL;
        return ((v << 16) | (v >> 32)) & 0xFFFFFFFFUL;
    }

    private VmLabInputException Malformed(ReadOnlySpan<byte> line) =>
        new(_lines.Where,
            $"malformed Lackey record \"{Printable(line)}\"; expected \"I  <hex address>,<size>\" or \" L|S|M <hex address>,<size>\" as written by valgrind --tool=lackey --trace-mem=yes");

    protected override void Dispose(bool disposing)
    {
        if (disposing) _lines.Dispose();
    }

    /// <summary>Parses one line; <paramref name="skip"/> for blank lines and valgrind's own <c>==pid==</c> lines.</summary>
    public static bool TryParse(ReadOnlySpan<byte> line, out char kind, out ulong address, out ushort size, out bool skip)
    {
        kind = '\0';
        address = 0;
        size = 0;
        skip = false;
        int i = 0;
        while (i < line.Length && line[i] == (byte)' ') i++;
        if (i == line.Length || (line[i] == (byte)'\r' && i == line.Length - 1))
        {
            skip = true;
            return true;
        }
        if (line[i] == (byte)'=' && i + 1 < line.Length && line[i + 1] == (byte)'=')
        {
            skip = true;
            return true;
        }
        byte k = line[i++];
        if (k != (byte)'I' && k != (byte)'L' && k != (byte)'S' && k != (byte)'M') return false;
        kind = (char)k;
        int spaces = 0;
        while (i < line.Length && line[i] == (byte)' ') { i++; spaces++; }
        if (spaces == 0) return false;
        int digits = 0;
        while (i < line.Length)
        {
            int v = Text.HexValue(line[i]);
            if (v < 0) break;
            if (address >> 60 != 0) return false;
            address = (address << 4) | (uint)v;
            digits++;
            i++;
        }
        if (digits == 0 || i == line.Length || line[i] != (byte)',') return false;
        i++;
        int sizeDigits = 0;
        uint s = 0;
        while (i < line.Length && line[i] >= (byte)'0' && line[i] <= (byte)'9')
        {
            s = s * 10 + (uint)(line[i] - '0');
            if (s > ushort.MaxValue) return false;
            sizeDigits++;
            i++;
        }
        if (sizeDigits == 0) return false;
        while (i < line.Length && (line[i] == (byte)' ' || line[i] == (byte)'\r')) i++;
        if (i != line.Length) return false;
        size = (ushort)s;
        return true;
    }
}
