using VmLab.Abstractions;

namespace VmLab.Core.Kernel;

/// <summary>
/// The swap device: <c>slots</c> page-sized slots handed out lowest first, each with a count of the swap entries
/// (PTEs) that reference it, and the contents written to it. Only slots in use cost host memory.
/// </summary>
public sealed class SwapDevice(long slots)
{
    private readonly Dictionary<ulong, int> _refs = [];
    private readonly Dictionary<ulong, ulong[]?> _data = [];
    private readonly PriorityQueue<ulong, ulong> _freed = new();
    private ulong _next;

    public long Slots { get; } = slots;
    public long InUse { get; private set; }

    public bool TryAllocate(out ulong slot)
    {
        if (_freed.Count > 0) slot = _freed.Dequeue();
        else if ((long)_next < Slots) slot = _next++;
        else
        {
            slot = 0;
            return false;
        }
        _refs[slot] = 0;
        InUse++;
        return true;
    }

    public int RefCount(ulong slot) => _refs.GetValueOrDefault(slot);

    /// <summary>Slots allocated now (held by swap entries or the swap cache).</summary>
    public IReadOnlyCollection<ulong> AllocatedSlots => _refs.Keys;

    public void Dup(ulong slot) => _refs[slot] = _refs.GetValueOrDefault(slot) + 1;

    /// <summary>Drops one reference; returns the references left.</summary>
    public int Put(ulong slot) => _refs[slot] = _refs[slot] - 1;

    public void Free(ulong slot)
    {
        if (!_refs.Remove(slot)) throw new InvalidOperationException($"swap slot {slot} freed twice");
        _data.Remove(slot);
        _freed.Enqueue(slot, slot);
        InUse--;
    }

    /// <summary>Writes the frame's contents to the slot.</summary>
    public void Write(ulong slot, PhysicalMemory memory, ulong pfn) => _data[slot] = Snapshot(memory, pfn);

    /// <summary>Reads the slot's contents into a zeroed frame.</summary>
    public void Read(ulong slot, PhysicalMemory memory, ulong pfn) => Restore(_data.GetValueOrDefault(slot), memory, pfn);

    /// <summary>A copy of a frame's contents; null for a frame that reads as zeros (it costs nothing).</summary>
    public static ulong[]? Snapshot(PhysicalMemory memory, ulong pfn)
    {
        if (!memory.HasContents(pfn)) return null;
        var copy = new ulong[PhysicalMemory.FrameSize / 8];
        ulong base_ = pfn << PhysicalMemory.FrameShift;
        for (int i = 0; i < copy.Length; i++) copy[i] = memory.Read64(base_ + (ulong)i * 8);
        return copy;
    }

    /// <summary>Writes a snapshot back into a zeroed frame.</summary>
    public static void Restore(ulong[]? data, PhysicalMemory memory, ulong pfn)
    {
        if (data is null) return;
        ulong base_ = pfn << PhysicalMemory.FrameShift;
        for (int i = 0; i < data.Length; i++) memory.Write64(base_ + (ulong)i * 8, data[i]);
    }
}
