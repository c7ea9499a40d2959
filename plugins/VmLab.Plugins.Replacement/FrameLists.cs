using VmLab.Abstractions;

namespace VmLab.Plugins.Replacement;

/// <summary>
/// Intrusive doubly-linked lists over frame numbers, threaded through the machine's per-frame links
/// (<see cref="FrameLinks"/>, shared with the buddy allocator's free lists as Linux's <c>struct page</c> shares its
/// <c>lru</c> field): every frame is on at most one list, moving one allocates nothing, and the only per-frame state
/// of its own is one byte naming the list. Sentinels live outside the shared arrays, encoded as <c>-(list + 1)</c>.
/// The head of a list is its oldest end, the tail its newest.
/// </summary>
public sealed class FrameLists
{
    public const byte None = byte.MaxValue;

    private readonly int[] _prev, _next;
    private readonly int[] _headNext, _headPrev;
    private readonly byte[] _list;
    private readonly int[] _count;
    private readonly long _frames;

    public FrameLists(FrameLinks links, int lists)
    {
        _frames = links.Count;
        _prev = links.Prev;
        _next = links.Next;
        _list = new byte[links.Count];
        Array.Fill(_list, None);
        _count = new int[lists];
        _headNext = new int[lists];
        _headPrev = new int[lists];
        for (int i = 0; i < lists; i++) _headNext[i] = _headPrev[i] = Sentinel(i);
    }

    /// <summary>Lists over links of their own (for a policy used outside a machine).</summary>
    public FrameLists(long frames, int lists) : this(new FrameLinks(frames), lists)
    {
    }

    private static int Sentinel(int list) => -(list + 1);

    private int NextOf(int i) => i >= 0 ? _next[i] : _headNext[-i - 1];
    private int PrevOf(int i) => i >= 0 ? _prev[i] : _headPrev[-i - 1];

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

    public int Count(int list) => _count[list];

    /// <summary>The list the frame is on, or <see cref="None"/>.</summary>
    public byte ListOf(ulong pfn) => pfn < (ulong)_frames ? _list[pfn] : None;

    public bool Contains(ulong pfn) => ListOf(pfn) != None;

    /// <summary>The oldest frame of the list; false when empty.</summary>
    public bool TryHead(int list, out ulong pfn)
    {
        int h = _headNext[list];
        pfn = h >= 0 ? (ulong)h : 0;
        return h >= 0;
    }

    /// <summary>The frame after <paramref name="pfn"/> on its list (one step newer); false at the tail or when it is on no list.</summary>
    public bool TryNext(ulong pfn, out ulong next)
    {
        int n = Contains(pfn) ? _next[pfn] : -1;
        next = n >= 0 ? (ulong)n : 0;
        return n >= 0;
    }

    public void AddTail(int list, ulong pfn)
    {
        int s = Sentinel(list), f = (int)pfn, last = PrevOf(s);
        SetNext(last, f);
        _prev[f] = last;
        _next[f] = s;
        SetPrev(s, f);
        _list[f] = (byte)list;
        _count[list]++;
    }

    public void Remove(ulong pfn)
    {
        if (pfn >= (ulong)_frames) return;
        int f = (int)pfn;
        byte l = _list[f];
        if (l == None) return;
        SetNext(_prev[f], _next[f]);
        SetPrev(_next[f], _prev[f]);
        _list[f] = None;
        _count[l]--;
    }

    /// <summary>Adds the frame at the head (the oldest end) of <paramref name="list"/>.</summary>
    public void AddHead(int list, ulong pfn)
    {
        int s = Sentinel(list), f = (int)pfn, first = NextOf(s);
        SetPrev(first, f);
        _next[f] = first;
        _prev[f] = s;
        SetNext(s, f);
        _list[f] = (byte)list;
        _count[list]++;
    }

    /// <summary>Moves the frame to the head (the oldest end) of <paramref name="list"/> (from wherever it is).</summary>
    public void MoveToHead(int list, ulong pfn)
    {
        Remove(pfn);
        AddHead(list, pfn);
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
