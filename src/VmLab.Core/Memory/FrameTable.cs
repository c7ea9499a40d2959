using VmLab.Abstractions;

namespace VmLab.Core.Memory;

/// <summary>
/// Physical frame allocation and per-frame metadata (reference and map counts). Frame 0 is the shared zero page:
/// reserved at boot, never handed out or freed. Free frames are handed out lowest first, so runs are deterministic.
/// </summary>
public sealed class FrameTable : IFrameAllocator
{
    public const ulong ZeroPage = 0;

    private readonly int[] _refCount;
    private readonly int[] _mapCount;
    private readonly FrameUse[] _use;
    private readonly ulong[] _free;
    private int _freeTop;
    private readonly PhysicalMemory _memory;
    private readonly Counter _allocated;
    private readonly Counter _pageTablePages;
    private readonly Counter _residentPeak;

    public FrameTable(PhysicalMemory memory, IMetrics metrics)
    {
        _memory = memory;
        long frames = memory.FrameCount;
        _refCount = new int[frames];
        _mapCount = new int[frames];
        _use = new FrameUse[frames];
        _free = new ulong[frames - 1];
        for (long i = 0; i < frames - 1; i++) _free[i] = (ulong)(frames - 1 - i);
        _freeTop = (int)(frames - 1);
        _refCount[ZeroPage] = 1;
        _use[ZeroPage] = FrameUse.Kernel;
        _allocated = metrics.Counter(MetricNames.PagesAllocated);
        _pageTablePages = metrics.Counter(MetricNames.PageTablePages);
        _residentPeak = metrics.Counter(MetricNames.PagesResidentPeak);
    }

    public long FrameCount => _memory.FrameCount;
    public long FreeFrames => _freeTop;
    /// <summary>User frames currently allocated.</summary>
    public long ResidentUserFrames { get; private set; }
    /// <summary>Page-table frames currently allocated.</summary>
    public long PageTableFrames { get; private set; }

    /// <summary>Direct reclaim: frees one frame when memory is exhausted; false when nothing can be reclaimed.</summary>
    public Func<bool>? Reclaim { get; set; }

    public bool TryAllocate(FrameUse use, out ulong pfn)
    {
        while (_freeTop == 0)
        {
            if (Reclaim is null || !Reclaim())
            {
                pfn = 0;
                return false;
            }
        }
        pfn = _free[--_freeTop];
        _refCount[pfn] = 1;
        _mapCount[pfn] = 0;
        _use[pfn] = use;
        switch (use)
        {
            case FrameUse.User:
                _allocated.Increment();
                ResidentUserFrames++;
                _residentPeak.Max(ResidentUserFrames);
                break;
            case FrameUse.PageTable:
                _pageTablePages.Increment();
                PageTableFrames++;
                break;
        }
        return true;
    }

    public void Free(ulong pfn, FrameUse use)
    {
        if (pfn == ZeroPage) throw new InvalidOperationException("the zero page is never freed");
        if (_refCount[pfn] == 0) throw new InvalidOperationException($"frame {pfn} freed twice");
        _refCount[pfn] = 0;
        _mapCount[pfn] = 0;
        _memory.Zero(pfn);
        if (use == FrameUse.User) ResidentUserFrames--;
        else if (use == FrameUse.PageTable) PageTableFrames--;
        _free[_freeTop++] = pfn;
    }

    public int RefCount(ulong pfn) => _refCount[pfn];
    public int MapCount(ulong pfn) => _mapCount[pfn];
    public FrameUse UseOf(ulong pfn) => _use[pfn];
    public bool IsFree(ulong pfn) => pfn != ZeroPage && _refCount[pfn] == 0;

    public void Get(ulong pfn) => _refCount[pfn]++;

    /// <summary>Drops one reference; frees the frame when it was the last. True when freed.</summary>
    public bool Put(ulong pfn)
    {
        if (pfn == ZeroPage) return false;
        if (--_refCount[pfn] > 0) return false;
        _refCount[pfn] = 1;
        Free(pfn, _use[pfn]);
        return true;
    }

    public void AddMap(ulong pfn) => _mapCount[pfn]++;
    public void RemoveMap(ulong pfn) => _mapCount[pfn]--;
}
