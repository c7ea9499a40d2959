using System.Globalization;
using System.Text;
using VmLab.Abstractions;
using VmLab.Abstractions.Plugins;
using VmLab.Abstractions.Traces;

[assembly: VmLabPlugin(typeof(PinTrace.PinTraceModule))]

namespace PinTrace;

/// <summary>The plugin's entry point: one trace format.</summary>
public sealed class PinTraceModule : IPluginModule
{
    public void Register(IPluginRegistry registry) => registry.AddTraceFormat(new PinTraceFormat());
}

/// <summary>
/// The text trace of Pin's <c>pinatrace</c> tool (Intel Pin, <c>source/tools/ManualExamples/pinatrace.cpp</c>): one
/// line per memory operand an executed instruction reads or writes, <c>&lt;ip&gt;: R &lt;address&gt;</c> or
/// <c>&lt;ip&gt;: W &lt;address&gt;</c>, both printed with <c>%p</c> (<c>0x</c> and lower-case hex, <c>(nil)</c> for
/// zero), and <c>#eof</c> as the last line when the traced program ended normally. An instruction that reads and
/// writes memory gives an R line, then a W line. The format records neither access sizes nor processes nor
/// instruction fetches: each line is one access of <see cref="TraceReaderOptions.AccessSize"/> bytes by process
/// <see cref="TraceReaderOptions.Pid"/>. Pin's default output file is <c>pinatrace.out</c>.
/// </summary>
public sealed class PinTraceFormat : ITraceFormat
{
    public string Name => "pinatrace";

    public string Description => "Intel Pin pinatrace text (\"<ip>: R|W <address>\", then #eof): data reads and writes, no sizes or fetches.";

    public IReadOnlyList<string> Extensions { get; } = [".pinatrace", "pinatrace.out"];

    public bool CanWrite => true;

    public TraceMatch Sniff(ReadOnlySpan<byte> head, bool complete, string fileName)
    {
        while (!head.IsEmpty)
        {
            int nl = head.IndexOf((byte)'\n');
            if (nl < 0 && !complete) return TraceMatch.No; // a cut line proves nothing
            var line = nl < 0 ? head : head[..nl];
            head = nl < 0 ? default : head[(nl + 1)..];
            var kind = PinTraceReader.Parse(line, out _, out _);
            if (kind == LineKind.Blank) continue;
            return kind is LineKind.Read or LineKind.Write ? TraceMatch.Likely : TraceMatch.No;
        }
        return TraceMatch.No;
    }

    public ITraceReader OpenReader(Stream input, TraceReaderOptions options) => new PinTraceReader(input, options);

    public ITraceWriter CreateWriter(Stream output, TraceWriterOptions options) => new PinTraceWriter(output, options.Path);
}

/// <summary>What a line of a pinatrace trace is.</summary>
public enum LineKind
{
    Malformed,
    Blank,
    Read,
    Write,
    End,
}

/// <summary>Decodes pinatrace text through one fixed buffer: no allocation per line.</summary>
public sealed class PinTraceReader : ITraceReader
{
    private const int BufferSize = 1 << 16;

    private readonly Stream _input;
    private readonly string _path;
    private readonly int _pid;
    private readonly ushort _size;
    private readonly byte[] _buffer = new byte[BufferSize];
    private int _start, _end;
    private bool _eof, _sawEnd;
    private long _line;

    public PinTraceReader(Stream input, TraceReaderOptions options)
    {
        _input = input;
        _path = options.Path;
        _pid = options.Pid;
        _size = (ushort)options.AccessSize;
    }

    public int MaxAccessesPerRecord => 1;
    public long Records { get; private set; }
    public long Accesses { get; private set; }
    public long RecordLimit { get; set; } = long.MaxValue;

    public int Read(Span<MemoryAccess> destination)
    {
        int n = 0;
        while (n < destination.Length && Records < RecordLimit && TryReadLine(out var line))
        {
            switch (Parse(line, out _, out ulong address))
            {
                case LineKind.Blank:
                    continue;
                case LineKind.Read:
                    destination[n++] = new MemoryAccess(address, _pid, _size, AccessKind.Read, AccessMode.User);
                    break;
                case LineKind.Write:
                    destination[n++] = new MemoryAccess(address, _pid, _size, AccessKind.Write, AccessMode.User);
                    break;
                case LineKind.End:
                    _sawEnd = true;
                    continue;
                default:
                    throw Malformed(line);
            }
            Records++;
        }
        Accesses += n;
        return n;
    }

    public void Skip(long records)
    {
        var scratch = new MemoryAccess[4096];
        long saved = RecordLimit;
        RecordLimit = Records + records;
        while (Read(scratch) > 0) { }
        RecordLimit = saved;
    }

    /// <summary>
    /// Parses one line: <c>0x7f..: R 0x7ffd..</c> (<c>(nil)</c> for a zero pointer), a blank line, or <c>#eof</c>.
    /// </summary>
    public static LineKind Parse(ReadOnlySpan<byte> line, out ulong ip, out ulong address)
    {
        ip = address = 0;
        if (!line.IsEmpty && line[^1] == (byte)'\r') line = line[..^1];
        line = line.Trim((byte)' ');
        if (line.IsEmpty) return LineKind.Blank;
        if (line.SequenceEqual("#eof"u8)) return LineKind.End;
        int i = 0;
        if (!Pointer(line, ref i, out ip) || i >= line.Length || line[i++] != (byte)':') return LineKind.Malformed;
        if (i >= line.Length || line[i++] != (byte)' ' || i >= line.Length) return LineKind.Malformed;
        byte kind = line[i++];
        if ((kind != (byte)'R' && kind != (byte)'W') || i >= line.Length || line[i++] != (byte)' ') return LineKind.Malformed;
        if (!Pointer(line, ref i, out address) || i != line.Length) return LineKind.Malformed;
        return kind == (byte)'R' ? LineKind.Read : LineKind.Write;
    }

