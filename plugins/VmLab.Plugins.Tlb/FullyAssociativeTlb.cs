using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
using System.Runtime.CompilerServices;
using VmLab.Abstractions;
using VmLab.Abstractions.Tlb;
using VmLab.Plugins.Tlb.Policies;

namespace VmLab.Plugins.Tlb;

/// <summary>The policies of the fully-associative TLB.</summary>
public enum FullyAssociativePolicy
{
    /// <summary>Least recently used.</summary>
    Lru,
    /// <summary>First in, first out: hits do not change the order.</summary>
    Fifo,
    /// <summary>A uniformly random entry, from the component's seed.</summary>
    Random,
    /// <summary>Tree pseudo-LRU over the entries.</summary>
    Plru,
}

public sealed record FullyAssociativeTlbOptions
{
    [Description("Number of entries.")]
    [Range(1, 1 << 20)]
    public int Entries { get; init; } = 64;

    [Description("Replacement policy: lru, fifo, random (seeded) or plru (tree pseudo-LRU over the entries).")]
    public FullyAssociativePolicy Policy { get; init; } = FullyAssociativePolicy.Lru;
}

/// <summary>
/// A fully-associative TLB: any page in any entry. Lookup is O(1) through an open-addressed index of tags
/// (page number, page size, ASID); recency (LRU) or insertion order (FIFO) is a doubly-linked list in arrays;
/// random picks a uniformly random entry from the component's seed; plru keeps a binary tree of bits over the
/// entries (rounded up to a power of two; leaves past the end are never chosen).
/// Global entries are tagged with a reserved ASID and match every address space.
/// </summary>
public sealed class FullyAssociativeTlbState
{
    private const ushort GlobalAsid = 0xFFFF;
    private const int Empty = -1;

    private readonly int _capacity;
    private readonly bool _lru;
    private readonly FullyAssociativePolicy _policy;
    private Xoshiro256 _rng;
    private readonly ulong[] _plru;
    private readonly int _plruLeaves;
    private readonly ulong[] _tags;
    private readonly ulong[] _vpns;
    private readonly TlbEntry[] _entries;
    private readonly int[] _prev, _next;
    private int _head = Empty, _tail = Empty, _count;
    private readonly int[] _freeSlots;
    private int _freeTop;
    private readonly int[] _index;
    private readonly int _indexMask;
    private readonly int[] _sizeCounts = new int[64];
    private ulong _sizesPresent;
    private int _globalCount;

