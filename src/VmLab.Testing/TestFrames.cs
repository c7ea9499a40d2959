using VmLab.Abstractions;

namespace VmLab.Testing;

/// <summary>
/// An <see cref="IFrameAllocator"/> over a <see cref="PhysicalMemory"/>, as the kernel's is to a page-table format:
/// frames come zero-filled, lowest number first (frame 0 is never handed out, so 0 can mean "none"), a freed frame is
/// handed out again first, and <see cref="Limit"/> makes allocation fail as exhausted memory does.
/// </summary>
public sealed class TestFrames(PhysicalMemory memory) : IFrameAllocator
{
    private readonly Stack<ulong> _freed = new();
    private readonly Dictionary<ulong, FrameUse> _inUse = [];
    private ulong _next = 1;

    public TestFrames(long frames = 4096) : this(new PhysicalMemory(frames))
    {
    }

    public PhysicalMemory Memory { get; } = memory;

    /// <summary>Most frames in use at once; allocations beyond it fail. Default: every frame of the memory.</summary>
    public long Limit { get; set; } = long.MaxValue;

    /// <summary>Frames in use now.</summary>
    public int InUse => _inUse.Count;

    /// <summary>Frames in use now for <paramref name="use"/>.</summary>
    public int InUseFor(FrameUse use) => _inUse.Values.Count(u => u == use);

    public bool IsAllocated(ulong pfn) => _inUse.ContainsKey(pfn);

    public bool TryAllocate(FrameUse use, out ulong pfn)
    {
        pfn = 0;
        if (_inUse.Count >= Limit) return false;
        if (_freed.Count > 0) pfn = _freed.Pop();
        else if ((long)_next < Memory.FrameCount) pfn = _next++;
        else return false;
        Memory.Zero(pfn);
        _inUse[pfn] = use;
        return true;
    }

    public void Free(ulong pfn, FrameUse use)
    {
        if (!_inUse.TryGetValue(pfn, out var held))
            throw new InvalidOperationException($"frame {pfn} freed but not allocated");
        if (held != use)
            throw new InvalidOperationException($"frame {pfn} allocated for {held} freed as {use}");
        _inUse.Remove(pfn);
        _freed.Push(pfn);
    }
}
