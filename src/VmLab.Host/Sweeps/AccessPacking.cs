using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using VmLab.Abstractions;
using VmLab.Traces;

namespace VmLab.Host.Sweeps;

/// <summary>
/// A compact, exact in-memory encoding of a stream of <see cref="MemoryAccess"/>es, for the trace cache's recordings:
/// about 2–3 bytes per access of a real trace instead of 16, so a recording takes a sixth of the memory to fill and to
/// read back. Each access is a tag byte, the difference from the previous address of its class (fetches, or reads and
/// writes) as a zigzag LEB128 number (<see cref="Leb128"/>), then its size when it differs from the previous size of its class and its pid
/// when it differs from the previous pid. An access whose kind or mode is outside the defined values is kept whole
/// (an escape tag and its 16 bytes), so every access round-trips bit for bit.
/// </summary>
internal static class AccessPacking
{
    /// <summary>The most bytes one access takes: a tag, a 10-byte address difference, a 3-byte size, a 5-byte pid.</summary>
    public const int MaxBytesPerAccess = 1 + Leb128.MaxBytes + 3 + 5;

    private const int KindMask = 0b11;
    private const int Escape = 0b11;
    private const int ModeBit = 1 << 2;
    private const int SizeBit = 1 << 3;
    private const int PidBit = 1 << 4;

    /// <summary>What the next access is encoded against; starts at zero and runs across every batch of a recording.</summary>
    public struct State
    {
        public ulong DataAddress, FetchAddress;
        public ushort DataSize, FetchSize;
        public int Pid;
    }

    /// <summary>Encodes <paramref name="accesses"/> into <paramref name="destination"/> (room for <see cref="MaxBytesPerAccess"/> per access); the bytes written.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int Pack(ReadOnlySpan<MemoryAccess> accesses, Span<byte> destination, ref State state)
    {
        if (destination.Length < (long)accesses.Length * MaxBytesPerAccess)
            throw new ArgumentException($"room for {accesses.Length} accesses needs {(long)accesses.Length * MaxBytesPerAccess} bytes", nameof(destination));
        ref byte d = ref MemoryMarshal.GetReference(destination);
        int pos = 0;
        foreach (ref readonly var a in accesses)
        {
            int kind = (int)a.Kind;
            if (kind > (int)AccessKind.Fetch || (int)a.Mode > (int)AccessMode.Kernel)
            {
                Unsafe.Add(ref d, pos++) = Escape;
                MemoryMarshal.Write(destination[pos..], in a);
                pos += Unsafe.SizeOf<MemoryAccess>();
                continue;
            }
            bool fetch = a.Kind == AccessKind.Fetch;
            ref ulong previous = ref fetch ? ref state.FetchAddress : ref state.DataAddress;
            ref ushort size = ref fetch ? ref state.FetchSize : ref state.DataSize;
            int tag = kind | (a.Mode == AccessMode.Kernel ? ModeBit : 0) | (a.Size != size ? SizeBit : 0) | (a.Pid != state.Pid ? PidBit : 0);
            Unsafe.Add(ref d, pos++) = (byte)tag;
            long delta = (long)(a.Address - previous);
            pos += Leb128.Write(destination[pos..], (ulong)((delta << 1) ^ (delta >> 63)));
            previous = a.Address;
            if ((tag & SizeBit) != 0)
            {
                pos += Leb128.Write(destination[pos..], a.Size);
                size = a.Size;
            }
            if ((tag & PidBit) != 0)
            {
                pos += Leb128.Write(destination[pos..], (uint)((a.Pid << 1) ^ (a.Pid >> 31)));
                state.Pid = a.Pid;
            }
        }
        return pos;
    }

    /// <summary>Decodes <paramref name="destination"/>'s length of accesses from <paramref name="source"/>; the bytes read.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int Unpack(ReadOnlySpan<byte> source, Span<MemoryAccess> destination, ref State state)
    {
        ref byte s = ref MemoryMarshal.GetReference(source);
        int pos = 0;
        ulong dataAddress = state.DataAddress, fetchAddress = state.FetchAddress;
        ushort dataSize = state.DataSize, fetchSize = state.FetchSize;
        int pid = state.Pid;
        for (int i = 0; i < destination.Length; i++)
        {
            if ((uint)pos >= (uint)source.Length) throw new InvalidDataException("packed accesses end early");
            int tag = Unsafe.Add(ref s, pos++);
            int kind = tag & KindMask;
            if (kind == Escape)
            {
                destination[i] = MemoryMarshal.Read<MemoryAccess>(source.Slice(pos, Unsafe.SizeOf<MemoryAccess>()));
                pos += Unsafe.SizeOf<MemoryAccess>();
                continue;
            }
            ulong zz = ReadVarint(source, ref pos);
            ulong delta = (zz >> 1) ^ (0UL - (zz & 1));
            ulong address;
            ushort size;
            if (kind == (int)AccessKind.Fetch)
            {
                address = fetchAddress += delta;
                if ((tag & SizeBit) != 0) fetchSize = (ushort)ReadVarint(source, ref pos);
                size = fetchSize;
            }
            else
            {
                address = dataAddress += delta;
                if ((tag & SizeBit) != 0) dataSize = (ushort)ReadVarint(source, ref pos);
                size = dataSize;
            }
            if ((tag & PidBit) != 0)
            {
                uint z = (uint)ReadVarint(source, ref pos);
                pid = (int)(z >> 1) ^ -(int)(z & 1);
            }
            destination[i] = new MemoryAccess(address, pid, size, (AccessKind)kind, (tag & ModeBit) != 0 ? AccessMode.Kernel : AccessMode.User);
        }
        state.DataAddress = dataAddress;
        state.FetchAddress = fetchAddress;
        state.DataSize = dataSize;
        state.FetchSize = fetchSize;
        state.Pid = pid;
        return pos;
    }

    /// <summary>A LEB128 number; most are one byte, read here without a call.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong ReadVarint(ReadOnlySpan<byte> source, ref int pos)
    {
        byte b = source[pos];
        if (b < 0x80)
        {
            pos++;
            return b;
        }
        return Leb128.Read(source, ref pos);
    }
}
