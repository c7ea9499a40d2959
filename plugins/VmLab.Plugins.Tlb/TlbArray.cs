using System.Numerics;
using System.Runtime.CompilerServices;
using VmLab.Abstractions;
using VmLab.Abstractions.Tlb;
using VmLab.Plugins.Tlb.Policies;

namespace VmLab.Plugins.Tlb;

/// <summary>
/// One set-associative array of TLB entries: <c>sets × ways</c>, the set chosen by the low bits of the virtual page
/// number of the entry's page size, replacement inside the set by <typeparamref name="TPolicy"/>. One way is
/// direct-mapped, one set is fully associative. It may hold several page sizes (a shared array, probed once per size
/// present). Entries are tagged with an ASID; global entries carry <see cref="GlobalAsid"/> and match every ASID.
/// Lookup is O(ways) per page size present and allocates nothing.
/// </summary>
public sealed class TlbArray<TPolicy> where TPolicy : ITlbReplacementPolicy<TPolicy>
{
    public const ushort GlobalAsid = 0xFFFF;

    private readonly int _ways;
    private readonly int _setMask;
    private readonly ulong _pageShifts;
    private readonly ulong[] _tags;
    private readonly ushort[] _asids;
    private readonly TlbEntry[] _entries;
    private TPolicy _policy;
    private readonly int[] _sizeCounts = new int[64];
    private ulong _sizesPresent;
    private int _count;

    /// <param name="pageShifts">Bit <c>s</c> set: the array holds pages of <c>2^s</c> bytes.</param>
    public TlbArray(int sets, int ways, ulong pageShifts, ulong seed)
    {
        if (sets < 1 || !BitOperations.IsPow2(sets)) throw new ArgumentException($"sets must be a power of two, got {sets}");
        if (ways < 1) throw new ArgumentException($"ways must be at least 1, got {ways}");
        if (pageShifts == 0) throw new ArgumentException("an array must hold at least one page size");
        Sets = sets;
        _ways = ways;
        _setMask = sets - 1;
        _pageShifts = pageShifts;
        _tags = new ulong[sets * ways];
        _asids = new ushort[sets * ways];
        _entries = new TlbEntry[sets * ways];
        _policy = TPolicy.Create(sets, ways, seed);
    }

    public int Sets { get; }
    public int Ways => _ways;
    public int Capacity => _tags.Length;
    public int Count => _count;

    /// <summary>Whether pages of <c>2^<paramref name="shift"/></c> bytes go in this array.</summary>
    public bool Holds(int shift) => (_pageShifts & (1UL << shift)) != 0;

