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

    /// <summary>Opens <paramref name="path"/> for reading, decompressed. <paramref name="keyPath"/> names the option that gave the path.</summary>
    public static Stream Open(string path, string keyPath) => Open(path, keyPath, out _);

    public static Stream Open(string path, string keyPath, out TraceCompression compression)
    {
        if (!File.Exists(path))
            throw new VmLabInputException(keyPath, $"trace file not found: {path}");
        var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, FileBufferSize);
        try
        {
            Span<byte> magic = stackalloc byte[6];
            int n = file.ReadAtLeast(magic, magic.Length, throwOnEndOfStream: false);
            file.Position = 0;
            compression = Sniff(magic[..n], path);
            return compression switch
            {
                TraceCompression.Gzip => new CheckedGZipStream(file, path),
                TraceCompression.Xz => new DecompressingStream(file, new XZStream(file), path, "xz"),
                TraceCompression.Zstd => new DecompressingStream(file, new DecompressionStream(file, FileBufferSize, checkEndOfStream: true, leaveOpen: false), path, "zstd"),
                _ => file,
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
        _ => null,
    };

    /// <summary>The file name without its compression extension (<c>ls.lackey.gz</c> → <c>ls.lackey</c>).</summary>
    public static string StripCompression(string path) =>
        CompressionOfName(path) == TraceCompression.None ? path : path[..^Path.GetExtension(path).Length];
}

/// <summary>A decompressor whose failures (corrupt or truncated data) become errors naming the compressed byte offset.</summary>
internal sealed class DecompressingStream(FileStream file, Stream inner, string path, string kind) : Stream
{
    private long _position;

    public FileStream File => file;

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

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
            throw new VmLabInputException($"{path} at compressed byte {file.Position}",
                $"corrupt or truncated {kind} data ({e.Message}); the file is damaged or incomplete — record or copy the trace again");
        }
    }

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => _position; set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

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
/// A gzip stream that reports a truncated or corrupt file instead of ending quietly: the bytes inflated must match
/// the size the gzip trailer records (ISIZE, modulo 2^32).
/// </summary>
internal sealed class CheckedGZipStream : Stream
{
    private readonly FileStream _file;
    private readonly GZipStream _gzip;
    private readonly string _path;
    private readonly uint _expectedSize;
    private readonly long _compressedLength;
    private ulong _inflated;

    public FileStream File => _file;

    public CheckedGZipStream(FileStream file, string path)
    {
        _file = file;
        _path = path;
        _compressedLength = file.Length;
        Span<byte> trailer = stackalloc byte[4];
        if (_compressedLength >= 18)
        {
            file.Position = _compressedLength - 4;
            file.ReadExactly(trailer);
            _expectedSize = BinaryPrimitives.ReadUInt32LittleEndian(trailer);
        }
        file.Position = 0;
        _gzip = new GZipStream(file, CompressionMode.Decompress, leaveOpen: false);
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        int n;
        try
        {
            n = _gzip.Read(buffer);
        }
        catch (InvalidDataException e)
        {
            throw new VmLabInputException($"{_path} at compressed byte {_file.Position}", $"corrupt gzip data ({e.Message}); the file is damaged or truncated");
        }
        if (n == 0 && buffer.Length > 0 && (_compressedLength < 18 || (uint)_inflated != _expectedSize))
            throw new VmLabInputException($"{_path} at compressed byte {_file.Position}", "truncated gzip file: the data ends before the gzip trailer; record or copy the trace again");
        _inflated += (ulong)n;
        return n;
    }

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => (long)_inflated; set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing) _gzip.Dispose();
        base.Dispose(disposing);
    }
}
