using System.Buffers.Binary;
using System.IO.Compression;
using SharpCompress.Compressors.Xz;
using VmLab.Abstractions.Plugins;
using ZstdSharp;

namespace VmLab.Traces;

/// <summary>The compression of a trace file, as told by its first bytes.</summary>
public enum TraceCompression
{
    None,
    Gzip,
    Xz,
    Zstd,
}

/// <summary>Opens trace files, undoing their compression as told by their first bytes (not their name).</summary>
public static class TraceFile
{
    private const int FileBufferSize = 1 << 16;

    /// <summary>Bytes read from a trace's start to tell its compression (<see cref="Sniff"/>).</summary>
    private const int MagicBytes = 6;

    /// <summary>The compression of <paramref name="path"/>; a clear error for compressions that are recognised but not read.</summary>
    public static TraceCompression Sniff(ReadOnlySpan<byte> magic, string path)
    {
        if (magic.Length >= 2 && magic[0] == 0x1f && magic[1] == 0x8b) return TraceCompression.Gzip;
        if (magic.Length >= 6 && magic[0] == 0xFD && magic[1] == (byte)'7' && magic[2] == (byte)'z' && magic[3] == (byte)'X' && magic[4] == (byte)'Z' && magic[5] == 0)
            return TraceCompression.Xz;
        if (magic.Length >= 4 && magic[0] == 0x28 && magic[1] == 0xB5 && magic[2] == 0x2F && magic[3] == 0xFD) return TraceCompression.Zstd;
        string? unsupported =
            magic.Length >= 3 && magic[0] == (byte)'B' && magic[1] == (byte)'Z' && magic[2] == (byte)'h' ? "bzip2"
            : magic.Length >= 4 && magic[0] == 0x04 && magic[1] == 0x22 && magic[2] == 0x4D && magic[3] == 0x18 ? "lz4"
            : magic.Length >= 4 && magic[0] == (byte)'P' && magic[1] == (byte)'K' && magic[2] == 3 && magic[3] == 4 ? "zip"
            : magic.Length >= 6 && magic[0] == (byte)'7' && magic[1] == (byte)'z' && magic[2] == 0xBC && magic[3] == 0xAF ? "7z"
            : magic.Length >= 2 && magic[0] == 0x1f && magic[1] == 0x9d ? "compress (.Z)"
            : null;
        if (unsupported is not null)
            throw new VmLabInputException(path, $"{unsupported}-compressed traces are not supported; supported compressions are gzip (.gz), xz (.xz) and zstd (.zst) — recompress with one of them");
        return TraceCompression.None;
    }

