using System.Text;
using VmLab.Abstractions;
using VmLab.Abstractions.Plugins;
using VmLab.Abstractions.Traces;
using VmLab.Abstractions.Workloads;

namespace VmLab.Traces;

/// <summary>
/// A trace decoder: fills a caller's buffer with accesses, one call per batch. Each format decodes records in its own
/// loop (no call per record); the shared parts — opening and decompressing the file, buffering lines or fixed-size
/// records, counting, the record limit and errors that name where — live here and in <see cref="LineSource"/> and
/// <see cref="RecordSource"/>. Memory stays bounded whatever the trace length.
/// </summary>
public abstract class TraceReader : ITraceReader
{
    private readonly FileStream? _file;
    private readonly long _fileLength;
    private long _recordLimit = long.MaxValue;
    private long _limitFrom;

    /// <param name="path">The trace file, for error messages.</param>
    /// <param name="input">The stream the reader decodes; when it reads a file (see <see cref="TraceFile.UnderlyingFile"/>), <see cref="Fraction"/> follows the file position.</param>
    protected TraceReader(string path, Stream? input = null)
    {
        Path = path;
        _file = input is null ? null : TraceFile.UnderlyingFile(input);
        _fileLength = _file is { CanSeek: true } ? _file.Length : 0;
    }

    /// <summary>The trace file, for error messages.</summary>
    public string Path { get; }

    /// <summary>The file under any decompressor, when the reader reads one (not a pipe's position: it cannot seek).</summary>
    public FileStream? InputFile => _file;

    /// <summary>Records decoded so far (a record may give more than one access: a Lackey <c>M</c>, a ChampSim instruction).</summary>
    public long Records { get; protected set; }

    /// <summary>Accesses produced so far.</summary>
    public long Accesses { get; protected set; }

    /// <summary>Stop after this many records.</summary>
    public long RecordLimit
    {
        get => _recordLimit;
        set
        {
            _recordLimit = value;
            _limitFrom = Records;
        }
    }

    /// <summary>
    /// How far the reader is, from 0 to 1: the share of the record limit decoded when there is one, else the share of
    /// the (compressed) file read; null when neither is known. Call between reads, on the reading thread.
    /// </summary>
    public double? Fraction
    {
        get
        {
            if (_recordLimit != long.MaxValue)
            {
                long span = _recordLimit - _limitFrom;
                return span <= 0 ? 1.0 : Math.Clamp((double)(Records - _limitFrom) / span, 0.0, 1.0);
            }
            if (_file is null || _fileLength <= 0) return null;
            return Math.Clamp((double)_file.Position / _fileLength, 0.0, 1.0);
        }
    }

    /// <summary>The most accesses one record can produce: a buffer handed to <see cref="Read"/> must hold at least this many.</summary>
    public abstract int MaxAccessesPerRecord { get; }

    /// <summary>Decodes records into <paramref name="destination"/> until it is full or the trace ends; returns the accesses written, 0 at the end.</summary>
    public abstract int Read(Span<MemoryAccess> destination);

    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    protected virtual void Dispose(bool disposing) { }

    /// <summary>Skips <paramref name="records"/> records (formats with an index seek instead).</summary>
    public virtual void Skip(long records)
    {
        if (records <= 0) return;
        var scratch = new MemoryAccess[Math.Max(MaxAccessesPerRecord, 4096)];
        long saved = RecordLimit;
        RecordLimit = Records + records;
        while (Read(scratch) > 0) { }
        RecordLimit = saved;
    }

    internal static string Printable(ReadOnlySpan<byte> line)
    {
        var text = Encoding.UTF8.GetString(line.Length > 80 ? line[..80] : line).TrimEnd('\r');
        var sb = new StringBuilder(text.Length);
        foreach (char c in text) sb.Append(char.IsControl(c) ? '?' : c);
        return sb.ToString();
    }
}

/// <summary>Lines of a text trace through one fixed buffer; counts lines for <c>file:line</c> errors.</summary>
public sealed class LineSource : IDisposable
{
    public const int BufferSize = 1 << 18;

    private readonly Stream _stream;
    private readonly string _path;
    private readonly string _format;
    private readonly byte[] _buffer = new byte[BufferSize];
    private int _start, _end;
    private bool _eof;

    public LineSource(Stream stream, string path, string format)
    {
        _stream = stream;
        _path = path;
        _format = format;
    }

    /// <summary>The number of the line last returned (1-based).</summary>
    public long LineNumber { get; private set; }

    /// <summary>Where the last line is: <c>file:line</c>.</summary>
    public string Where => $"{_path}:{LineNumber}";

