using System.Buffers.Binary;
using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
using System.Runtime.CompilerServices;
using System.Numerics;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;
using VmLab.Abstractions;
using VmLab.Abstractions.Plugins;
using VmLab.Abstractions.Traces;

namespace VmLab.Traces;

/// <summary>
/// VmLab's native trace format (<c>.vmt</c>), little-endian:
/// <code>
/// header  32 bytes  "VMLABTRC", u16 version (1), u16 header size (32), u32 page size, u32 flags (0),
///                   u32 records per block (informational), u64 reserved (0)
/// block*            u32 "VBLK", u32 records, u32 accesses, u32 payload bytes, payload
/// index             u32 "VIDX", u32 blocks, u64 records, u64 accesses,
///                   per block: u64 file offset, u64 first record, u64 first access
/// trailer 16 bytes  u64 offset of the index, u32 "VEND", u32 reserved (0)
/// </code>
/// A record is a tag byte — bits 0-1 kind (0 read, 1 write, 2 fetch, 3 modify = a read then a write), bit 2 kernel
/// mode, bit 3 size follows, bit 4 pid follows, bits 5-7 zero — then the address as a zigzag LEB128 delta from the
/// previous address of the same stream (fetches, or data), then the size (LEB128) if it differs from the stream's
/// previous size, then the pid (LEB128) if it differs from the previous record's. Every block starts from zero state,
/// so a block decodes on its own: the index lets a reader seek to any record or split the trace.
/// </summary>
public static class VmtFormat
{
    public static ReadOnlySpan<byte> Magic => "VMLABTRC"u8;
    public const ushort Version = 1;
    public const int HeaderSize = 32;
    public const int BlockHeaderSize = 16;
    public const int TrailerSize = 16;
    public const uint BlockMagic = 0x4B4C4256; // "VBLK"
    public const uint IndexMagic = 0x58444956; // "VIDX"
    public const uint EndMagic = 0x444E4556;   // "VEND"
    public const int IndexEntrySize = 24;
    public const int MaxRecordBytes = 1 + 10 + 3 + 5;
    public const int MaxPayloadBytes = 64 << 20;
    public const int DefaultRecordsPerBlock = 1 << 16;

    public const int KindRead = 0, KindWrite = 1, KindFetch = 2, KindModify = 3;
    public const int TagKernel = 1 << 2, TagSize = 1 << 3, TagPid = 1 << 4, TagReserved = 0xE0;

    public static bool HasMagic(ReadOnlySpan<byte> start) => start.Length >= 8 && start[..8].SequenceEqual(Magic);
}

/// <summary>One entry of a <c>.vmt</c> block index.</summary>
public readonly record struct VmtBlock(long Offset, long FirstRecord, long FirstAccess);

/// <summary>
/// Writes <c>.vmt</c>. Accesses come in as the simulator sees them; a read immediately followed by a write of the same
/// address, size, pid and mode is stored as one modify record (a Lackey <c>M</c> round-trips as an <c>M</c>).
/// The output stream need not seek; memory is one block.
/// </summary>
public sealed class VmtWriter : IDisposable
{
    private readonly Stream _out;
    private readonly int _recordsPerBlock;
    private readonly List<VmtBlock> _index = [];
    private byte[] _payload;
    private int _length;
    private int _blockRecords, _blockAccesses;
    private long _records, _accesses, _offset;
    private readonly ulong[] _prevAddress = new ulong[2];
    private readonly ushort[] _prevSize = new ushort[2];
    private int _prevPid;
    private MemoryAccess _pending;
    private bool _hasPending, _finished;

    public VmtWriter(Stream output, int pageSize = 4096, int recordsPerBlock = VmtFormat.DefaultRecordsPerBlock)
    {
        if (recordsPerBlock < 1) throw new ArgumentOutOfRangeException(nameof(recordsPerBlock));
        _out = output;
        _recordsPerBlock = recordsPerBlock;
        _payload = new byte[Math.Min(recordsPerBlock, 1 << 16) * 4 + VmtFormat.MaxRecordBytes];
        Span<byte> h = stackalloc byte[VmtFormat.HeaderSize];
        h.Clear();
        VmtFormat.Magic.CopyTo(h);
        BinaryPrimitives.WriteUInt16LittleEndian(h[8..], VmtFormat.Version);
        BinaryPrimitives.WriteUInt16LittleEndian(h[10..], VmtFormat.HeaderSize);
        BinaryPrimitives.WriteUInt32LittleEndian(h[12..], (uint)pageSize);
        BinaryPrimitives.WriteUInt32LittleEndian(h[20..], (uint)recordsPerBlock);
        _out.Write(h);
        _offset = VmtFormat.HeaderSize;
    }

