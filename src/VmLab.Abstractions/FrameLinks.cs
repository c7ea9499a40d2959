namespace VmLab.Abstractions;

/// <summary>
/// The two list links every physical frame carries, like <c>struct page</c>'s <c>lru</c> field: while a frame is free
/// they chain it on the buddy allocator's free list; while it is an allocated user page a replacement policy chains
/// it on its lists. One pair of <see cref="int"/> per frame, shared, so a frame's metadata stays compact.
/// Sentinels of lists live outside the arrays; their owners encode them as negative indices.
/// </summary>
public sealed class FrameLinks
{
    public FrameLinks(long frames)
    {
        if (frames > int.MaxValue) throw new ArgumentOutOfRangeException(nameof(frames), "at most 2^31 - 1 frames");
        Prev = new int[frames];
        Next = new int[frames];
    }

    public int[] Prev { get; }
    public int[] Next { get; }
    public long Count => Prev.Length;
}