    /// <summary>
    /// Whether <paramref name="path"/> is a regular file whose first bytes show no compression; false for a pipe or a
    /// device (their size is 0, and nothing is read from them), for a file too short to tell and for a file that cannot
    /// be read.
    /// </summary>
    public static bool IsUncompressedRegularFile(string path)
    {
        try
        {
            var info = new FileInfo(path);
            if (!info.Exists || info.Length < MagicBytes) return false;
            using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1);
            if (!file.CanSeek) return false;
            Span<byte> magic = stackalloc byte[MagicBytes];
            int n = file.ReadAtLeast(magic, magic.Length, throwOnEndOfStream: false);
            return Sniff(magic[..n], path) == TraceCompression.None;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or VmLabInputException)
        {
            return false;
        }
    }

    /// <summary>Opens <paramref name="path"/> for reading, decompressed. <paramref name="keyPath"/> names the option that gave the path.</summary>
    public static Stream Open(string path, string keyPath) => Open(path, keyPath, out _);

    public static Stream Open(string path, string keyPath, out TraceCompression compression)
    {
        if (!File.Exists(path))
            throw new VmLabInputException(keyPath, $"trace file not found: {path}");
        var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, FileBufferSize);
        try
        {
            var magic = new byte[MagicBytes];
            int n = file.ReadAtLeast(magic, magic.Length, throwOnEndOfStream: false);
            compression = Sniff(magic.AsSpan(0, n), path);
            // A pipe (a FIFO, a process substitution) cannot rewind: the bytes read are replayed in front of the rest.
            Stream source;
            if (file.CanSeek)
            {
                file.Position = 0;
                source = file;
            }
            else source = new PrefixedStream(n == magic.Length ? magic : magic[..n], file);
            return compression switch
            {
                TraceCompression.Gzip => new CheckedGZipStream(source, file, path),
                TraceCompression.Xz => new DecompressingStream(file, new ConcatenatedXzStream(source, path), path, "xz"),
                TraceCompression.Zstd => new DecompressingStream(file, new DecompressionStream(source, FileBufferSize, checkEndOfStream: true, leaveOpen: false), path, "zstd"),
                _ => source,
            };
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Creates <paramref name="path"/> for writing, compressed as its extension says (<c>.gz</c>, <c>.zst</c>);
    /// <c>.xz</c> is refused: there is no managed xz encoder.
    /// </summary>
    public static Stream Create(string path, string displayName) => Create(path, displayName, CompressionOfName(displayName));

    /// <summary>Creates <paramref name="path"/> compressed with <paramref name="compression"/> (a temporary file named for its final name).</summary>
    public static Stream Create(string path, string displayName, TraceCompression compression)
    {
        if (compression == TraceCompression.Xz)
            throw new VmLabInputException(displayName, "writing xz is not supported (VmLab reads .xz but has no xz encoder); write .zst or .gz instead");
        var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, FileBufferSize);
        return compression switch
        {
            TraceCompression.Gzip => new GZipStream(file, CompressionLevel.Optimal, leaveOpen: false),
            TraceCompression.Zstd => new CompressionStream(file, level: 9, bufferSize: FileBufferSize, leaveOpen: false),
            _ => file,
        };
    }

    /// <summary>The compression a file name's last extension asks for.</summary>
    public static TraceCompression CompressionOfName(string path) => Path.GetExtension(path).ToLowerInvariant() switch
    {
        ".gz" or ".gzip" => TraceCompression.Gzip,
        ".xz" => TraceCompression.Xz,
        ".zst" or ".zstd" => TraceCompression.Zstd,
        _ => TraceCompression.None,
    };

    /// <summary>The file a stream from <see cref="Open(string, string)"/> reads (under its decompressor, if any); null for other streams.</summary>
    public static FileStream? UnderlyingFile(Stream stream) => stream switch
    {
        FileStream f => f,
        DecompressingStream d => d.File,
        CheckedGZipStream g => g.File,
        PrefixedStream p => UnderlyingFile(p.Inner),
        _ => null,
    };

    /// <summary>" at compressed byte N" for a file that can tell its position; empty for a pipe.</summary>
    internal static string At(FileStream file) => file.CanSeek ? $" at compressed byte {file.Position}" : "";

    /// <summary>The file name without its compression extension (<c>ls.lackey.gz</c> → <c>ls.lackey</c>).</summary>
    public static string StripCompression(string path) =>
        CompressionOfName(path) == TraceCompression.None ? path : path[..^Path.GetExtension(path).Length];
}

/// <summary>
/// A stream read front to back only: no seeking, no writing, no length. The trace-input wrappers below say only how they
/// read (<see cref="Read(Span{byte})"/>); the byte-array overload and the refusals are here once.
/// </summary>
internal abstract class ReadOnlyForwardStream : Stream
{
    public abstract override int Read(Span<byte> buffer);

    public sealed override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}

/// <summary>A decompressor whose failures (corrupt or truncated data) become errors naming the compressed byte offset.</summary>
internal sealed class DecompressingStream(FileStream file, Stream inner, string path, string kind) : ReadOnlyForwardStream
{
    private long _position;

    public FileStream File => file;

    public override int Read(Span<byte> buffer)
    {
        try
        {
            int n = inner.Read(buffer);
            _position += n;
            return n;
        }
        catch (Exception e) when (e is not VmLabInputException and not OperationCanceledException and not OutOfMemoryException)
        {
            throw new VmLabInputException($"{path}{TraceFile.At(file)}",
                $"the {kind}-compressed data is damaged ({e.Message}): the file is corrupt or was cut short — record or copy the trace again");
        }
    }

    public override long Position { get => _position; set => throw new NotSupportedException(); }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            inner.Dispose();
            file.Dispose();
        }
        base.Dispose(disposing);
    }
}

/// <summary>
/// A gzip stream that reads every member of a multi-member file (<c>cat a.gz b.gz</c>, bgzip) and reports a file that
/// ends inside a member instead of ending quietly. zlib checks each member's CRC-32 and length as it ends. Whether
/// the last one ended is found after the decompressor has returned every byte of the file: it is then given one
/// more gzip member of known content. When the file ended between members it decodes that member to exactly
/// <see cref="Marker"/>; when the file was cut inside a member it reads those bytes as the rest of the cut one and
/// yields anything else, or fails. Nothing it yields then reaches the reader.
/// </summary>
internal sealed class CheckedGZipStream : ReadOnlyForwardStream
{
    private static ReadOnlySpan<byte> Marker => "\u0000VmLab:gzip-end\u0001"u8;

    private readonly FileStream _file;
    private readonly SentinelStream _source;
    private readonly GZipStream _gzip;
    private readonly string _path;
    private bool _done;
    private long _position;

    public FileStream File => _file;

    public CheckedGZipStream(Stream source, FileStream file, string path)
    {
        _file = file;
        _path = path;
        _source = new SentinelStream(source, EndMember());
        _gzip = new GZipStream(_source, CompressionMode.Decompress, leaveOpen: false);
    }

