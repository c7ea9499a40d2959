using System.Numerics;
using VmLab.Abstractions;

namespace VmLab.Traces;

/// <summary>
/// What <c>vmlab trace info</c> reports about a trace: accesses by kind and process, the footprint in pages, and the
/// page reuse-distance (LRU stack distance) histogram. Fed batch by batch; memory grows with the footprint, not the length.
/// </summary>
public sealed class TraceStatistics
{
    private readonly int _pageShift;
    private readonly Dictionary<(int Pid, ulong Page), int> _last = [];
    private readonly Dictionary<int, long> _accessesByPid = [];
    private long[] _tree = new long[1 << 12];
    private int _time;

    public TraceStatistics(int pageSize = 4096)
    {
        if (pageSize <= 0 || (pageSize & (pageSize - 1)) != 0) throw new ArgumentOutOfRangeException(nameof(pageSize));
        PageSize = pageSize;
        _pageShift = BitOperations.Log2((uint)pageSize);
    }

    public int PageSize { get; }
    public long Reads { get; private set; }
    public long Writes { get; private set; }
    public long Fetches { get; private set; }
    public long KernelAccesses { get; private set; }
    public long Accesses => Reads + Writes + Fetches;

    /// <summary>Page touches: an access straddling a page boundary touches each of its pages.</summary>
    public long PageTouches { get; private set; }

    /// <summary>Distinct (pid, page) pairs touched.</summary>
    public long FootprintPages => _last.Count;

    public IReadOnlyDictionary<int, long> AccessesByPid => _accessesByPid;

    /// <summary>
    /// Reuse-distance histogram over page touches: [0] first touches (infinite distance); [1 + k] touches whose distance
    /// d (distinct other pages touched since the page's previous touch) has bucket k, where bucket 0 is d = 0 and bucket
    /// k ≥ 1 is 2^(k-1) ≤ d &lt; 2^k.
    /// </summary>
    public long[] ReuseHistogram { get; } = new long[66];

    /// <summary>The bucket index of a distance (0 for d = 0, k for 2^(k-1) ≤ d &lt; 2^k).</summary>
    public static int Bucket(long distance) => distance == 0 ? 0 : 64 - BitOperations.LeadingZeroCount((ulong)distance);

    public void Add(ReadOnlySpan<MemoryAccess> batch)
    {
        foreach (ref readonly var a in batch)
        {
            switch (a.Kind)
            {
                case AccessKind.Read: Reads++; break;
                case AccessKind.Write: Writes++; break;
                default: Fetches++; break;
            }
            if (a.Mode == AccessMode.Kernel) KernelAccesses++;
            ref long perPid = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(_accessesByPid, a.Pid, out _);
            perPid++;
            ulong first = a.Address >> _pageShift;
            ulong last = (a.Address + Math.Max((ulong)a.Size, 1UL) - 1) >> _pageShift;
            if (last < first) last = first; // wrapped past the top of the address space
            for (ulong page = first; page <= last; page++) Touch(a.Pid, page);
        }
    }

    private void Touch(int pid, ulong page)
    {
        PageTouches++;
        if (_time == _tree.Length - 1) Compact();
        int now = ++_time; // Fenwick indices start at 1
        ref int slot = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(_last, (pid, page), out bool exists);
        if (exists)
        {
            int previous = slot;
            long distance = Sum(now - 1) - Sum(previous);
            ReuseHistogram[1 + Bucket(distance)]++;
            Update(previous, -1);
        }
        else
        {
            ReuseHistogram[0]++;
        }
        slot = now;
        Update(now, 1);
    }

    private long Sum(int i)
    {
        long s = 0;
        for (; i > 0; i -= i & -i) s += _tree[i];
        return s;
    }

    private void Update(int i, long delta)
    {
        for (; i < _tree.Length; i += i & -i) _tree[i] += delta;
    }

    /// <summary>Renumbers the live last-touch times 1..M in order, so the tree stays proportional to the footprint.</summary>
    private void Compact()
    {
        var keys = new (int Pid, ulong Page)[_last.Count];
        var times = new int[_last.Count];
        int k = 0;
        foreach (var (key, time) in _last)
        {
            keys[k] = key;
            times[k] = time;
            k++;
        }
        Array.Sort(times, keys);
        int size = _tree.Length;
        while (size < 2 * (keys.Length + 1)) size *= 2;
        _tree = new long[size];
        for (int i = 0; i < keys.Length; i++)
        {
            _last[keys[i]] = i + 1;
            Update(i + 1, 1);
        }
        _time = keys.Length;
    }
}
