using System.Buffers;
using System.Numerics;
using VmLab.Abstractions;

namespace VmLab.Core.Memory;

/// <summary>
/// Physical frames: a binary buddy allocator (orders 0–<see cref="MaxOrder"/>, one free list per order, blocks split on
/// allocation and merged with their buddy on free) and the per-frame metadata — reference count, map count, one byte
/// of flags (owner, free-block head, tail of an allocated block, block order) and the list links shared with the
/// replacement policy (<see cref="FrameLinks"/>). 4 + 4 + 1 + 8 bytes per frame, plus <see cref="PhysicalMemory"/>'s
/// content reference: 25 bytes. Frame 0 is the shared zero page: reserved at boot, never handed out or freed. Free lists
/// are LIFO, and boot fills them lowest block first, so the same sequence of calls always yields the same frames.
/// The max-order blocks boot makes are not linked into their list one by one (which would touch a page of every
/// metadata array per block): they stay a free range past the blocks freed since, taken lowest first when the list is
/// empty, which is the order the list would hand them out in.
/// A block of more than one frame is handed out as Linux's compound page: its first frame (the head) holds the
/// reference count and the block's order, the others are tails with no count of their own.
/// </summary>
public sealed class FrameTable : IFrameAllocator
{
    public const ulong ZeroPage = 0;
    public const int MaxOrder = 10;

    private const byte UseMask = 0x03, FreeHead = 0x04, Tail = 0x08;
    private const int OrderShift = 4;

    /// <summary>Every flags byte with the tail bit set, for a vectorised search of a range.</summary>
    private static readonly SearchValues<byte> TailFlags =
        SearchValues.Create(Enumerable.Range(0, 256).Where(b => (b & Tail) != 0).Select(b => (byte)b).ToArray());

    private readonly int[] _refCount;
    private readonly int[] _mapCount;
    private readonly byte[] _flags;
    private readonly int[] _prev, _next;
    /// <summary>Free-list sentinels: list k's head is <c>_headNext[k]</c>; a link to sentinel k is encoded as <c>-(k + 1)</c>.</summary>
    private readonly int[] _headNext = new int[MaxOrder + 1], _headPrev = new int[MaxOrder + 1];
    private readonly long[] _freeBlocks = new long[MaxOrder + 1];
    private readonly PhysicalMemory _memory;
    private readonly Counter _allocated, _pageTablePages, _residentPeak, _fragmentation, _freeFrames;
    private readonly Counter[] _freeBlockCounters = new Counter[MaxOrder + 1];
    private readonly int _frames;
    /// <summary>Boot's max-order blocks not handed out yet: [<c>_bootNext</c>, <c>_bootEnd</c>), the tail of the max-order list.</summary>
    private int _bootNext, _bootEnd;

    public FrameTable(PhysicalMemory memory, IMetrics metrics)
    {
        _memory = memory;
        if (memory.FrameCount > int.MaxValue) throw new ArgumentOutOfRangeException(nameof(memory), "at most 2^31 - 1 frames");
        _frames = (int)memory.FrameCount;
        _refCount = new int[_frames];
        _mapCount = new int[_frames];
        _flags = new byte[_frames];
        Links = new FrameLinks(_frames);
        _prev = Links.Prev;
        _next = Links.Next;
        _allocated = metrics.Counter(MetricNames.PagesAllocated);
        _pageTablePages = metrics.Counter(MetricNames.PageTablePages);
        _residentPeak = metrics.Counter(MetricNames.PagesResidentPeak);
        _fragmentation = metrics.Counter(MetricNames.MemoryFragmentation);
        _freeFrames = metrics.Counter(MetricNames.MemoryFreeFrames);
        for (int k = 0; k <= MaxOrder; k++)
        {
            _headNext[k] = _headPrev[k] = Sentinel(k);
            _freeBlockCounters[k] = metrics.Counter($"memory.free_blocks.order{k}");
        }

        _refCount[ZeroPage] = 1;
        _flags[ZeroPage] = (byte)FrameUse.Kernel;
        // Boot: [1, frames) carved into the largest aligned blocks, lowest first, each appended to its list's tail; the
        // max-order ones, all contiguous, as the range [_bootNext, _bootEnd) behind the max-order list.
        long pfn = 1;
        while (pfn < _frames)
        {
            int order = Math.Min(MaxOrder, BitOperations.TrailingZeroCount((ulong)pfn));
            while (pfn + (1L << order) > _frames) order--;
            if (order == MaxOrder)
            {
                if (_bootEnd == 0) _bootNext = (int)pfn;
                _bootEnd = (int)pfn + (1 << MaxOrder);
                CountFree(MaxOrder, +1);
            }
            else AddFree((int)pfn, order, atHead: false);
            pfn += 1L << order;
        }
        UpdateFragmentation();
    }

