using System.Buffers.Binary;
using System.IO.Compression;
using VmLab.Abstractions.Plugins;

namespace VmLab.Plugins.Workloads;

/// <summary>Opens a trace file, undoing its compression as told by its first bytes (not its name).</summary>
public static class TraceFile
{
    public static Stream Open(string path, string keyPath)
    {
        if (!File.Exists(path))
            throw new VmLabInputException(keyPath, $"trace file not found: {path}");
        var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        Span<byte> magic = stackalloc byte[6];
        int n = file.ReadAtLeast(magic, magic.Length, throwOnEndOfStream: false);
        file.Position = 0;
        if (n >= 2 && magic[0] == 0x1f && magic[1] == 0x8b)
            return new CheckedGZipStream(file, path);
        if (n >= 6 && magic[0] == 0xFD && magic[1] == (byte)'7' && magic[2] == (byte)'z' && magic[3] == (byte)'X' && magic[4] == (byte)'Z')
            throw Unsupported(file, path, "xz");
        if (n >= 4 && magic[0] == 0x28 && magic[1] == 0xB5 && magic[2] == 0x2F && magic[3] == 0xFD)
            throw Unsupported(file, path, "zstd");
        return file;
    }

    private static VmLabInputException Unsupported(Stream s, string path, string kind)
    {
        s.Dispose();
        return new VmLabInputException(path, $"{kind}-compressed traces are not supported; decompress it or recompress with gzip");
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
        if (n == 0 && (_compressedLength < 18 || (uint)_inflated != _expectedSize))
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