    public long Records => _records + (_hasPending ? 1 : 0);
    public long Accesses => _accesses + (_hasPending ? 1 : 0);

    public void Write(ReadOnlySpan<MemoryAccess> accesses)
    {
        foreach (ref readonly var a in accesses) Write(in a);
    }

    public void Write(in MemoryAccess a)
    {
        if (_hasPending)
        {
            _hasPending = false;
            if (a.Kind == AccessKind.Write && a.Address == _pending.Address && a.Size == _pending.Size && a.Pid == _pending.Pid && a.Mode == _pending.Mode)
            {
                Encode(_pending, VmtFormat.KindModify, 2);
                return;
            }
            Encode(_pending, VmtFormat.KindRead, 1);
        }
        if (a.Kind == AccessKind.Read)
        {
            _pending = a;
            _hasPending = true;
            return;
        }
        Encode(a, a.Kind == AccessKind.Write ? VmtFormat.KindWrite : VmtFormat.KindFetch, 1);
    }

    private void Encode(in MemoryAccess a, int kind, int accesses)
    {
        if (_length + VmtFormat.MaxRecordBytes > _payload.Length) Array.Resize(ref _payload, _payload.Length * 2);
        int stream = kind == VmtFormat.KindFetch ? 1 : 0;
        int tag = kind;
        if (a.Mode == AccessMode.Kernel) tag |= VmtFormat.TagKernel;
        bool size = a.Size != _prevSize[stream];
        bool pid = a.Pid != _prevPid;
        if (size) tag |= VmtFormat.TagSize;
        if (pid) tag |= VmtFormat.TagPid;
        var p = _payload.AsSpan();
        p[_length++] = (byte)tag;
        long delta = (long)(a.Address - _prevAddress[stream]);
        _length += Leb128.Write(p[_length..], (ulong)((delta << 1) ^ (delta >> 63)));
        _prevAddress[stream] = a.Address;
        if (size)
        {
            _length += Leb128.Write(p[_length..], a.Size);
            _prevSize[stream] = a.Size;
        }
        if (pid)
        {
            _length += Leb128.Write(p[_length..], (uint)a.Pid);
            _prevPid = a.Pid;
        }
        _blockRecords++;
        _blockAccesses += accesses;
        if (_blockRecords == _recordsPerBlock) FlushBlock();
    }

    private void FlushBlock()
    {
        if (_blockRecords == 0) return;
        _index.Add(new VmtBlock(_offset, _records, _accesses));
        Span<byte> h = stackalloc byte[VmtFormat.BlockHeaderSize];
        BinaryPrimitives.WriteUInt32LittleEndian(h, VmtFormat.BlockMagic);
        BinaryPrimitives.WriteUInt32LittleEndian(h[4..], (uint)_blockRecords);
        BinaryPrimitives.WriteUInt32LittleEndian(h[8..], (uint)_blockAccesses);
        BinaryPrimitives.WriteUInt32LittleEndian(h[12..], (uint)_length);
        _out.Write(h);
        _out.Write(_payload, 0, _length);
        _offset += VmtFormat.BlockHeaderSize + _length;
        _records += _blockRecords;
        _accesses += _blockAccesses;
        _blockRecords = _blockAccesses = _length = 0;
        _prevAddress[0] = _prevAddress[1] = 0;
        _prevSize[0] = _prevSize[1] = 0;
        _prevPid = 0;
    }

