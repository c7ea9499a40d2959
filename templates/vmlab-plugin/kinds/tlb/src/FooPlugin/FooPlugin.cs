using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
using VmLab.Abstractions;
using VmLab.Abstractions.Tlb;

namespace FooPlugin;

public sealed record FooPluginOptions
{
    [Description("Number of entries, fully associative.")]
    [Range(1, 65536)]
    public int Entries { get; init; } = 64;
}

/// <summary>
/// A fully-associative TLB with least-frequently-used replacement: each entry counts its hits since it was inserted,
/// and a full TLB evicts the entry with the fewest (the one inserted first among equals). A huge page is cached per
/// 4 KiB piece touched (less reach than a real huge-page TLB, never a wrong translation). Written as a class: one
/// interface call per access, the quick way to prototype; a struct holding references to its state lets the MMU
/// specialise on it.
/// </summary>
public sealed class FooPlugin : ITlb
{
    private const ushort GlobalAsid = 0xFFFF;

    private readonly int _capacity;
    private readonly Dictionary<(ulong Page, ushort Asid), Slot> _slots = [];
    private readonly Counter _evictions;
    private long _inserted;

    private sealed class Slot(TlbEntry entry, long inserted)
    {
        public TlbEntry Entry = entry;
        public long Hits;
        public readonly long Inserted = inserted;
    }

    public FooPlugin(FooPluginOptions options, IMetrics metrics)
    {
        _capacity = options.Entries;
        _evictions = metrics.Counter("tlb.lfu_evictions");
    }

    public int Count => _slots.Count;

    public bool TryLookup(ulong vaddr, ushort asid, AccessKind kind, out TlbEntry entry)
    {
        ulong page = vaddr >> VirtualAddress.PageShift;
        if (_slots.TryGetValue((page, asid), out var slot) || _slots.TryGetValue((page, GlobalAsid), out slot))
        {
            slot.Hits++;
            entry = slot.Entry;
            return true;
        }
        entry = default;
        return false;
    }

    public void Insert(ulong vaddr, ushort asid, AccessKind kind, in TlbEntry entry)
    {
        ulong page = vaddr >> VirtualAddress.PageShift;
        var key = (page, (entry.Flags & PageFlags.Global) != 0 ? GlobalAsid : asid);
        if (_slots.TryGetValue(key, out var existing))
        {
            existing.Entry = entry; // a refreshed translation keeps its count
            return;
        }
        if (_slots.Count == _capacity)
        {
            var victim = _slots.MinBy(p => (p.Value.Hits, p.Value.Inserted)).Key;
            _slots.Remove(victim);
            _evictions.Increment();
        }
        _slots[key] = new Slot(entry, _inserted++);
    }

    public void Invalidate(ulong vaddr, ushort asid)
    {
        ulong page = vaddr >> VirtualAddress.PageShift;
        _slots.Remove((page, asid));
        _slots.Remove((page, GlobalAsid));
    }

    public void InvalidateAsid(ushort asid)
    {
        foreach (var key in _slots.Keys.Where(k => k.Asid == asid).ToList()) _slots.Remove(key);
    }

    public void InvalidateAll(bool keepGlobal)
    {
        foreach (var key in _slots.Keys.Where(k => !keepGlobal || k.Asid != GlobalAsid).ToList()) _slots.Remove(key);
    }
}
