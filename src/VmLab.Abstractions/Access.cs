using System.Runtime.InteropServices;

namespace VmLab.Abstractions;

/// <summary>What an access does with the memory it touches.</summary>
public enum AccessKind : byte
{
    Read = 0,
    Write = 1,
    Fetch = 2,
}

/// <summary>The privilege level an access is made at.</summary>
public enum AccessMode : byte
{
    User = 0,
    Kernel = 1,
}

/// <summary>
/// One memory access as a workload produces it: 16 bytes, unmanaged, consumed in batches.
/// An access of <see cref="Size"/> bytes that straddles a page boundary is translated once per page it touches.
/// </summary>
[StructLayout(LayoutKind.Sequential, Pack = 8)]
public readonly record struct MemoryAccess(ulong Address, int Pid, ushort Size, AccessKind Kind, AccessMode Mode)
{
    public static MemoryAccess Read(ulong address, ushort size = 1, int pid = 0) => new(address, pid, size, AccessKind.Read, AccessMode.User);
    public static MemoryAccess Write(ulong address, ushort size = 1, int pid = 0) => new(address, pid, size, AccessKind.Write, AccessMode.User);
    public static MemoryAccess Fetch(ulong address, ushort size = 1, int pid = 0) => new(address, pid, size, AccessKind.Fetch, AccessMode.User);

    /// <summary>The number of the first 4 KiB page the access touches.</summary>
    public ulong FirstPage => Address >> VirtualAddress.PageShift;

    /// <summary>
    /// The number of the last 4 KiB page the access touches: <see cref="FirstPage"/> unless its <see cref="Size"/> bytes
    /// cross a page boundary (a size of 0 touches one byte; an access running past the top of the address space ends there).
    /// </summary>
    public ulong LastPage
    {
        get
        {
            ulong last = Address + (Size == 0 ? 0UL : Size - 1UL);
            return (last < Address ? ulong.MaxValue : last) >> VirtualAddress.PageShift;
        }
    }
}

/// <summary>A virtual address, with the page arithmetic of 4 KiB pages.</summary>
public readonly record struct VirtualAddress(ulong Value)
{
    public const int PageShift = 12;
    public const ulong PageSize = 1UL << PageShift;
    public ulong PageNumber => Value >> PageShift;
    public ulong PageOffset => Value & (PageSize - 1);
    public ulong PageBase => Value & ~(PageSize - 1);
    public override string ToString() => $"0x{Value:x}";
}