    /// <summary>The next line without its <c>\n</c> (a trailing <c>\r</c> is kept); false at the end.</summary>
    public bool TryReadLine(out ReadOnlySpan<byte> line)
    {
        while (true)
        {
            int newline = _buffer.AsSpan(_start, _end - _start).IndexOf((byte)'\n');
            if (newline >= 0)
            {
                line = _buffer.AsSpan(_start, newline);
                _start += newline + 1;
                LineNumber++;
                return true;
            }
            if (_eof)
            {
                if (_start < _end)
                {
                    line = _buffer.AsSpan(_start, _end - _start);
                    _start = _end;
                    LineNumber++;
                    return true;
                }
                line = default;
                return false;
            }
            Refill();
        }
    }

    /// <summary>
    /// The bytes read and not yet returned as lines, from the start of the next line, for a parser that reads lines in
    /// place: it tells what it took with <see cref="Advance"/> and asks for more with <see cref="Fill"/>.
    /// </summary>
    public ReadOnlySpan<byte> Buffered => _buffer.AsSpan(_start, _end - _start);

    /// <summary>Marks the first <paramref name="bytes"/> of <see cref="Buffered"/> read: <paramref name="lines"/> whole lines, each with its <c>\n</c>.</summary>
    public void Advance(int bytes, int lines)
    {
        _start += bytes;
        LineNumber += lines;
    }

    /// <summary>Reads more of the trace after <see cref="Buffered"/> (one read of the stream); false when the trace has ended.</summary>
    public bool Fill()
    {
        if (_eof) return false;
        Refill();
        return true;
    }

    private void Refill()
    {
        if (_start > 0)
        {
            _buffer.AsSpan(_start, _end - _start).CopyTo(_buffer);
            _end -= _start;
            _start = 0;
        }
        if (_end == _buffer.Length)
            throw new VmLabInputException($"{_path}:{LineNumber + 1}", $"line longer than {BufferSize} bytes; this is not a {_format} trace");
        int n = _stream.Read(_buffer, _end, _buffer.Length - _end);
        if (n == 0) _eof = true;
        _end += n;
    }

    public void Dispose() => _stream.Dispose();
}

/// <summary>Fixed-size binary records through one buffer; knows the byte offset of each for errors.</summary>
public sealed class RecordSource : IDisposable
{
    private readonly Stream _stream;
    private readonly string _path;
    private readonly string _format;
    private readonly int _recordSize;
    private readonly byte[] _buffer;
    private int _start, _end;
    private long _consumedBefore;
    private bool _eof;

    public RecordSource(Stream stream, string path, string format, int recordSize, int recordsPerBuffer = 4096)
    {
        _stream = stream;
        _path = path;
        _format = format;
        _recordSize = recordSize;
        _buffer = new byte[recordSize * recordsPerBuffer];
    }

    /// <summary>Byte offset (in the decompressed trace) of the next record.</summary>
    public long Offset => _consumedBefore + _start;

    /// <summary>Up to <paramref name="maxRecords"/> whole records; empty at the end. Throws if the trace ends inside a record.</summary>
    public ReadOnlySpan<byte> Next(int maxRecords)
    {
        while (_end - _start < _recordSize && !_eof) Refill();
        int available = (_end - _start) / _recordSize;
        if (available == 0)
        {
            if (_end > _start)
                throw new VmLabInputException($"{_path} at byte {Offset}",
                    $"truncated {_format} trace: the last record has {_end - _start} of its {_recordSize} bytes; the file is damaged or incomplete");
            return default;
        }
        int take = Math.Min(available, maxRecords);
        var span = _buffer.AsSpan(_start, take * _recordSize);
        _start += take * _recordSize;
        return span;
    }

    private void Refill()
    {
        if (_start > 0)
        {
            _buffer.AsSpan(_start, _end - _start).CopyTo(_buffer);
            _consumedBefore += _start;
            _end -= _start;
            _start = 0;
        }
        int n = _stream.Read(_buffer, _end, _buffer.Length - _end);
        if (n == 0) _eof = true;
        _end += n;
    }

    public void Dispose() => _stream.Dispose();
}

/// <summary>
/// Runs any <see cref="ITraceReader"/> as a workload: one <see cref="ISimulation.Execute"/> per batch, each batch one
/// <see cref="ITraceReader.Read"/> into a buffer of the simulation's batch size. The reads happen between the batches
/// on the simulating thread, or, with a <see cref="TraceDecoding"/> of one thread, on a thread of their own a few
/// batches ahead (<see cref="DecodeAhead"/>); the batches, their order and any error of the reader (after the batches
/// before it) are the same either way.
/// </summary>
public sealed class TraceWorkload : ITraceWorkload
{
    private readonly Func<OpenTrace> _open;
    private readonly TraceDecoding _decoding;
    private double _progress = double.NaN;
    private bool _readFromPipe;