    public FullyAssociativeTlbState(FullyAssociativeTlbOptions options, ulong seed = 0)
    {
        _capacity = options.Entries;
        _policy = options.Policy;
        _lru = _policy == FullyAssociativePolicy.Lru;
        _rng = new Xoshiro256(seed);
        _plruLeaves = (int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)_capacity);
        _plru = _policy == FullyAssociativePolicy.Plru ? new ulong[_plruLeaves / 64 + 1] : [];
        _tags = new ulong[_capacity];
        _vpns = new ulong[_capacity];
        _entries = new TlbEntry[_capacity];
        _prev = new int[_capacity];
        _next = new int[_capacity];
        _freeSlots = new int[_capacity];
        for (int i = 0; i < _capacity; i++) _freeSlots[i] = _capacity - 1 - i;
        _freeTop = _capacity;
        int size = 4;
        while (size < _capacity * 2) size <<= 1;
        _index = new int[size];
        _index.AsSpan().Fill(Empty);
        _indexMask = size - 1;
    }

    public int Count => _count;

    /// <summary>Hash key and ASID holder: the low 42 bits of the page number, the page size and the ASID. The full page number is compared too (<c>_vpns</c>): 57-bit addresses have more page-number bits than fit here.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Tag(ulong va, int shift, ushort asid) => ((va >> shift) << 22) | ((ulong)shift << 16) | asid;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Hash(ulong tag)
    {
        ulong h = tag * 0x9E3779B97F4A7C15UL;
        return (int)(h >> 40);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int Find(ulong tag, ulong vpn)
    {
        int i = Hash(tag) & _indexMask;
        while (true)
        {
            int slot = _index[i];
            if (slot == Empty) return Empty;
            if (_tags[slot] == tag && _vpns[slot] == vpn) return slot;
            i = (i + 1) & _indexMask;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryLookup(ulong va, ushort asid, out TlbEntry entry)
    {
        int slot;
        if (_sizesPresent == 1UL << 12)
        {
            slot = Find(Tag(va, 12, asid), va >> 12);
            if (slot == Empty && _globalCount != 0) slot = Find(Tag(va, 12, GlobalAsid), va >> 12);
        }
        else
        {
            slot = LookupAnySize(va, asid);
        }
        if (slot == Empty)
        {
            entry = default;
            return false;
        }
        if (_lru)
        {
            if (slot != _head) MoveToHead(slot);
        }
        else if (_plru.Length != 0) PlruTouch(slot);
        entry = _entries[slot];
        return true;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private int LookupAnySize(ulong va, ushort asid)
    {
        ulong sizes = _sizesPresent;
        while (sizes != 0)
        {
            int shift = System.Numerics.BitOperations.TrailingZeroCount(sizes);
            sizes &= sizes - 1;
            int slot = Find(Tag(va, shift, asid), va >> shift);
            if (slot == Empty && _globalCount != 0) slot = Find(Tag(va, shift, GlobalAsid), va >> shift);
            if (slot != Empty) return slot;
        }
        return Empty;
    }

    public void Insert(ulong va, ushort asid, in TlbEntry entry)
    {
        bool global = (entry.Flags & PageFlags.Global) != 0;
        ulong tag = Tag(va, entry.PageShift, global ? GlobalAsid : asid);
        ulong vpn = va >> entry.PageShift;
        int slot = Find(tag, vpn);
        if (slot != Empty)
        {
            _entries[slot] = entry;
            if (_lru && slot != _head) MoveToHead(slot);
            return;
        }
        if (_count == _capacity) Remove(Victim());
        slot = _freeSlots[--_freeTop];
        if (_plru.Length != 0) PlruTouch(slot);
        _tags[slot] = tag;
        _vpns[slot] = vpn;
        _entries[slot] = entry;
        _count++;
        PushHead(slot);
        IndexAdd(tag, slot);
        if (_sizeCounts[entry.PageShift]++ == 0) _sizesPresent |= 1UL << entry.PageShift;
        if (global) _globalCount++;
    }

    public void Invalidate(ulong va, ushort asid)
    {
        ulong sizes = _sizesPresent;
        while (sizes != 0)
        {
            int shift = System.Numerics.BitOperations.TrailingZeroCount(sizes);
            sizes &= sizes - 1;
            int slot = Find(Tag(va, shift, asid), va >> shift);
            if (slot != Empty) Remove(slot);
            if (_globalCount != 0)
            {
                slot = Find(Tag(va, shift, GlobalAsid), va >> shift);
                if (slot != Empty) Remove(slot);
            }
        }
    }

    public void InvalidateAsid(ushort asid)
    {
        int slot = _head;
        while (slot != Empty)
        {
            int next = _next[slot];
            if ((ushort)(_tags[slot] & 0xFFFF) == asid) Remove(slot);
            slot = next;
        }
    }

    public void InvalidateAll(bool keepGlobal)
    {
        int slot = _head;
        while (slot != Empty)
        {
            int next = _next[slot];
            if (!keepGlobal || (ushort)(_tags[slot] & 0xFFFF) != GlobalAsid) Remove(slot);
            slot = next;
        }
    }

    /// <summary>The slot a full TLB gives up.</summary>
    private int Victim() => _policy switch
    {
        FullyAssociativePolicy.Random => _rng.Below(_capacity),
        FullyAssociativePolicy.Plru => PlruVictim(),
        _ => _tail,
    };

    /// <summary>Points every node on the path to <paramref name="slot"/> at the other half (node i: children 2i+1, 2i+2).</summary>
    private void PlruTouch(int slot)
    {
        int node = 0, lo = 0, size = _plruLeaves;
        while (size > 1)
        {
            int half = size >> 1;
            bool right = slot >= lo + half;
            if (right) _plru[node >> 6] &= ~(1UL << node);
            else _plru[node >> 6] |= 1UL << node;
            node = 2 * node + (right ? 2 : 1);
            if (right) lo += half;
            size = half;
        }
    }

    /// <summary>Follows the bits to a leaf, never into leaves past the last entry.</summary>
    private int PlruVictim()
    {
        int node = 0, lo = 0, size = _plruLeaves;
        while (size > 1)
        {
            int half = size >> 1;
            bool right = (_plru[node >> 6] & (1UL << node)) != 0 && lo + half < _capacity;
            node = 2 * node + (right ? 2 : 1);
            if (right) lo += half;
            size = half;
        }
        return lo;
    }

    private void Remove(int slot)
    {
        ulong tag = _tags[slot];
        IndexRemove(tag, slot);
        Unlink(slot);
        var shift = _entries[slot].PageShift;
        if (--_sizeCounts[shift] == 0) _sizesPresent &= ~(1UL << shift);
        if ((tag & 0xFFFF) == GlobalAsid) _globalCount--;
        _entries[slot] = default;
        _freeSlots[_freeTop++] = slot;
        _count--;
    }

    private void IndexAdd(ulong tag, int slot)
    {
        int i = Hash(tag) & _indexMask;
        while (_index[i] != Empty) i = (i + 1) & _indexMask;
        _index[i] = slot;
    }

    /// <summary>Linear-probing delete with backward shift (no tombstones).</summary>
    private void IndexRemove(ulong tag, int victim)
    {
        int i = Hash(tag) & _indexMask;
        while (_index[i] != victim) i = (i + 1) & _indexMask;
        int hole = i;
        int j = i;
        while (true)
        {
            j = (j + 1) & _indexMask;
            int slot = _index[j];
            if (slot == Empty) break;
            int home = Hash(_tags[slot]) & _indexMask;
            // Move the entry at j into the hole if its home is not cyclically within (hole, j].
            bool between = hole <= j ? home > hole && home <= j : home > hole || home <= j;
            if (!between)
            {
                _index[hole] = slot;
                hole = j;
            }
        }
        _index[hole] = Empty;
    }

    private void PushHead(int slot)
    {
        _prev[slot] = Empty;
        _next[slot] = _head;
        if (_head != Empty) _prev[_head] = slot;
        _head = slot;
        if (_tail == Empty) _tail = slot;
    }

    private void Unlink(int slot)
    {
        int p = _prev[slot], n = _next[slot];
        if (p != Empty) _next[p] = n; else _head = n;
        if (n != Empty) _prev[n] = p; else _tail = p;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void MoveToHead(int slot)
    {
        Unlink(slot);
        PushHead(slot);
    }
}

/// <summary>
/// The fully-associative TLB as the MMU is specialised on it. One lookup class (unified); every hit is repeatable
/// (<see cref="IRepeatHitTlb"/>): after a hit, LRU has the entry at the head of its list, where a repeated hit leaves it;
/// FIFO and random change nothing on a hit (random draws only for a victim); plru points the bits on the entry's path
/// away from it, which a repeated hit sets to the same values. The TLB keeps no counters of its own.
/// </summary>
public readonly struct FullyAssociativeTlb(FullyAssociativeTlbState state) : IRepeatHitTlb
{
    public FullyAssociativeTlbState State => state;

    public bool SeparatesFetches => false;

    /// <summary>
    /// Every policy's hit overwrites what an earlier hit of the entry did: LRU moves it to the head, plru sets the bits
    /// on its path, FIFO and random change nothing.
    /// </summary>
    public bool RepeatsPairs => true;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryLookup(ulong vaddr, ushort asid, AccessKind kind, out TlbEntry entry) => state.TryLookup(vaddr, asid, out entry);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryLookup(ulong vaddr, ushort asid, AccessKind kind, out TlbEntry entry, out bool repeatable)
    {
        repeatable = true;
        return state.TryLookup(vaddr, asid, out entry);
    }

    public void CountRepeatHits(AccessKind kind, long count)
    {
    }

    public void Insert(ulong vaddr, ushort asid, AccessKind kind, in TlbEntry entry) => state.Insert(vaddr, asid, entry);
    public void Invalidate(ulong vaddr, ushort asid) => state.Invalidate(vaddr, asid);
    public void InvalidateAsid(ushort asid) => state.InvalidateAsid(asid);
    public void InvalidateAll(bool keepGlobal) => state.InvalidateAll(keepGlobal);
}
