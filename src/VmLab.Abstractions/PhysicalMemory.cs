using System.Runtime.CompilerServices;

namespace VmLab.Abstractions;

/// <summary>Who a frame is handed out to.</summary>
public enum FrameUse : byte
{
    User = 0,
    PageTable = 1,
    Kernel = 2,
}

/// <summary>
/// Hands out physical frames. The MMU core implements it; page-table plugins take their table pages from it so that
/// every table lives in a simulated frame and is accounted.
/// </summary>
/// <remarks>
/// An allocation never runs reclaim: it hands out a free frame or fails. The kernel reclaims at its own retry points
/// and calls the plugin again, so a plugin that allocates (a page-table format growing a table) is never re-entered
/// from inside its own call.
/// </remarks>
public interface IFrameAllocator
{
    /// <summary>Allocates one zero-filled frame; false when memory is exhausted (no reclaim is attempted).</summary>
    bool TryAllocate(FrameUse use, out ulong pfn);
    void Free(ulong pfn, FrameUse use);
}

/// <summary>
/// The contents of simulated physical memory, addressed by physical address. Page tables are stored here in their
/// architecture's encoding and walkers read them back. A frame never written reads as zeros and costs no host
/// memory; contents are allocated per frame on first write.
/// </summary>
public sealed class PhysicalMemory
{
    public const int FrameShift = 12;
    public const int FrameSize = 1 << FrameShift;
    private const int QwordsPerFrame = FrameSize / 8;

    private readonly ulong[]?[] _frames;

    public PhysicalMemory(long frameCount)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(frameCount);
        FrameCount = frameCount;
        _frames = new ulong[]?[frameCount];
    }

    public long FrameCount { get; }

    /// <summary>Frames whose contents are held on the host.</summary>
    public long MaterialisedFrames { get; private set; }

    /// <summary>Reads the aligned 64-bit word at <paramref name="paddr"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong Read64(ulong paddr)
    {
        var frame = _frames[paddr >> FrameShift];
        return frame is null ? 0UL : frame[(paddr & (FrameSize - 1)) >> 3];
    }

    /// <summary>Writes the aligned 64-bit word at <paramref name="paddr"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Write64(ulong paddr, ulong value)
    {
        var frame = _frames[paddr >> FrameShift];
        if (frame is null)
        {
            if (value == 0) return;
            frame = Materialise(paddr >> FrameShift);
        }
        frame[(paddr & (FrameSize - 1)) >> 3] = value;
    }

    public byte ReadByte(ulong paddr)
    {
        ulong word = Read64(paddr & ~7UL);
        return (byte)(word >> (int)((paddr & 7) * 8));
    }

    public void WriteByte(ulong paddr, byte value)
    {
        ulong aligned = paddr & ~7UL;
        int shift = (int)((paddr & 7) * 8);
        ulong word = Read64(aligned);
        word = (word & ~(0xFFUL << shift)) | ((ulong)value << shift);
        Write64(aligned, word);
    }

    /// <summary>Makes the frame read as zeros again and releases its host memory.</summary>
    public void Zero(ulong pfn)
    {
        if (_frames[pfn] is not null)
        {
            _frames[pfn] = null;
            MaterialisedFrames--;
        }
    }

    /// <summary>Copies the whole contents of one frame into another.</summary>
    public void Copy(ulong sourcePfn, ulong destinationPfn)
    {
        var src = _frames[sourcePfn];
        if (src is null)
        {
            Zero(destinationPfn);
            return;
        }
        var dst = _frames[destinationPfn] ?? Materialise(destinationPfn);
        src.AsSpan().CopyTo(dst);
    }

    /// <summary>True when the frame has ever held a non-zero word since it was last zeroed.</summary>
    public bool HasContents(ulong pfn) => _frames[pfn] is not null;

    [MethodImpl(MethodImplOptions.NoInlining)]
    private ulong[] Materialise(ulong pfn)
    {
        var frame = new ulong[QwordsPerFrame];
        _frames[pfn] = frame;
        MaterialisedFrames++;
        return frame;
    }
}
