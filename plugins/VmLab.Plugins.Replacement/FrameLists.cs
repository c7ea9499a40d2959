namespace VmLab.Plugins.Replacement;

/// <summary>
/// Intrusive doubly-linked lists over frame numbers in flat arrays (like <c>struct page</c>'s <c>lru</c> links): every
/// frame is on at most one list; moving a frame allocates nothing. List i's sentinel is index <c>frames + i</c>.
/// The head of a list is its oldest end, the tail its newest.
/// </summary>
public sealed class FrameLists
{
    public const byte None = byte.MaxValue;

    private readonly int[] _prev, _next;
    private readonly byte[] _list;
    private readonly int[] _count;
    private readonly int _frames;

    public FrameLists(long frames, int lists)
    {
        if (frames > int.MaxValue - lists) throw new ArgumentOutOfRangeException(nameof(frames));
        _frames = (int)frames;
        _prev = new int[frames + lists];
        _next = new int[frames + lists];
        _list = new byte[frames];
        Array.Fill(_list, None);
        _count = new int[lists];
        for (int i = 0; i < lists; i++) _prev[_frames + i] = _next[_frames + i] = _frames + i;
    }

    public int Count(int list) => _count[list];

    /// <summary>The list the frame is on, or <see cref="None"/>.</summary>
    public byte ListOf(ulong pfn) => pfn < (ulong)_frames ? _list[pfn] : None;

    public bool Contains(ulong pfn) => ListOf(pfn) != None;

    /// <summary>The oldest frame of the list; false when empty.</summary>
    public bool TryHead(int list, out ulong pfn)
    {
        int h = _next[_frames + list];
        pfn = (ulong)h;
        return h != _frames + list;
    }

    /// <summary>The frame after <paramref name="pfn"/> towards the tail; false at the tail.</summary>
    public bool TryNext(ulong pfn, out ulong next)
    {
        int n = _next[(int)pfn];
        next = (ulong)n;
        return n < _frames;
    }

    public void AddTail(int list, ulong pfn)
    {
        int s = _frames + list, f = (int)pfn, last = _prev[s];
        _next[last] = f;
        _prev[f] = last;
        _next[f] = s;
        _prev[s] = f;
        _list[f] = (byte)list;
        _count[list]++;
    }

    public void Remove(ulong pfn)
    {
        int f = (int)pfn;
        byte l = _list[f];
        if (l == None) return;
        _next[_prev[f]] = _next[f];
        _prev[_next[f]] = _prev[f];
        _list[f] = None;
        _count[l]--;
    }

    /// <summary>Moves the frame to the tail of <paramref name="list"/> (from wherever it is).</summary>
    public void MoveToTail(int list, ulong pfn)
    {
        Remove(pfn);
        AddTail(list, pfn);
    }
}

/// <summary>
/// Recently evicted pages remembered by key only (ARC's B1/B2, CAR's B1/B2, 2Q's A1out): insertion order, lookup by key.
/// </summary>
public sealed class GhostList
{
    private readonly LinkedList<ulong> _order = new();
    private readonly Dictionary<ulong, LinkedListNode<ulong>> _nodes = [];

    public int Count => _order.Count;

    public bool Contains(ulong key) => key != 0 && _nodes.ContainsKey(key);

    public void AddNewest(ulong key)
    {
        if (key == 0) return;
        Remove(key);
        _nodes[key] = _order.AddLast(key);
    }

    public bool Remove(ulong key)
    {
        if (!_nodes.Remove(key, out var node)) return false;
        _order.Remove(node);
        return true;
    }

    public void RemoveOldest()
    {
        var first = _order.First;
        if (first is null) return;
        _nodes.Remove(first.Value);
        _order.RemoveFirst();
    }
}

/// <summary>SplitMix64, seeded from the component's seed: the only randomness a policy uses.</summary>
public sealed class SplitMix64(ulong seed)
{
    private ulong _state = seed;

    public ulong Next()
    {
        ulong z = _state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>Uniform in [0, n) (Lemire's multiply-shift, with rejection).</summary>
    public int NextInt(int n)
    {
        ulong bound = (ulong)n;
        ulong threshold = (0UL - bound) % bound;
        for (;;)
        {
            ulong r = Next();
            UInt128 m = (UInt128)r * bound;
            if ((ulong)m >= threshold) return (int)(m >> 64);
        }
    }
}