    /// <summary>A <c>%p</c> value: <c>0x</c> and 1 to 16 hex digits, or <c>(nil)</c>.</summary>
    private static bool Pointer(ReadOnlySpan<byte> s, ref int i, out ulong value)
    {
        value = 0;
        if (s[i..].StartsWith("(nil)"u8))
        {
            i += 5;
            return true;
        }
        if (!s[i..].StartsWith("0x"u8)) return false;
        i += 2;
        int digits = 0;
        for (; i < s.Length; i++, digits++)
        {
            int d = s[i] switch
            {
                >= (byte)'0' and <= (byte)'9' => s[i] - '0',
                >= (byte)'a' and <= (byte)'f' => s[i] - 'a' + 10,
                >= (byte)'A' and <= (byte)'F' => s[i] - 'A' + 10,
                _ => -1,
            };
            if (d < 0) break;
            if (digits == 16) return false;
            value = (value << 4) | (uint)d;
        }
        return digits > 0;
    }

    private bool TryReadLine(out ReadOnlySpan<byte> line)
    {
        while (true)
        {
            int nl = _buffer.AsSpan(_start, _end - _start).IndexOf((byte)'\n');
            if (nl >= 0)
            {
                line = _buffer.AsSpan(_start, nl);
                _start += nl + 1;
                return Counted(line);
            }
            if (_eof)
            {
                line = _buffer.AsSpan(_start, _end - _start);
                _start = _end;
                return !line.IsEmpty && Counted(line);
            }
            if (_start > 0)
            {
                _buffer.AsSpan(_start, _end - _start).CopyTo(_buffer);
                _end -= _start;
                _start = 0;
            }
            if (_end == _buffer.Length)
                throw new VmLabInputException($"{_path}:{_line + 1}", $"line longer than {BufferSize} bytes; this is not a pinatrace trace");
            int n = _input.Read(_buffer, _end, _buffer.Length - _end);
            if (n == 0) _eof = true;
            _end += n;
        }
    }

    private bool Counted(ReadOnlySpan<byte> line)
    {
        _line++;
        // #eof is pinatrace's last line: anything but blank lines after it means two traces were joined or the file is damaged.
        if (_sawEnd && !line.Trim((byte)' ').Trim((byte)'\r').IsEmpty)
            throw new VmLabInputException($"{_path}:{_line}", "a record after #eof, which pinatrace writes last; the file holds more than one trace or is damaged");
        return true;
    }

    private VmLabInputException Malformed(ReadOnlySpan<byte> line)
    {
        string text = Encoding.UTF8.GetString(line.Length > 80 ? line[..80] : line);
        return new VmLabInputException($"{_path}:{_line.ToString(CultureInfo.InvariantCulture)}",
            $"malformed pinatrace record \"{text}\"; expected \"<ip>: R <address>\" or \"<ip>: W <address>\" with %p values (0x1234 or (nil)), or #eof");
    }

    public void Dispose() => _input.Dispose();
}

/// <summary>
/// Writes pinatrace text. The ip of a data access is the address of the last instruction fetch before it, as Pin
/// reports the instruction that made the access; fetches themselves are not written, and nor are sizes. One process,
/// user mode only: other accesses are refused rather than dropped.
/// </summary>
public sealed class PinTraceWriter(Stream output, string path) : ITraceWriter
{
    private readonly StreamWriter _out = new(output, new UTF8Encoding(false), 1 << 16) { NewLine = "\n" };
    private ulong _ip;
    private int? _pid;

    public void Write(ReadOnlySpan<MemoryAccess> accesses)
    {
        Span<char> buffer = stackalloc char[48];
        foreach (ref readonly var a in accesses)
        {
            if (a.Mode == AccessMode.Kernel)
                throw new VmLabInputException(path, "pinatrace holds user-mode accesses only; write .vmt instead");
            _pid ??= a.Pid;
            if (a.Pid != _pid)
                throw new VmLabInputException(path, $"pinatrace holds one process, the trace has pids {_pid} and {a.Pid}; write .vmt instead");
            if (a.Kind == AccessKind.Fetch)
            {
                _ip = a.Address;
                continue;
            }
            int i = Pointer(buffer, _ip);
            buffer[i++] = ':';
            buffer[i++] = ' ';
            buffer[i++] = a.Kind == AccessKind.Write ? 'W' : 'R';
            buffer[i++] = ' ';
            i += Pointer(buffer[i..], a.Address);
            _out.WriteLine(buffer[..i]);
        }
    }

    /// <summary>As glibc prints <c>%p</c>.</summary>
    private static int Pointer(Span<char> buffer, ulong value)
    {
        if (value == 0)
        {
            "(nil)".CopyTo(buffer);
            return 5;
        }
        buffer[0] = '0';
        buffer[1] = 'x';
        value.TryFormat(buffer[2..], out int written, "x", CultureInfo.InvariantCulture);
        return 2 + written;
    }

    public void Finish()
    {
        _out.WriteLine("#eof");
        _out.Flush();
    }

    public void Dispose() => _out.Dispose();
}