    /// <summary>Writes the last block, the index and the trailer. Without it the file reads as truncated.</summary>
    public void Finish()
    {
        if (_finished) return;
        if (_hasPending)
        {
            _hasPending = false;
            Encode(_pending, VmtFormat.KindRead, 1);
        }
        FlushBlock();
        long indexOffset = _offset;
        var buffer = new byte[24 + _index.Count * VmtFormat.IndexEntrySize + VmtFormat.TrailerSize];
        var s = buffer.AsSpan();
        BinaryPrimitives.WriteUInt32LittleEndian(s, VmtFormat.IndexMagic);
        BinaryPrimitives.WriteUInt32LittleEndian(s[4..], (uint)_index.Count);
        BinaryPrimitives.WriteInt64LittleEndian(s[8..], _records);
        BinaryPrimitives.WriteInt64LittleEndian(s[16..], _accesses);
        int o = 24;
        foreach (var b in _index)
        {
            BinaryPrimitives.WriteInt64LittleEndian(s[o..], b.Offset);
            BinaryPrimitives.WriteInt64LittleEndian(s[(o + 8)..], b.FirstRecord);
            BinaryPrimitives.WriteInt64LittleEndian(s[(o + 16)..], b.FirstAccess);
            o += VmtFormat.IndexEntrySize;
        }
        BinaryPrimitives.WriteInt64LittleEndian(s[o..], indexOffset);
        BinaryPrimitives.WriteUInt32LittleEndian(s[(o + 8)..], VmtFormat.EndMagic);
        _out.Write(buffer);
        _out.Flush();
        _finished = true;
    }

    public void Dispose() => _out.Dispose();
}

public sealed record VmtOptions
{
    [Description("Trace file in VmLab's native format (.vmt, optionally compressed), relative to the config file.")]
    [Required]
    [ExistingFile]
    public string Path { get; init; } = "";

    [Description("Added to every record's pid (to run several traces side by side as distinct processes).")]
    [Range(0, 65535)]
    public int PidOffset { get; init; }

    [Description("Records to skip at the start; an uncompressed file seeks there through its block index.")]
    [Range(typeof(long), "0", "9223372036854775807")]
    public long Start { get; init; }

    [Description("Stop after this many records (0 = the whole trace).")]
    [Range(typeof(long), "0", "9223372036854775807")]
    public long Limit { get; init; }

    [Description(TraceDecoding.OptionDescription)]
    [Range(0, 1)]
    public int DecodeThreads { get; init; }
}

/// <summary>Reads <c>.vmt</c> (see <see cref="VmtFormat"/>) one block at a time; checks every block and the index.</summary>
public sealed class VmtReader : TraceReader, ITraceReader
{
    private readonly Stream _stream;
    private readonly int _pidOffset;
    private const int Padding = 16; // zero bytes after the payload: the fast decode path may look a few bytes past a record
    private byte[] _payload = new byte[(1 << 16) + Padding];
    private int _payloadLength, _pos;
    private int _blockRecordsLeft;
    private long _blockOffset;
    private long _offset;
    private bool _end;
    private ulong _prevData, _prevFetch;
    private ushort _sizeData, _sizeFetch;
    private int _pid;
    private long _blocks;

    public VmtReader(Stream stream, string path, int pidOffset = 0) : base(path, stream)
    {
        _stream = stream;
        _pidOffset = pidOffset;
        Span<byte> h = stackalloc byte[VmtFormat.HeaderSize];
        int n = stream.ReadAtLeast(h, h.Length, throwOnEndOfStream: false);
        if (n < 8 || !VmtFormat.HasMagic(h))
            throw new VmLabInputException($"{path} at byte 0", "not a VmLab trace: it does not start with \"VMLABTRC\"");
        if (n < VmtFormat.HeaderSize) throw Truncated(n, "the header");
        ushort version = BinaryPrimitives.ReadUInt16LittleEndian(h[8..]);
        if (version != VmtFormat.Version)
            throw new VmLabInputException($"{path} at byte 8", $"unsupported .vmt version {version}; this VmLab reads version {VmtFormat.Version}");
        int headerSize = BinaryPrimitives.ReadUInt16LittleEndian(h[10..]);
        if (headerSize != VmtFormat.HeaderSize)
            throw new VmLabInputException($"{path} at byte 10", $"corrupt .vmt header: header size {headerSize}, expected {VmtFormat.HeaderSize}");
        PageSize = (int)BinaryPrimitives.ReadUInt32LittleEndian(h[12..]);
        if (PageSize < 512 || (PageSize & (PageSize - 1)) != 0)
            throw new VmLabInputException($"{path} at byte 12", $"corrupt .vmt header: page size {PageSize} is not a power of two of at least 512");
        _offset = VmtFormat.HeaderSize;
    }

