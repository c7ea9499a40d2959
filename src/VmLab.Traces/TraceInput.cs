using VmLab.Abstractions.Plugins;
using VmLab.Abstractions.Traces;

namespace VmLab.Traces;

/// <summary>An opened trace: its format, its reader, and the file under any decompressor (null for a pipe), for progress.</summary>
public sealed record OpenTrace(ITraceFormat? Format, ITraceReader Reader, FileStream? File)
{
    /// <summary>The reader's own <see cref="ITraceReader.Fraction"/>, else the share of the file read.</summary>
    public double? Fraction
    {
        get
        {
            if (Reader.Fraction is { } f) return f;
            if (File is not { CanSeek: true } file) return null;
            long length = file.Length;
            return length <= 0 ? null : Math.Clamp((double)file.Position / length, 0.0, 1.0);
        }
    }
}

/// <summary>
/// Opens traces through the registered formats: undoes the compression, reads the first
/// <see cref="TraceSniffing.HeadBytes"/> bytes once (so a pipe works: nothing is read twice), chooses the format by
/// name or by content, and hands the format a stream that starts again at byte 0.
/// </summary>
public static class TraceInput
{
    /// <summary>
    /// Opens <paramref name="path"/> as <paramref name="formatName"/>, or as the format its content shows when the
    /// name is null, empty or <c>auto</c>. <paramref name="keyPath"/> names the option or argument that gave the path.
    /// </summary>
    public static OpenTrace Open(string path, string keyPath, ITraceFormatCatalog catalog, string? formatName, TraceReaderOptions options)
    {
        var stream = TraceFile.Open(path, keyPath);
        try
        {
            var head = ReadHead(stream, out bool complete);
            ITraceFormat format;
            if (string.IsNullOrEmpty(formatName) || formatName.Equals("auto", StringComparison.OrdinalIgnoreCase))
                format = catalog.Detect(head, complete, path);
            else
                format = catalog.Find(formatName) ?? throw new VmLabInputException(keyPath,
                    $"unknown trace format '{formatName}'; formats: {string.Join(", ", catalog.Formats.Select(f => f.Name))} (or auto)");
            var reader = format.OpenReader(new PrefixedStream(head, stream), options with { Path = path });
            return new OpenTrace(format, reader, TraceFile.UnderlyingFile(stream));
        }
        catch
        {
            stream.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Opens <paramref name="path"/> for a reader of <paramref name="expected"/>. When its content is not that format
    /// but another of <paramref name="formats"/> recognises it, says so instead of failing on the first record:
    /// which format it is and which workload reads it (<paramref name="workloadFor"/>: the workload of a format name,
    /// null for none; the <c>trace</c> workload reads every format).
    /// </summary>
    public static Stream OpenExpecting(string path, string keyPath, ITraceFormat expected, IReadOnlyList<ITraceFormat> formats, Func<string, string?>? workloadFor = null)
    {
        var stream = TraceFile.Open(path, keyPath);
        try
        {
            var head = ReadHead(stream, out bool complete);
            if (head.Length > 0 && expected.Sniff(head, complete, Path.GetFileName(path)) == TraceMatch.No)
            {
                ITraceFormat? best = null;
                var bestMatch = TraceMatch.Fallback; // a binary fallback is no evidence
                foreach (var f in formats)
                {
                    if (f.Name == expected.Name) continue;
                    var m = f.Sniff(head, complete, Path.GetFileName(path));
                    if (m > bestMatch)
                    {
                        best = f;
                        bestMatch = m;
                    }
                }
                if (best is not null)
                {
                    string workload = workloadFor?.Invoke(best.Name) ?? "trace";
                    string options = workload == "trace" ? $"\"path\": \"...\", \"format\": \"{best.Name}\"" : "\"path\": \"...\"";
                    throw new VmLabInputException(path,
                        $"this is a {best.Name} trace, not {expected.Name}: {best.Description} The '{workload}' workload reads it: " +
                        $"{{ \"plugin\": \"{workload}\", \"options\": {{ {options} }} }}, or convert it: vmlab trace convert {Path.GetFileName(path)} out{expected.Extensions.FirstOrDefault()}");
                }
            }
            return new PrefixedStream(head, stream);
        }
        catch
        {
            stream.Dispose();
            throw;
        }
    }

    private static byte[] ReadHead(Stream stream, out bool complete)
    {
        var buffer = new byte[TraceSniffing.HeadBytes];
        int n = stream.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false);
        complete = n < buffer.Length;
        return n == buffer.Length ? buffer : buffer[..n];
    }
}

/// <summary>Bytes already read from a stream, then the rest of it: lets a pipe be sniffed and still read from byte 0.</summary>
public sealed class PrefixedStream(byte[] prefix, Stream rest) : Stream
{
    private int _prefixPosition;
    private long _position;

    public Stream Inner => rest;

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        int n;
        if (_prefixPosition < prefix.Length)
        {
            n = Math.Min(buffer.Length, prefix.Length - _prefixPosition);
            prefix.AsSpan(_prefixPosition, n).CopyTo(buffer);
            _prefixPosition += n;
        }
        else n = rest.Read(buffer);
        _position += n;
        return n;
    }

    public override bool CanRead => true;

    /// <summary>Seekable when the stream under it is (a plain file): then positions are those of the file.</summary>
    public override bool CanSeek => rest.CanSeek;

    public override bool CanWrite => false;
    public override long Length => rest.Length;

    public override long Position
    {
        get => _position;
        set => Seek(value, SeekOrigin.Begin);
    }

    public override long Seek(long offset, SeekOrigin origin)
    {
        long target = origin switch
        {
            SeekOrigin.Begin => offset,
            SeekOrigin.Current => _position + offset,
            _ => rest.Length + offset,
        };
        // The prefix was read from position 0 of the stream under it, so both agree on positions.
        rest.Seek(Math.Max(target, prefix.Length), SeekOrigin.Begin);
        _prefixPosition = (int)Math.Min(target, prefix.Length);
        _position = target;
        return target;
    }

    public override void Flush() { }
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing) rest.Dispose();
        base.Dispose(disposing);
    }
}
