using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
using VmLab.Abstractions;
using VmLab.Abstractions.Plugins;
using VmLab.Abstractions.Tlb;

[assembly: VmLabPlugin(typeof(DirectMappedTlb.DirectMappedTlbModule))]

namespace DirectMappedTlb;

public sealed record DirectMappedTlbOptions
{
    [Description("Number of entries; a 4 KiB page can only live in entry (page number mod entries).")]
    [Range(1, 1 << 20)]
    public int Entries { get; init; } = 64;
}

/// <summary>
/// A direct-mapped TLB: each 4 KiB virtual page number has exactly one entry it may occupy, so two hot pages that
/// map to the same entry evict each other however empty the rest of the TLB is. A huge page is cached per 4 KiB
/// piece touched (less reach than a real huge-page TLB, never a wrong translation). Written as a class: one
/// interface call per access, the quick way to prototype.
/// </summary>
public sealed class DirectMappedTlb : ITlb
{
    private const ushort GlobalAsid = 0xFFFF;

    private readonly ulong[] _pages;   // 4 KiB virtual page number cached in each entry
    private readonly ushort[] _asids;  // its address space, or GlobalAsid
    private readonly bool[] _valid;
    private readonly TlbEntry[] _entries;
    private readonly Counter _conflicts;
    private int _hugeEntries;

    public DirectMappedTlb(DirectMappedTlbOptions options, IMetrics metrics)
    {
        _pages = new ulong[options.Entries];
        _asids = new ushort[options.Entries];
        _valid = new bool[options.Entries];
        _entries = new TlbEntry[options.Entries];
        _conflicts = metrics.Counter("tlb.conflict_evictions");
    }

    private int Slot(ulong page) => (int)(page % (ulong)_pages.Length);

    public bool TryLookup(ulong vaddr, ushort asid, AccessKind kind, out TlbEntry entry)
    {
        ulong page = vaddr >> 12;
        int i = Slot(page);
        if (_valid[i] && _pages[i] == page && (_asids[i] == asid || _asids[i] == GlobalAsid))
        {
            entry = _entries[i];
            return true;
        }
        entry = default;
        return false;
    }

    public void Insert(ulong vaddr, ushort asid, AccessKind kind, in TlbEntry entry)
    {
        ulong page = vaddr >> 12;
        int i = Slot(page);
        if (_valid[i])
        {
            if (_pages[i] != page) _conflicts.Increment();
            Drop(i);
        }
        _pages[i] = page;
        _asids[i] = (entry.Flags & PageFlags.Global) != 0 ? GlobalAsid : asid;
        _entries[i] = entry;
        _valid[i] = true;
        if (entry.PageShift > 12) _hugeEntries++;
    }

    public void Invalidate(ulong vaddr, ushort asid)
    {
        ulong page = vaddr >> 12;
        int i = Slot(page);
        if (_valid[i] && _pages[i] == page && (_asids[i] == asid || _asids[i] == GlobalAsid)) Drop(i);
        if (_hugeEntries == 0) return;
        // invlpg on any address of a huge page drops the whole huge page: every 4 KiB piece of it cached here.
        for (int j = 0; j < _valid.Length; j++)
        {
            if (!_valid[j] || _entries[j].PageShift <= 12 || (_asids[j] != asid && _asids[j] != GlobalAsid)) continue;
            int shift = _entries[j].PageShift - 12;
            if (_pages[j] >> shift == page >> shift) Drop(j);
        }
    }

    public void InvalidateAsid(ushort asid)
    {
        for (int i = 0; i < _valid.Length; i++)
            if (_valid[i] && _asids[i] == asid) Drop(i);
    }

    public void InvalidateAll(bool keepGlobal)
    {
        for (int i = 0; i < _valid.Length; i++)
            if (_valid[i] && !(keepGlobal && _asids[i] == GlobalAsid)) Drop(i);
    }

    private void Drop(int i)
    {
        if (_entries[i].PageShift > 12) _hugeEntries--;
        _valid[i] = false;
    }
}

/// <summary>The plugin's entry point: one registration per component, no type scanning.</summary>
public sealed class DirectMappedTlbModule : IPluginModule
{
    public void Register(IPluginRegistry registry) =>
        registry.AddTlb<DirectMappedTlb, DirectMappedTlbOptions>(
            "direct-mapped",
            "A direct-mapped TLB: one possible entry per 4 KiB page; conflicting pages evict each other.",
            c => new DirectMappedTlb(c.Options, c.Metrics));
}