    public static VmtReader Open(string path, string keyPath, int pidOffset = 0)
    {
        var stream = TraceFile.Open(path, keyPath);
        try
        {
            return new VmtReader(stream, path, pidOffset);
        }
        catch
        {
            stream.Dispose();
            throw;
        }
    }

    /// <summary>The page size the trace was recorded with (header).</summary>
    public int PageSize { get; }

    /// <summary>Blocks read so far.</summary>
    public long Blocks => _blocks;

    int? ITraceReader.PageSize => PageSize;

    IReadOnlyList<KeyValuePair<string, long>> ITraceReader.Details => [new("blocks", _blocks)];

    /// <summary>Totals from the index, once the end has been reached.</summary>
    public long IndexRecords { get; private set; } = -1;

    public override int MaxAccessesPerRecord => 2;

    private VmLabInputException Truncated(long at, string what) =>
        new($"{Path} at byte {at}", $"truncated .vmt trace: the file ends inside {what}; it was not finished (interrupted recording?) or is damaged");

    private VmLabInputException Corrupt(long at, string what) =>
        new($"{Path} at byte {at}", $"corrupt .vmt trace: {what}");

    /// <summary>Seeks to record <paramref name="records"/> through the block index when the file can seek; decodes and drops otherwise.</summary>
    public override void Skip(long records)
    {
        if (records <= 0) return;
        if (Records == 0 && _blockRecordsLeft == 0 && _stream.CanSeek && ReadIndex() is { } index)
        {
            int b = index.Count - 1;
            while (b > 0 && index[b].FirstRecord > records) b--;
            if (b >= 0 && index[b].FirstRecord <= records)
            {
                _stream.Position = index[b].Offset;
                _offset = index[b].Offset;
                Records = index[b].FirstRecord;
                Accesses = index[b].FirstAccess;
                _blocks = b;
            }
        }
        base.Skip(records - Records);
    }

    /// <summary>The block index of a seekable file (null if the stream cannot seek).</summary>
    public IReadOnlyList<VmtBlock>? ReadIndex()
    {
        if (!_stream.CanSeek) return null;
        long saved = _stream.Position;
        long length = _stream.Length;
        if (length < VmtFormat.HeaderSize + VmtFormat.TrailerSize) throw Truncated(length, "the trailer");
        Span<byte> t = stackalloc byte[VmtFormat.TrailerSize];
        _stream.Position = length - VmtFormat.TrailerSize;
        _stream.ReadExactly(t);
        if (BinaryPrimitives.ReadUInt32LittleEndian(t[8..]) != VmtFormat.EndMagic) throw Truncated(length, "the data (no end marker)");
        long indexOffset = BinaryPrimitives.ReadInt64LittleEndian(t);
        if (indexOffset < VmtFormat.HeaderSize || indexOffset > length - VmtFormat.TrailerSize - 24)
            throw Corrupt(length - VmtFormat.TrailerSize, $"index offset {indexOffset} is outside the file");
        _stream.Position = indexOffset;
        Span<byte> ih = stackalloc byte[24];
        _stream.ReadExactly(ih);
        if (BinaryPrimitives.ReadUInt32LittleEndian(ih) != VmtFormat.IndexMagic) throw Corrupt(indexOffset, "no index where the trailer points");
        int count = (int)BinaryPrimitives.ReadUInt32LittleEndian(ih[4..]);
        if ((long)count * VmtFormat.IndexEntrySize != length - VmtFormat.TrailerSize - indexOffset - 24)
            throw Corrupt(indexOffset + 4, $"index of {count} blocks does not fit its space");
        var entries = new byte[count * VmtFormat.IndexEntrySize];
        _stream.ReadExactly(entries);
        var list = new List<VmtBlock>(count);
        for (int i = 0; i < count; i++)
        {
            var e = entries.AsSpan(i * VmtFormat.IndexEntrySize);
            list.Add(new VmtBlock(BinaryPrimitives.ReadInt64LittleEndian(e), BinaryPrimitives.ReadInt64LittleEndian(e[8..]), BinaryPrimitives.ReadInt64LittleEndian(e[16..])));
        }
        _stream.Position = saved;
        return list;
    }

