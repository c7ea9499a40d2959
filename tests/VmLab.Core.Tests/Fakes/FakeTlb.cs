using VmLab.Abstractions;
using VmLab.Abstractions.Tlb;

namespace VmLab.Core.Tests.Fakes;

/// <summary>
/// A fully associative TLB of a few entries with least-recently-used replacement, kept as plain as possible: a linear
/// scan over an array. An entry matches the page of its size containing the address, in its ASID or, when global, in any.
/// Every flush of <see cref="ITlb"/> is honoured exactly. Allocates nothing after construction.
/// </summary>
public sealed class FakeTlb : ITlb
{
    private struct Slot
    {
        public bool Valid;
        public ulong Page; // the page's base address
        public ushort Asid;
        public long LastUse;
        public TlbEntry Entry;
    }

    private readonly Slot[] _slots;
    private long _clock;

    public FakeTlb(int entries)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(entries);
        _slots = new Slot[entries];
    }

    /// <summary>Valid entries, for tests of the TLB itself.</summary>
    public int Count
    {
        get
        {
            int n = 0;
            foreach (var s in _slots) if (s.Valid) n++;
            return n;
        }
    }

    private static bool Covers(in Slot s, ulong vaddr) => (vaddr & ~((1UL << s.Entry.PageShift) - 1)) == s.Page;

    private static bool Global(in Slot s) => (s.Entry.Flags & PageFlags.Global) != 0;

    public bool TryLookup(ulong vaddr, ushort asid, AccessKind kind, out TlbEntry entry)
    {
        for (int i = 0; i < _slots.Length; i++)
        {
            ref var s = ref _slots[i];
            if (s.Valid && Covers(s, vaddr) && (s.Asid == asid || Global(s)))
            {
                s.LastUse = ++_clock;
                entry = s.Entry;
                return true;
            }
        }
        entry = default;
        return false;
    }

    public void Insert(ulong vaddr, ushort asid, AccessKind kind, in TlbEntry entry)
    {
        ulong page = vaddr & ~((1UL << entry.PageShift) - 1);
        int victim = 0;
        for (int i = 0; i < _slots.Length; i++)
        {
            ref var s = ref _slots[i];
            if (s.Valid && s.Page == page && s.Asid == asid && s.Entry.PageShift == entry.PageShift)
            {
                victim = i; // refresh the entry already held for this page
                break;
            }
            if (!s.Valid) victim = i;
            else if (_slots[victim].Valid && s.LastUse < _slots[victim].LastUse) victim = i;
        }
        _slots[victim] = new Slot { Valid = true, Page = page, Asid = asid, LastUse = ++_clock, Entry = entry };
    }

    public void Invalidate(ulong vaddr, ushort asid)
    {
        for (int i = 0; i < _slots.Length; i++)
        {
            ref var s = ref _slots[i];
            if (s.Valid && Covers(s, vaddr) && (s.Asid == asid || Global(s))) s.Valid = false;
        }
    }

    public void InvalidateAsid(ushort asid)
    {
        for (int i = 0; i < _slots.Length; i++)
        {
            ref var s = ref _slots[i];
            if (s.Valid && s.Asid == asid && !Global(s)) s.Valid = false;
        }
    }

    public void InvalidateAll(bool keepGlobal)
    {
        for (int i = 0; i < _slots.Length; i++)
        {
            ref var s = ref _slots[i];
            if (!keepGlobal || !Global(s)) s.Valid = false;
        }
    }
}
