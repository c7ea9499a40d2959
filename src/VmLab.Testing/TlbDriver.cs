using VmLab.Abstractions;
using VmLab.Abstractions.Tlb;

namespace VmLab.Testing;

/// <summary>
/// Drives a TLB as the MMU does: a lookup per access and, on a miss, an insert of the translation a walk would give
/// (here frame = virtual page number, user read/write). Counts hits and misses. Works with a struct TLB too: the
/// driver keeps the one copy it is given and every call goes to it.
/// </summary>
public sealed class TlbDriver<TTlb>(TTlb tlb) where TTlb : ITlb
{
    private TTlb _tlb = tlb;

    public const PageFlags UserReadWrite = PageFlags.Present | PageFlags.User | PageFlags.Writable;

    /// <summary>The TLB under test (for a struct, the copy the driver drives).</summary>
    public TTlb Tlb => _tlb;

    public long Hits { get; private set; }
    public long Misses { get; private set; }

    /// <summary>One access: true on a hit; on a miss the page's translation is inserted.</summary>
    public bool Access(ulong vaddr, ushort asid = 1, AccessKind kind = AccessKind.Read)
    {
        if (_tlb.TryLookup(vaddr, asid, kind, out _))
        {
            Hits++;
            return true;
        }
        Misses++;
        _tlb.Insert(vaddr, asid, kind, new TlbEntry(vaddr >> VirtualAddress.PageShift, UserReadWrite));
        return false;
    }

    /// <summary>One read of each page number in turn (address = page × 4 KiB); returns the misses among them.</summary>
    public long Run(IEnumerable<ulong> pages, ushort asid = 1)
    {
        long before = Misses;
        foreach (ulong page in pages) Access(page << VirtualAddress.PageShift, asid);
        return Misses - before;
    }

    /// <summary>Whether the page is cached now, without counting an access (a lookup may still update replacement state).</summary>
    public bool Holds(ulong vaddr, ushort asid = 1) => _tlb.TryLookup(vaddr, asid, AccessKind.Read, out _);

    public void Invalidate(ulong vaddr, ushort asid = 1) => _tlb.Invalidate(vaddr, asid);
}