    /// <summary>A gzip member whose content is <see cref="Marker"/>.</summary>
    private static byte[] EndMember()
    {
        using var member = new MemoryStream();
        using (var gzip = new GZipStream(member, CompressionLevel.Fastest, leaveOpen: true)) gzip.Write(Marker);
        return member.ToArray();
    }

    public override int Read(Span<byte> buffer)
    {
        if (buffer.IsEmpty || _done) return 0;
        int n;
        try
        {
            n = _gzip.Read(buffer);
        }
        catch (InvalidDataException e)
        {
            throw Damaged(e.Message);
        }
        if (n > 0)
        {
            _position += n;
            return n;
        }
        CheckEnd();
        _done = true;
        return 0;
    }

    /// <summary>Every byte of the file is decoded: the last member ended if the end member decodes to the marker.</summary>
    private void CheckEnd()
    {
        _source.Arm();
        Span<byte> tail = stackalloc byte[64];
        int got = 0;
        try
        {
            int n;
            while (got < tail.Length && (n = _gzip.Read(tail[got..])) > 0) got += n;
        }
        catch (InvalidDataException)
        {
            got = -1;
        }
        if (got != Marker.Length || !tail[..got].SequenceEqual(Marker))
            throw Damaged("truncated: the data ends inside a gzip member");
    }

    private VmLabInputException Damaged(string why) =>
        new($"{_path}{TraceFile.At(_file)}",
            $"the gzip-compressed data is damaged ({why}): the file is corrupt or was cut short — record or copy the trace again");

    public override long Position { get => _position; set => throw new NotSupportedException(); }

    protected override void Dispose(bool disposing)
    {
        if (disposing) _gzip.Dispose();
        base.Dispose(disposing);
    }

    /// <summary>The file's bytes; once <see cref="Arm"/> is called after their end, <paramref name="tail"/>.</summary>
    private sealed class SentinelStream(Stream source, byte[] tail) : ReadOnlyForwardStream
    {
        private int _tailPosition = -1;

        public void Arm() => _tailPosition = 0;

        public override int Read(Span<byte> buffer)
        {
            if (_tailPosition < 0) return source.Read(buffer);
            int c = Math.Min(buffer.Length, tail.Length - _tailPosition);
            tail.AsSpan(_tailPosition, c).CopyTo(buffer);
            _tailPosition += c;
            return c;
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing) source.Dispose();
            base.Dispose(disposing);
        }
    }
}

/// <summary>
/// Every stream of an <c>.xz</c> file (xz allows several, one after another, each followed by stream padding: zero
/// bytes in multiples of four), as xz -d reads them. Anything after a stream that is neither padding nor another
/// stream is damage, not ignored.
/// </summary>
internal sealed class ConcatenatedXzStream(Stream source, string path) : ReadOnlyForwardStream
{
    private static ReadOnlySpan<byte> Magic => [0xFD, (byte)'7', (byte)'z', (byte)'X', (byte)'Z', 0x00];

    private XZStream? _current = new(source);
    private readonly byte[] _next = new byte[6];

    public override int Read(Span<byte> buffer)
    {
        if (buffer.IsEmpty) return 0;
        while (_current is not null)
        {
            int n = _current.Read(buffer);
            if (n > 0) return n;
            _current = NextStream();
        }
        return 0;
    }

    /// <summary>Skips stream padding; the next stream, or null at the end of the file.</summary>
    private XZStream? NextStream()
    {
        while (true)
        {
            int got = source.ReadAtLeast(_next.AsSpan(0, 4), 4, throwOnEndOfStream: false);
            if (got == 0) return null;
            if (got < 4)
                throw new InvalidDataException($"{got} byte(s) after the end of an xz stream; stream padding comes in multiples of four zero bytes");
            if (_next.AsSpan(0, 4).IndexOfAnyExcept((byte)0) < 0) continue;
            got = 4 + source.ReadAtLeast(_next.AsSpan(4, 2), 2, throwOnEndOfStream: false);
            if (got < 6 || !_next.AsSpan().SequenceEqual(Magic))
                throw new InvalidDataException("data after the end of an xz stream that is neither stream padding nor another xz stream");
            return new XZStream(new PrefixedStream(_next.ToArray(), new NonClosing(source)));
        }
    }

    public override string ToString() => path;

    protected override void Dispose(bool disposing)
    {
        if (disposing) source.Dispose();
        base.Dispose(disposing);
    }

    /// <summary>Reads through to a stream it does not own.</summary>
    private sealed class NonClosing(Stream inner) : ReadOnlyForwardStream
    {
        public override int Read(Span<byte> buffer) => inner.Read(buffer);
    }
}