    public long FrameCount => _memory.FrameCount;
    /// <summary>Free frames, in blocks of every order.</summary>
    public long FreeFrames { get; private set; }
    /// <summary>User frames currently allocated.</summary>
    public long ResidentUserFrames { get; private set; }
    /// <summary>Page-table frames currently allocated.</summary>
    public long PageTableFrames { get; private set; }
    /// <summary>The list links, shared by the free lists and the replacement policy's lists.</summary>
    public FrameLinks Links { get; }

    /// <summary>Free blocks of each order (the buddy allocator's <c>/proc/buddyinfo</c> line).</summary>
    public long FreeBlocks(int order) => _freeBlocks[order];

    /// <summary>
    /// The unusable free space index for an allocation of 2^<paramref name="order"/> frames (Gorman and Whitcroft):
    /// the share of free memory that lies in blocks too small for it; 0 when any free block fits.
    /// </summary>
    public double FragmentationIndex(int order)
    {
        if (FreeFrames == 0) return 0;
        long usable = 0;
        for (int k = order; k <= MaxOrder; k++) usable += _freeBlocks[k] << k;
        return (double)(FreeFrames - usable) / FreeFrames;
    }

    public bool TryAllocate(FrameUse use, out ulong pfn) => TryAllocateBlock(0, use, out pfn);

    /// <summary>Allocates 2^<paramref name="order"/> contiguous, naturally aligned frames; false when no block is large enough.</summary>
    public bool TryAllocateBlock(int order, FrameUse use, out ulong pfn)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(order, MaxOrder);
        // No reclaim here: the kernel reclaims at its own retry points and asks again (see IFrameAllocator).
        int k = order;
        while (k <= MaxOrder && _headNext[k] < 0) k++;
        int block;
        if (k <= MaxOrder)
        {
            block = _headNext[k];
            RemoveFree(block, k);
        }
        else if (_bootNext < _bootEnd)
        {
            k = MaxOrder;
            block = _bootNext;
            _bootNext += 1 << MaxOrder;
            CountFree(MaxOrder, -1);
        }
        else
        {
            pfn = 0;
            return false;
        }
        while (k > order)
        {
            k--;
            AddFree(block + (1 << k), k, atHead: true); // the upper half is the split-off buddy
        }
        UpdateFragmentation();

