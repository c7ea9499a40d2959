using System.Runtime.InteropServices;
using VmLab.Abstractions;

namespace VmLab.Core.Tests.Mmu;

/// <summary>
/// The engine's fast path tests pid and mode with one compare of bytes 8–15 of an access record; this pins the layout
/// it reads (little-endian: address, pid, size, kind, mode).
/// </summary>
public sealed class AccessRecordLayoutTests
{
    [Fact]
    public void PidIsInBytes8To11AndModeInByte15OfA16ByteRecord()
    {
        Assert.Equal(16, System.Runtime.CompilerServices.Unsafe.SizeOf<MemoryAccess>());
        var a = new MemoryAccess(0x1122334455667788, 0x0A0B0C0D, 0x0E0F, AccessKind.Fetch, AccessMode.Kernel);
        var bytes = MemoryMarshal.AsBytes(new ReadOnlySpan<MemoryAccess>(in a));
        ulong high = BitConverter.ToUInt64(bytes[8..16]);
        Assert.Equal(0x0A0B0C0DUL, high & 0xFFFF_FFFF);
        Assert.Equal((ulong)AccessMode.Kernel, high >> 56);
        Assert.Equal(0x0E0FUL, (high >> 32) & 0xFFFF);
        Assert.Equal((ulong)AccessKind.Fetch, (high >> 48) & 0xFF);
        Assert.True(BitConverter.IsLittleEndian);
    }

    [Fact]
    public void AKernelModeAccessOfTheCurrentProcessDoesNotTakeTheUserFastPath()
    {
        // A user page that is in the TLB: the same address from kernel mode must still go through the full checks
        // (SMAP: a kernel access to a user page outside a uaccess window is an oops), not be counted as a user hit.
        var m = TestMachine.Create(frames: 256);
        m.Run(MemoryAccess.Write(0x4000_0000, 8));
        m.Run(MemoryAccess.Read(0x4000_0000, 8));
        long hitsBefore = m.M(MetricNames.TlbHits);
        m.Run(new MemoryAccess(0x4000_0000, 0, 8, AccessKind.Read, AccessMode.Kernel));
        Assert.Equal(1, m.M("kernel.oops"));
        Assert.Equal(hitsBefore + 1, m.M(MetricNames.TlbHits));
    }
    [Theory]
    [InlineData(0x1000UL, 8, 1UL, 1UL)]
    [InlineData(0x1ffcUL, 4, 1UL, 1UL)]
    [InlineData(0x1ffcUL, 5, 1UL, 2UL)]
    [InlineData(0x1fffUL, 0, 1UL, 1UL)]
    [InlineData(0x1001UL, 8192, 1UL, 3UL)]
    [InlineData(ulong.MaxValue - 1, 8, 0xF_FFFF_FFFF_FFFFUL, 0xF_FFFF_FFFF_FFFFUL)]
    public void FirstAndLastPageAreThePagesTheAccessesBytesTouch(ulong address, int size, ulong first, ulong last)
    {
        var a = new MemoryAccess(address, 0, (ushort)size, AccessKind.Read, AccessMode.User);
        Assert.Equal(first, a.FirstPage);
        Assert.Equal(last, a.LastPage);
    }
}