    public override int Read(Span<MemoryAccess> destination)
    {
        int n = 0;
        long limit = RecordLimit;
        long records = Records;
        while (n + 2 <= destination.Length && records < limit)
        {
            if (_blockRecordsLeft == 0)
            {
                if (_pos != _payloadLength)
                    throw Corrupt(_blockOffset + VmtFormat.BlockHeaderSize + _pos, $"block holds {_payloadLength - _pos} bytes after its last record");
                if (_end || !NextBlock()) break;
            }
            int take = (int)Math.Min(Math.Min(_blockRecordsLeft, (destination.Length - n) / 2), limit - records);
            int before = n;
            n = Decode(destination, n, take);
            _blockRecordsLeft -= take;
            records += take;
            Records = records;
            Accesses += n - before;
        }
        return n;
    }

    /// <summary>
    /// Decodes <paramref name="records"/> records of the current block into <paramref name="destination"/> from index
    /// <paramref name="n"/>, which has room for two accesses per record. Runs of short records go to
    /// <see cref="DecodeShort"/>; the rest are decoded here. The one-byte forms of the numbers are read
    /// without bounds checks (the payload buffer is padded with zeros); a record that ends past the payload is caught
    /// after it is decoded.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private int Decode(Span<MemoryAccess> destination, int n, int records)
    {
        ref byte p = ref MemoryMarshal.GetArrayDataReference(_payload);
        ref MemoryAccess d = ref MemoryMarshal.GetReference(destination);
        int length = _payloadLength;
        int pos = _pos;
        ulong prevData = _prevData, prevFetch = _prevFetch;
        ushort sizeData = _sizeData, sizeFetch = _sizeFetch;
        int pid = _pid + _pidOffset;
        int shortEnd = BitConverter.IsLittleEndian ? length - 3 : -1;
        for (int r = 0; r < records; r++)
        {
            if (pos <= shortEnd)
            {
                int shortRecords = DecodeShort(ref p, ref Unsafe.Add(ref d, n), records - r, ref pos, shortEnd, ref prevData, ref prevFetch, ref sizeData, ref sizeFetch, pid);
                n += shortRecords;
                r += shortRecords;
                if (r == records) break;
            }
            int recordStart = pos;
            if (pos >= length) throw Corrupt(_blockOffset + VmtFormat.BlockHeaderSize + recordStart, "block payload ends before its last record");
            int tag = Unsafe.Add(ref p, pos++);
            if ((tag & VmtFormat.TagReserved) != 0) throw Corrupt(_blockOffset + VmtFormat.BlockHeaderSize + recordStart, $"record tag 0x{tag:x2} has reserved bits set");
            ulong zz = ReadVarint(ref p, ref pos, recordStart);
            long delta = (long)(zz >> 1) ^ -(long)(zz & 1);
            int kind = tag & 3;
            ulong address;
            ushort size;
            if (kind == VmtFormat.KindFetch)
            {
                address = prevFetch += (ulong)delta;
                if ((tag & VmtFormat.TagSize) != 0) sizeFetch = ReadSize(ref p, ref pos, recordStart);
                size = sizeFetch;
            }
            else
            {
                address = prevData += (ulong)delta;
                if ((tag & VmtFormat.TagSize) != 0) sizeData = ReadSize(ref p, ref pos, recordStart);
                size = sizeData;
            }
            if ((tag & VmtFormat.TagPid) != 0) pid = ReadPid(ref p, ref pos, recordStart) + _pidOffset;
            if (pos > length) throw Corrupt(_blockOffset + VmtFormat.BlockHeaderSize + recordStart, "block payload ends inside a record");
            var mode = (AccessMode)((tag >> 2) & 1);
            if (kind == VmtFormat.KindModify)
            {
                Unsafe.Add(ref d, n++) = new MemoryAccess(address, pid, size, AccessKind.Read, mode);
                Unsafe.Add(ref d, n++) = new MemoryAccess(address, pid, size, AccessKind.Write, mode);
            }
            else
            {
                // kinds 0, 1, 2 are AccessKind.Read, Write, Fetch
                Unsafe.Add(ref d, n++) = new MemoryAccess(address, pid, size, (AccessKind)kind, mode);
            }
        }
        _pos = pos;
        _prevData = prevData;
        _prevFetch = prevFetch;
        _sizeData = sizeData;
        _sizeFetch = sizeFetch;
        _pid = pid - _pidOffset;
        return n;
    }