        pfn = (ulong)block;
        int n = 1 << order;
        _refCount[block] = 1;
        _mapCount[block] = 0;
        _flags[block] = (byte)((byte)use | (order << OrderShift));
        for (int i = 1; i < n; i++)
        {
            _refCount[block + i] = 0;
            _mapCount[block + i] = 0;
            _flags[block + i] = (byte)((byte)use | Tail);
        }
        switch (use)
        {
            case FrameUse.User:
                _allocated.Add(n);
                ResidentUserFrames += n;
                _residentPeak.Max(ResidentUserFrames);
                break;
            case FrameUse.PageTable:
                _pageTablePages.Add(n);
                PageTableFrames += n;
                break;
        }
        Stream?.Frame("alloc", pfn, order, use);
        return true;
    }

    /// <summary>The run's event stream when events are on (set by the machine), else null.</summary>
    public Events.EventStream? Stream { get; set; }

    public void Free(ulong pfn, FrameUse use) => FreeBlock(pfn, 0, use);

    /// <summary>Frees a block of 2^<paramref name="order"/> frames, merging it with its buddy while the buddy is free and whole.</summary>
    public void FreeBlock(ulong pfn, int order, FrameUse use)
    {
        if (pfn == ZeroPage) throw new InvalidOperationException("the zero page is never freed");
        if (_refCount[pfn] == 0) throw new InvalidOperationException((_flags[pfn] & Tail) != 0 ? $"frame {pfn} is the tail of a block, not its head" : $"frame {pfn} freed twice");
        if (BlockOrder(pfn) != order) throw new InvalidOperationException($"frame {pfn} heads a block of order {BlockOrder(pfn)}, freed as order {order}");
        int n = 1 << order;
        for (int i = 0; i < n; i++)
        {
            _refCount[(int)pfn + i] = 0;
            _mapCount[(int)pfn + i] = 0;
            _flags[(int)pfn + i] &= UseMask;
            _memory.Zero(pfn + (ulong)i);
        }
        if (use == FrameUse.User) ResidentUserFrames -= n;
        else if (use == FrameUse.PageTable) PageTableFrames -= n;
        Stream?.Frame("free", pfn, order, use);

        int block = (int)pfn;
        while (order < MaxOrder)
        {
            int buddy = block ^ (1 << order);
            if (buddy == 0 || buddy >= _frames || (_flags[buddy] & FreeHead) == 0 || _flags[buddy] >> OrderShift != order) break;
            RemoveFree(buddy, order);
            block = Math.Min(block, buddy);
            order++;
        }
        AddFree(block, order, atHead: true);
        UpdateFragmentation();
    }

    private static int Sentinel(int order) => -(order + 1);

    private int NextOf(int i) => i >= 0 ? _next[i] : _headNext[-i - 1];
    private void SetNext(int i, int v)
    {
        if (i >= 0) _next[i] = v;
        else _headNext[-i - 1] = v;
    }
    private void SetPrev(int i, int v)
    {
        if (i >= 0) _prev[i] = v;
        else _headPrev[-i - 1] = v;
    }

    private void AddFree(int block, int order, bool atHead)
    {
        int s = Sentinel(order);
        int before = atHead ? s : _headPrev[order];
        int after = NextOf(before);
        SetNext(before, block);
        _prev[block] = before;
        _next[block] = after;
        SetPrev(after, block);
        _flags[block] = (byte)(FreeHead | (order << OrderShift));
        CountFree(order, +1);
    }

    private void CountFree(int order, int blocks)
    {
        _freeBlocks[order] += blocks;
        _freeBlockCounters[order].Value = _freeBlocks[order];
        FreeFrames += (long)blocks << order;
        _freeFrames.Value = FreeFrames;
    }

    private void RemoveFree(int block, int order)
    {
        SetNext(_prev[block], _next[block]);
        SetPrev(_next[block], _prev[block]);
        _flags[block] = 0;
        CountFree(order, -1);
    }

    /// <summary><c>memory.fragmentation</c>: the unusable free space index for a max-order block, in thousandths.</summary>
    private void UpdateFragmentation() => _fragmentation.Value = (long)Math.Round(FragmentationIndex(MaxOrder) * 1000);

    public int RefCount(ulong pfn) => _refCount[pfn];
    public int MapCount(ulong pfn) => _mapCount[pfn];
    public FrameUse UseOf(ulong pfn) => (FrameUse)(_flags[pfn] & UseMask);
    public bool IsFree(ulong pfn) => pfn != ZeroPage && _refCount[pfn] == 0 && (_flags[pfn] & Tail) == 0;

    /// <summary>
    /// True when no frame of [<paramref name="start"/>, <paramref name="start"/> + <paramref name="count"/>) has a
    /// reference count, a map count or the tail mark: every one is free, a frame of a free block. One vectorised pass per
    /// array, for a check that walks every frame of a large machine.
    /// </summary>
    public bool NoneHeld(int start, int count) =>
        !_refCount.AsSpan(start, count).ContainsAnyExcept(0)
        && !_mapCount.AsSpan(start, count).ContainsAnyExcept(0)
        && !_flags.AsSpan(start, count).ContainsAny(TailFlags);

    /// <summary>True for a frame of an allocated block other than its first (a tail page: no reference count of its own).</summary>
    public bool IsTail(ulong pfn) => (_flags[pfn] & Tail) != 0;

    /// <summary>The order of the allocated block <paramref name="pfn"/> heads (0 for a single frame).</summary>
    public int BlockOrder(ulong pfn) => (_flags[pfn] & (FreeHead | Tail)) == 0 ? _flags[pfn] >> OrderShift : 0;

    public void Get(ulong pfn) => _refCount[pfn]++;

    /// <summary>Drops one reference; frees the frame when it was the last. True when freed.</summary>
    public bool Put(ulong pfn)
    {
        if (pfn == ZeroPage) return false;
        if (--_refCount[pfn] > 0) return false;
        _refCount[pfn] = 1;
        FreeBlock(pfn, BlockOrder(pfn), UseOf(pfn));
        return true;
    }

    public void AddMap(ulong pfn) => _mapCount[pfn]++;
    public void RemoveMap(ulong pfn) => _mapCount[pfn]--;
}