    /// <summary>A workload over readers of one format, opened by <paramref name="open"/> for each pass.</summary>
    /// <param name="decoding">Where the reads happen (default: inline).</param>
    public TraceWorkload(Func<ITraceReader> open, TraceDecoding? decoding = null)
    {
        _open = () =>
        {
            var reader = open();
            return new OpenTrace(null, reader, (reader as TraceReader)?.InputFile);
        };
        _decoding = decoding ?? TraceDecoding.Inline;
    }

    /// <summary>A workload over an opened trace of any format; progress falls back to the file position.</summary>
    /// <param name="decoding">Where the reads happen (default: inline).</param>
    public TraceWorkload(Func<OpenTrace> open, TraceDecoding? decoding = null)
    {
        _open = open;
        _decoding = decoding ?? TraceDecoding.Inline;
    }

    /// <inheritdoc />
    public bool StreamsAsFastAsReplay { get; init; }

    /// <summary>The reader's progress after the last batch; null before the first or when unknown.</summary>
    public double? Progress => Volatile.Read(ref _progress) is var p && double.IsNaN(p) ? null : p;

    /// <summary>Whether the last pass decoded on a thread of its own (the decoding asked for one and was granted a core).</summary>
    public bool DecodedAhead { get; private set; }

    /// <summary>Positions <paramref name="reader"/> at record <paramref name="start"/> and stops it after <paramref name="limit"/> records (0 = no limit).</summary>
    public static T Range<T>(T reader, long start, long limit) where T : ITraceReader
    {
        try
        {
            reader.Skip(start);
            reader.RecordLimit = limit == 0 ? long.MaxValue : start + limit;
            return reader;
        }
        catch
        {
            reader.Dispose();
            throw;
        }
    }

    public void Run(ISimulation simulation, CancellationToken cancellationToken) => Stream(simulation, cancellationToken);

    public void Stream(ISimulation simulation, CancellationToken cancellationToken)
    {
        // Each pass starts the count again (a policy such as opt reads the whole trace once before the run does).
        Volatile.Write(ref _progress, double.NaN);
        if (_readFromPipe)
            throw new VmLabInputException("workload:options:path",
                "the trace is a pipe (a FIFO or a process substitution) and was read once already; this run reads it again " +
                "(the opt replacement policy reads the whole trace ahead of the run): give a regular file");
        var trace = _open();
        _readFromPipe = trace.File is { CanSeek: false };
        using var reader = trace.Reader;
        int batchSize = Math.Max(reader.MaxAccessesPerRecord, simulation.PreferredBatchSize);
        DecodedAhead = _decoding.TryTake();
        if (DecodedAhead)
        {
            try
            {
                // Disposed (the decoder stopped and joined) before the reader, whichever way the loop ends.
                using var ahead = new DecodeAhead(reader, trace, batchSize);
                while (ahead.TryNext(out var batch, out double fraction))
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    simulation.Execute(batch);
                    Volatile.Write(ref _progress, fraction);
                }
            }
            finally
            {
                _decoding.Return();
            }
        }
        else
        {
            var buffer = new MemoryAccess[batchSize];
            int n;
            while ((n = reader.Read(buffer)) > 0)
            {
                cancellationToken.ThrowIfCancellationRequested();
                simulation.Execute(buffer.AsSpan(0, n));
                Volatile.Write(ref _progress, trace.Fraction ?? double.NaN);
            }
        }
        Volatile.Write(ref _progress, 1.0);
    }
}

/// <summary>Parsing helpers shared by the text formats.</summary>
internal static class Text
{
    public static int HexValue(byte c) => c switch
    {
        >= (byte)'0' and <= (byte)'9' => c - '0',
        >= (byte)'a' and <= (byte)'f' => c - 'a' + 10,
        >= (byte)'A' and <= (byte)'F' => c - 'A' + 10,
        _ => -1,
    };

    public static bool IsBlank(byte c) => c == (byte)' ' || c == (byte)'\t' || c == (byte)'\r';

    /// <summary>Parses hex digits at <paramref name="i"/> (an optional <c>0x</c> first); false if none or more than 16.</summary>
    public static bool TryHex(ReadOnlySpan<byte> line, ref int i, out ulong value)
    {
        value = 0;
        if (i + 1 < line.Length && line[i] == (byte)'0' && (line[i + 1] == (byte)'x' || line[i + 1] == (byte)'X')
            && i + 2 < line.Length && HexValue(line[i + 2]) >= 0)
            i += 2;
        int digits = 0;
        while (i < line.Length)
        {
            int v = HexValue(line[i]);
            if (v < 0) break;
            if (value >> 60 != 0) return false;
            value = (value << 4) | (uint)v;
            digits++;
            i++;
        }
        return digits > 0;
    }
}