    /// <summary>
    /// Decodes records in the short form, one access each, until <paramref name="records"/> are decoded, a record is not
    /// in that form, or fewer than 3 bytes of the payload are left from <paramref name="position"/> (<paramref name="shortEnd"/>
    /// is the last position with 3); returns the records decoded. The short form is a tag of a read, write or fetch in user
    /// mode without a pid, a one-byte delta, and a one-byte size if the tag has one: by far the most common records. Its
    /// own method so that its few variables stay in registers; the general decoder in <see cref="Decode"/> handles the rest.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static int DecodeShort(ref byte p, ref MemoryAccess d, int records, ref int position, int shortEnd,
        ref ulong prevDataRef, ref ulong prevFetchRef, ref ushort sizeDataRef, ref ushort sizeFetchRef, int pid)
    {
        int pos = position;
        ulong prevData = prevDataRef, prevFetch = prevFetchRef;
        ushort sizeData = sizeDataRef, sizeFetch = sizeFetchRef;
        int n = 0;
        // Two records from each 8-byte read while both are short and the payload has 6 bytes left: the second record's
        // bytes are in the word already, so the chain from one read to the next is shorter.
        while (n + 2 <= records && pos <= shortEnd - 3)
        {
            ulong w = Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref p, pos));
            uint first = (uint)w;
            if (!IsShort(first)) break;
            int firstLength = ShortLength(first);
            uint second = (uint)(w >> (firstLength << 3));
            EmitShort(first, ref Unsafe.Add(ref d, n), ref prevData, ref prevFetch, ref sizeData, ref sizeFetch, pid);
            n++;
            pos += firstLength;
            if (!IsShort(second)) break;
            EmitShort(second, ref Unsafe.Add(ref d, n), ref prevData, ref prevFetch, ref sizeData, ref sizeFetch, pid);
            n++;
            pos += ShortLength(second);
        }
        while (n < records && pos <= shortEnd)
        {
            uint w = Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref p, pos));
            if (!IsShort(w)) break;
            EmitShort(w, ref Unsafe.Add(ref d, n), ref prevData, ref prevFetch, ref sizeData, ref sizeFetch, pid);
            n++;
            pos += ShortLength(w);
        }
        position = pos;
        prevDataRef = prevData;
        prevFetchRef = prevFetch;
        sizeDataRef = sizeData;
        sizeFetchRef = sizeFetch;
        return n;
    }

    /// <summary>Whether the record whose first bytes are <paramref name="w"/> (little-endian) is in the short form.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool IsShort(uint w) => ((w & (ShortMask | ((w & VmtFormat.TagSize) << 20))) | (w & (w >> 1) & 1)) == 0;

    /// <summary>The bytes of a short record: 2, or 3 with a size.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int ShortLength(uint w) => 2 + (int)((w >> 3) & 1);

    /// <summary>Decodes the short record <paramref name="w"/> into <paramref name="slot"/>, updating its stream's address and size.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void EmitShort(uint w, ref MemoryAccess slot, ref ulong prevData, ref ulong prevFetch, ref ushort sizeData, ref ushort sizeFetch, int pid)
    {
        uint z = (w >> 8) & 0x7F;
        ulong step = (ulong)((long)(z >> 1) ^ -(long)(z & 1));
        if ((w & 3) == VmtFormat.KindFetch)
        {
            prevFetch += step;
            if ((w & VmtFormat.TagSize) != 0) sizeFetch = (ushort)((w >> 16) & 0x7F);
            slot = new MemoryAccess(prevFetch, pid, sizeFetch, AccessKind.Fetch, AccessMode.User);
        }
        else
        {
            prevData += step;
            if ((w & VmtFormat.TagSize) != 0) sizeData = (ushort)((w >> 16) & 0x7F);
            slot = new MemoryAccess(prevData, pid, sizeData, (AccessKind)(w & 3), AccessMode.User);
        }
    }

    /// <summary>
    /// The bits of a record's first four bytes that must be clear for the short form: reserved, kernel and pid bits of
    /// the tag, and the continuation bit of a one-byte delta (the size's byte is added when the tag has one).
    /// </summary>
    private const uint ShortMask = 0x80F4;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ushort ReadSize(ref byte p, ref int pos, int recordStart)
    {
        ulong v = ReadVarint(ref p, ref pos, recordStart);
        return v <= ushort.MaxValue ? (ushort)v : throw SizeOutOfRange(v, recordStart);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int ReadPid(ref byte p, ref int pos, int recordStart)
    {
        ulong v = ReadVarint(ref p, ref pos, recordStart);
        return v <= int.MaxValue - ushort.MaxValue ? (int)v : throw PidOutOfRange(v, recordStart);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private VmLabInputException SizeOutOfRange(ulong v, int recordStart) =>
        Corrupt(_blockOffset + VmtFormat.BlockHeaderSize + recordStart, $"access size {v} is out of range");

    [MethodImpl(MethodImplOptions.NoInlining)]
    private VmLabInputException PidOutOfRange(ulong v, int recordStart) =>
        Corrupt(_blockOffset + VmtFormat.BlockHeaderSize + recordStart, $"pid {v} is out of range");

    /// <summary>
    /// A LEB128 number at <paramref name="pos"/>, read a word at a time: the 8 bytes there (the payload buffer is padded
    /// with zeros, so this never reads outside it) give the number's length from the first byte without a continuation
    /// bit, and its 7-bit groups are gathered at once (one PEXT with BMI2). A number of 9 or 10 bytes, or a
    /// big-endian host, takes the byte loop. A number that runs into the padding stops there and is caught, as before,
    /// by the check that the record ends inside the payload.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ulong ReadVarint(ref byte p, ref int pos, int recordStart)
    {
        ulong w = Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref p, pos));
        if (!BitConverter.IsLittleEndian) return ReadVarintSlow(ref pos, recordStart);
        if ((w & 0x80) == 0)
        {
            pos++;
            return w & 0x7F;
        }
        ulong stops = ~w & 0x8080808080808080UL;
        if (stops == 0) return ReadVarintSlow(ref pos, recordStart);
        int bits = BitOperations.TrailingZeroCount(stops) + 1; // 8 per byte, the last one included
        pos += bits >> 3;
        ulong used = bits == 64 ? w : w & ((1UL << bits) - 1);
        if (Bmi2.X64.IsSupported) return Bmi2.X64.ParallelBitExtract(used, 0x7F7F7F7F7F7F7F7FUL);
        return (used & 0x7F) | ((used >> 1) & (0x7FUL << 7)) | ((used >> 2) & (0x7FUL << 14)) | ((used >> 3) & (0x7FUL << 21))
             | ((used >> 4) & (0x7FUL << 28)) | ((used >> 5) & (0x7FUL << 35)) | ((used >> 6) & (0x7FUL << 42)) | ((used >> 7) & (0x7FUL << 49));
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private ulong ReadVarintSlow(ref int pos, int recordStart)
    {
        var p = _payload.AsSpan(0, _payloadLength);
        ulong v = 0;
        for (int shift = 0; shift < 64; shift += 7)
        {
            if (pos >= p.Length) throw Corrupt(_blockOffset + VmtFormat.BlockHeaderSize + recordStart, "block payload ends inside a record");
            byte b = p[pos++];
            v |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80) return v;
        }
        throw Corrupt(_blockOffset + VmtFormat.BlockHeaderSize + recordStart, "a number in a record is longer than 10 bytes");
    }

    private bool NextBlock()
    {
        Span<byte> h = stackalloc byte[VmtFormat.BlockHeaderSize];
        long at = _offset;
        int n = _stream.ReadAtLeast(h, 4, throwOnEndOfStream: false);
        if (n < 4) throw Truncated(at, "the data (no index or end marker)");
        uint magic = BinaryPrimitives.ReadUInt32LittleEndian(h);
        if (magic == VmtFormat.IndexMagic)
        {
            ReadTail(at, h[..n]);
            _end = true;
            return false;
        }
        if (magic != VmtFormat.BlockMagic) throw Corrupt(at, $"expected a block (\"VBLK\") or the index (\"VIDX\"), found 0x{magic:x8}");
        if (n < VmtFormat.BlockHeaderSize)
        {
            n += _stream.ReadAtLeast(h[n..], VmtFormat.BlockHeaderSize - n, throwOnEndOfStream: false);
            if (n < VmtFormat.BlockHeaderSize) throw Truncated(at + n, "a block header");
        }
        uint records = BinaryPrimitives.ReadUInt32LittleEndian(h[4..]);
        uint accesses = BinaryPrimitives.ReadUInt32LittleEndian(h[8..]);
        uint length = BinaryPrimitives.ReadUInt32LittleEndian(h[12..]);
        if (records == 0 || length > VmtFormat.MaxPayloadBytes || records > length || accesses < records || accesses > 2L * records)
            throw Corrupt(at, $"block header with {records} records, {accesses} accesses and {length} payload bytes is inconsistent");
        if (_payload.Length < length + Padding) _payload = new byte[Math.Max(length, _payload.Length * 2) + Padding];
        else _payload.AsSpan((int)length, Padding).Clear();
        int got = _stream.ReadAtLeast(_payload.AsSpan(0, (int)length), (int)length, throwOnEndOfStream: false);
        if (got < length) throw Truncated(at + VmtFormat.BlockHeaderSize + got, $"block {_blocks} ({length} payload bytes, {got} present)");
        _blockOffset = at;
        _offset = at + VmtFormat.BlockHeaderSize + length;
        _payloadLength = (int)length;
        _pos = 0;
        _blockRecordsLeft = (int)records;
        _prevData = _prevFetch = 0;
        _sizeData = _sizeFetch = 0;
        _pid = 0;
        _blocks++;
        return true;
    }

    private void ReadTail(long at, ReadOnlySpan<byte> already)
    {
        Span<byte> ih = stackalloc byte[24];
        already.CopyTo(ih);
        int n = already.Length + _stream.ReadAtLeast(ih[already.Length..], 24 - already.Length, throwOnEndOfStream: false);
        if (n < 24) throw Truncated(at + n, "the index");
        long count = BinaryPrimitives.ReadUInt32LittleEndian(ih[4..]);
        IndexRecords = BinaryPrimitives.ReadInt64LittleEndian(ih[8..]);
        long indexAccesses = BinaryPrimitives.ReadInt64LittleEndian(ih[16..]);
        if (count != _blocks || (RecordLimit == long.MaxValue && (IndexRecords != Records || indexAccesses != Accesses)))
            throw Corrupt(at, $"the index lists {count} blocks, {IndexRecords} records and {indexAccesses} accesses but the file holds {_blocks} blocks, {Records} records and {Accesses} accesses");
        Span<byte> entry = stackalloc byte[VmtFormat.IndexEntrySize];
        for (long i = 0; i < count; i++)
        {
            if (_stream.ReadAtLeast(entry, entry.Length, throwOnEndOfStream: false) < entry.Length)
                throw Truncated(at + 24 + i * VmtFormat.IndexEntrySize, "the index");
        }
        Span<byte> t = stackalloc byte[VmtFormat.TrailerSize];
        long trailerAt = at + 24 + count * VmtFormat.IndexEntrySize;
        if (_stream.ReadAtLeast(t, t.Length, throwOnEndOfStream: false) < t.Length) throw Truncated(trailerAt, "the trailer");
        if (BinaryPrimitives.ReadUInt32LittleEndian(t[8..]) != VmtFormat.EndMagic || BinaryPrimitives.ReadInt64LittleEndian(t) != at)
            throw Corrupt(trailerAt, "the trailer does not point at the index");
        if (_stream.ReadByte() >= 0) throw Corrupt(trailerAt + VmtFormat.TrailerSize, "data after the trailer");
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) _stream.Dispose();
    }
}