    /// <summary>Tag: the page number, the page size and a valid bit (0 is never a valid tag).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Tag(ulong vpn, int shift) => (vpn << 7) | ((ulong)shift << 1) | 1;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryLookup(ulong va, ushort asid, out TlbEntry entry)
    {
        ulong sizes = _sizesPresent;
        while (sizes != 0)
        {
            int shift = BitOperations.TrailingZeroCount(sizes);
            sizes &= sizes - 1;
            ulong vpn = va >> shift;
            int set = (int)vpn & _setMask;
            int i = Find(set, Tag(vpn, shift), asid);
            if (i >= 0)
            {
                _policy.OnHit(set, i - set * _ways);
                entry = _entries[i];
                return true;
            }
        }
        entry = default;
        return false;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int Find(int set, ulong tag, ushort asid)
    {
        int start = set * _ways;
        var tags = _tags.AsSpan(start, _ways);
        int offset = 0;
        while (true)
        {
            // A vectorised scan of the set's tags; the same page may be cached for several ASIDs.
            int w = tags.IndexOf(tag);
            if (w < 0) return -1;
            ushort a = _asids[start + offset + w];
            if (a == asid || a == GlobalAsid) return start + offset + w;
            offset += w + 1;
            tags = tags[(w + 1)..];
        }
    }

    /// <summary>
    /// Caches a translation (the caller checked <see cref="Holds"/>). An entry already cached for the page is updated in
    /// place. Returns true with the evicted entry's page address, ASID tag and size when a valid entry was replaced.
    /// </summary>
    public bool Insert(ulong va, ushort asid, in TlbEntry entry, out ulong evictedVa, out ushort evictedAsid, out byte evictedShift)
    {
        evictedVa = 0;
        evictedAsid = 0;
        evictedShift = 0;
        int shift = entry.PageShift;
        ushort tagAsid = (entry.Flags & PageFlags.Global) != 0 ? GlobalAsid : asid;
        ulong vpn = va >> shift;
        int set = (int)vpn & _setMask;
        ulong tag = Tag(vpn, shift);
        int start = set * _ways;
        int free = -1;
        for (int w = 0; w < _ways; w++)
        {
            ulong t = _tags[start + w];
            if (t == tag && _asids[start + w] == tagAsid)
            {
                _entries[start + w] = entry;
                return false;
            }
            if (t == 0 && free < 0) free = w;
        }
        bool evicted = false;
        int way = free;
        if (way < 0)
        {
            way = _policy.Victim(set);
            int v = start + way;
            ulong old = _tags[v];
            evictedShift = (byte)((old >> 1) & 0x3F);
            evictedVa = (old >> 7) << evictedShift;
            evictedAsid = _asids[v];
            evicted = true;
            Release(v);
        }
        int i = start + way;
        _tags[i] = tag;
        _asids[i] = tagAsid;
        _entries[i] = entry;
        _count++;
        if (_sizeCounts[shift]++ == 0) _sizesPresent |= 1UL << shift;
        _policy.OnFill(set, way);
        return evicted;
    }

    /// <summary>Drops the entries of the page of <paramref name="va"/> that <paramref name="asid"/> sees (its own and global ones).</summary>
    public void Invalidate(ulong va, ushort asid)
    {
        ulong sizes = _sizesPresent;
        while (sizes != 0)
        {
            int shift = BitOperations.TrailingZeroCount(sizes);
            sizes &= sizes - 1;
            ulong vpn = va >> shift;
            int set = (int)vpn & _setMask;
            ulong tag = Tag(vpn, shift);
            int start = set * _ways;
            for (int w = 0; w < _ways; w++)
            {
                int i = start + w;
                if (_tags[i] == tag && (_asids[i] == asid || _asids[i] == GlobalAsid)) Release(i);
            }
        }
    }

    /// <summary>Drops exactly the entry with this page address, ASID tag and size, if present (inclusive back-invalidation).</summary>
    public void InvalidateExact(ulong va, ushort asidTag, int shift)
    {
        if ((_sizesPresent & (1UL << shift)) == 0) return;
        ulong vpn = va >> shift;
        int set = (int)vpn & _setMask;
        ulong tag = Tag(vpn, shift);
        int start = set * _ways;
        for (int w = 0; w < _ways; w++)
            if (_tags[start + w] == tag && _asids[start + w] == asidTag) Release(start + w);
    }

    /// <summary>Drops every non-global entry of <paramref name="asid"/>.</summary>
    public void InvalidateAsid(ushort asid)
    {
        if (_count == 0) return;
        for (int i = 0; i < _tags.Length; i++)
            if (_tags[i] != 0 && _asids[i] == asid) Release(i);
    }

    public void InvalidateAll(bool keepGlobal)
    {
        if (_count == 0) return;
        for (int i = 0; i < _tags.Length; i++)
            if (_tags[i] != 0 && (!keepGlobal || _asids[i] != GlobalAsid)) Release(i);
    }

    private void Release(int i)
    {
        int shift = (int)((_tags[i] >> 1) & 0x3F);
        if (--_sizeCounts[shift] == 0) _sizesPresent &= ~(1UL << shift);
        _tags[i] = 0;
        _asids[i] = 0;
        _entries[i] = default;
        _count--;
    }
}
