using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
using VmLab.Abstractions;
using VmLab.Abstractions.Replacement;

namespace VmLab.Plugins.Replacement;

public sealed record AgingOptions
{
    [Description("Bits of each page's counter (Tanenbaum's example uses 8).")]
    [Range(1, 32)]
    public int CounterBits { get; init; } = 8;

    [Description("Accesses between two clock ticks (the policy's virtual time: one access per page an access touches).")]
    [Range(1L, 1L << 40)]
    public long TickAccesses { get; init; } = 1000;
}

/// <summary>
/// LFU with aging, the Aging algorithm of Tanenbaum and Bos, Modern Operating Systems (4th ed., §3.4.7): NFU's use
/// counters, aged. Every access sets the page's R bit; at each clock tick every resident page's counter is shifted right
/// one bit and its R bit enters at the leftmost bit, then R is cleared. A fault evicts the page with the lowest counter,
/// the page resident longest among equals. A page arrives with counter 0 and its R bit set by the faulting access.
/// A tick comes every <see cref="AgingOptions.TickAccesses"/> accesses. Choosing a victim scans the resident pages.
/// </summary>
public sealed class AgingPolicy(long frames, AgingOptions options) : IReplacementPolicy
{
    private readonly ResidentSet _resident = new(frames);
    private readonly uint[] _counter = new uint[frames];
    private readonly bool[] _referenced = new bool[frames];
    private readonly long[] _arrival = new long[frames];
    private readonly uint _top = 1u << (options.CounterBits - 1);
    private long _arrivals, _accesses;

    public ReplacementInput Input => ReplacementInput.EveryAccess;

    public void OnResident(ulong pfn) => OnResident(pfn, 0);

    public void OnResident(ulong pfn, ulong key)
    {
        _resident.Add(pfn);
        _counter[pfn] = 0;
        _referenced[pfn] = false;
        _arrival[pfn] = ++_arrivals;
    }

    public void OnReleased(ulong pfn) => _resident.Remove(pfn);
    public void OnEvicted(ulong pfn, ulong key) => _resident.Remove(pfn);

    public void OnAccess(ulong pfn)
    {
        if (_resident.Contains(pfn)) _referenced[pfn] = true;
        if (++_accesses % options.TickAccesses != 0) return;
        for (int i = 0; i < _resident.Count; i++)
        {
            ulong p = _resident[i];
            _counter[p] = (_counter[p] >> 1) | (_referenced[p] ? _top : 0);
            _referenced[p] = false;
        }
    }

    public bool TrySelectVictim(IReclaimView view, out ulong pfn)
    {
        pfn = 0;
        if (_resident.Count == 0) return false;
        pfn = _resident[0];
        for (int i = 1; i < _resident.Count; i++)
        {
            ulong p = _resident[i];
            if (_counter[p] < _counter[pfn] || (_counter[p] == _counter[pfn] && _arrival[p] < _arrival[pfn])) pfn = p;
        }
        return true;
    }
}
