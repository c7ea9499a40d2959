using VmLab.Abstractions.Replacement;

namespace FooPlugin;

/// <summary>
/// First-in, first-out page replacement: the victim is the resident frame that became resident the longest ago,
/// whatever its use since. Needs no per-access calls (<see cref="ReplacementInput.AccessedBits"/>).
/// </summary>
/// <remarks>
/// A frame stays tracked until the reclaim path releases it (<see cref="OnReleased"/>); choosing it as a victim
/// does not forget it. Released frames are dropped lazily from the queue: each entry carries the sequence number
/// of the residency it belongs to, so a frame that is released and becomes resident again joins the back.
/// </remarks>
public sealed class FooPlugin : IReplacementPolicy
{
    private readonly Queue<(ulong Pfn, long Sequence)> _queue = new();
    private readonly Dictionary<ulong, long> _resident = [];
    private long _next;

    public ReplacementInput Input => ReplacementInput.AccessedBits;

    /// <summary>Frames currently tracked as resident.</summary>
    public int Count => _resident.Count;

    public void OnResident(ulong pfn)
    {
        if (_resident.ContainsKey(pfn)) return; // already resident: a second mapping of the same frame
        long sequence = _next++;
        _resident[pfn] = sequence;
        _queue.Enqueue((pfn, sequence));
    }

    public void OnReleased(ulong pfn) => _resident.Remove(pfn);

    public void OnAccess(ulong pfn)
    {
        // FIFO ignores use. A policy that needs it returns ReplacementInput.EveryAccess from Input.
    }

    public bool TrySelectVictim(IReclaimView view, out ulong pfn)
    {
        while (_queue.TryPeek(out var head))
        {
            if (_resident.TryGetValue(head.Pfn, out long live) && live == head.Sequence)
            {
                pfn = head.Pfn;
                return true;
            }
            _queue.Dequeue(); // released since it was queued
        }
        pfn = 0;
        return false;
    }
}
