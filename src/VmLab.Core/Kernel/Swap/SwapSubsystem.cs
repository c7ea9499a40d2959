using VmLab.Abstractions;
using VmLab.Abstractions.Faults;

namespace VmLab.Core.Kernel;

/// <summary>
/// Swap: the swap device, the swap cache (slot ↔ frame) and swap-in (Linux <c>do_swap_page</c>). A page in the swap
/// cache holds one reference of the cache's own; a swap entry in a page table holds one reference on its slot.
/// </summary>
public sealed class SwapSubsystem
{
    private readonly KernelModel _k;
    /// <summary>Swap cache: slot → frame and frame → slot.</summary>
    private readonly Dictionary<ulong, ulong> _cache = [];
    private readonly Dictionary<ulong, ulong> _cacheSlot = [];
    private readonly Counter _swapOuts, _swapIns, _faultsSwapIn, _cacheHits, _slotsPeak, _slotsUsed;

    internal SwapSubsystem(KernelModel kernel, long slots)
    {
        _k = kernel;
        Device = new SwapDevice(slots);
        var m = kernel.Metrics;
        _swapOuts = m.Counter(MetricNames.SwapOuts);
        _swapIns = m.Counter(MetricNames.SwapIns);
        _faultsSwapIn = m.Counter(MetricNames.FaultsSwapIn);
        _cacheHits = m.Counter(MetricNames.SwapCacheHits);
        _slotsPeak = m.Counter(MetricNames.SwapSlotsPeak);
        _slotsUsed = m.Counter(MetricNames.SwapSlotsAllocated);
    }

    public SwapDevice Device { get; }

    /// <summary>Swap slots in use.</summary>
    public long SlotsInUse => Device.InUse;

    /// <summary>The swap cache as frame → slot (read by the invariant checker).</summary>
    public IReadOnlyDictionary<ulong, ulong> CacheSlots => _cacheSlot;

    public bool TryGetSlot(ulong pfn, out ulong slot) => _cacheSlot.TryGetValue(pfn, out slot);

    /// <summary>
    /// References on a frame as do_wp_page counts them: the swap cache's own reference is not one when no swap entry
    /// still refers to the page's slot (folio_free_swap would succeed); while one does, the page is shared through swap
    /// and a write must copy it.
    /// </summary>
    public int MappingRefCount(ulong pfn) =>
        _k.Frames.RefCount(pfn) - (_cacheSlot.TryGetValue(pfn, out ulong slot) && Device.RefCount(slot) == 0 ? 1 : 0);

    // ---- eviction (reclaim's side) -------------------------------------------------------------------------

    /// <summary>A new slot for a page leaving memory; false when the device is full.</summary>
    internal bool TryAllocateSlot(out ulong slot)
    {
        if (!Device.TryAllocate(out slot)) return false;
        _slotsUsed.Increment();
        _slotsPeak.Max(Device.InUse);
        return true;
    }

    /// <summary>Writes the frame's contents to its slot (<c>swap.outs</c>).</summary>
    internal void Write(ulong pfn, ulong slot)
    {
        Device.Write(slot, _k.Memory, pfn);
        _swapOuts.Increment();
    }

    /// <summary>An evicted page leaves the swap cache: the cache's reference on the frame is the caller's to put.</summary>
    internal void RemoveEvicted(ulong pfn, ulong slot)
    {
        _cache.Remove(slot);
        _cacheSlot.Remove(pfn);
    }

    /// <summary>Frees the slot when nothing references it any more (a page that was only in the swap cache).</summary>
    internal void FreeIfUnused(ulong slot)
    {
        if (Device.RefCount(slot) == 0) Device.Free(slot);
    }

    // ---- swap entries --------------------------------------------------------------------------------------

    /// <summary>fork copies a swap entry: one more reference on its slot.</summary>
    internal void DupEntry(ulong slot) => Device.Dup(slot);

    /// <summary>A swap entry was replaced by reclaim's unmapping: one more reference on its slot.</summary>
    internal void AddEntry(ulong slot) => Device.Dup(slot);

    /// <summary>A swap entry was removed from a page table (munmap, exit): one reference on its slot goes.</summary>
    internal void ReleaseEntry(ulong slot)
    {
        if (Device.Put(slot) > 0) return;
        if (_cache.TryGetValue(slot, out ulong pfn))
        {
            if (_k.Frames.MapCount(pfn) == 0) DropFromCache(pfn, slot);
            return;
        }
        Device.Free(slot);
    }

    /// <summary>
    /// The last mapping of a swap-cache page is going (the map count still includes it): with no swap entry left on its
    /// slot, the page leaves the swap cache.
    /// </summary>
    internal void OnLastUnmap(ulong pfn)
    {
        if (_cacheSlot.TryGetValue(pfn, out ulong slot) && _k.Frames.MapCount(pfn) <= 1 && Device.RefCount(slot) == 0)
            DropFromCache(pfn, slot);
    }

    /// <summary>Takes a page out of the swap cache, frees its slot when no swap entry references it, and puts the cache's reference.</summary>
    private void DropFromCache(ulong pfn, ulong slot)
    {
        _cache.Remove(slot);
        _cacheSlot.Remove(pfn);
        if (Device.RefCount(slot) == 0) Device.Free(slot);
        _k.Reclaim.ForgetDirty(pfn);
        _k.Reclaim.ReleaseIfLastReference(pfn);
        _k.Frames.Put(pfn);
    }

    // ---- swap-in -------------------------------------------------------------------------------------------

    /// <summary>
    /// A fault on a swap entry (Linux do_swap_page): the page comes from the swap cache (minor) or is read from its slot
    /// into a new frame that joins the swap cache (major, <c>swap.ins</c>). A page no other PTE references is mapped
    /// writable when its VMA allows (a read leaves it clean, so its swap copy stays valid); a write fault dirties it and
    /// frees its swap copy. A write to a page still shared through swap after fork copies it at once, as do_wp_page would.
    /// </summary>
    internal FaultResult SwapIn(in PageFault fault, int cpu)
    {
        var p = (Process)fault.Process;
        ulong slot = fault.Pte.Frame;
        bool major = false;
        if (!_cache.TryGetValue(slot, out ulong pfn))
        {
            if (!_k.Reclaim.AllocateUserFrame(cpu, Reclaim.SwapKey(slot), out pfn)) return FaultResult.OutOfMemory;
            Device.Read(slot, _k.Memory, pfn);
            _swapIns.Increment();
            major = true;
            _cache[slot] = pfn; // the allocation reference is the swap cache's
            _cacheSlot[pfn] = slot;
            _k.Reclaim.AddCandidate(pfn, Reclaim.SwapKey(slot));
        }
        else
        {
            _cacheHits.Increment();
        }
        _faultsSwapIn.Increment();

        var spaces = _k.AddressSpaces;
        Device.Put(slot); // this PTE stops referencing the slot
        bool exclusive = Device.RefCount(slot) == 0 && _k.Frames.MapCount(pfn) == 0;
        if (fault.IsWrite && !exclusive)
        {
            // Still shared with another address space: a private copy for the writer (the fault is do_wp_page's too).
            _k.Reclaim.PinFault(pfn);
            if (!_k.Reclaim.AllocateUserFrame(cpu, out ulong copy))
            {
                Device.Dup(slot);
                return FaultResult.OutOfMemory;
            }
            _k.Memory.Copy(pfn, copy);
            if (!spaces.MapPage(p, fault.Address, copy, spaces.FlagsFor(fault.Vma, writable: true) | PageFlags.Dirty, cpu))
            {
                _k.Frames.Put(copy);
                Device.Dup(slot); // the PTE still holds the swap entry
                return FaultResult.OutOfMemory;
            }
            return (major ? FaultResult.Major : FaultResult.Minor).As(FaultResolutions.SwapIn);
        }

        // Write-protect dirty tracking: a tracked page not yet logged comes back read-only, and a write fault logs it.
        ulong page = fault.PageAddress;
        bool tracked = p.Mm.DirtyTracked.Contains(page) && !p.Mm.DirtyLog.Contains(page);
        if (tracked && fault.IsWrite)
        {
            _k.Devices.LogWrite(p, page);
            tracked = false;
        }
        _k.Frames.Get(pfn);
        var flags = spaces.FlagsFor(fault.Vma, writable: exclusive && !tracked);
        if (fault.IsWrite) flags |= PageFlags.Dirty;
        if (!spaces.MapPage(p, fault.Address, pfn, flags, cpu))
        {
            _k.Frames.Put(pfn);
            Device.Dup(slot); // the PTE still holds the swap entry
            return FaultResult.OutOfMemory;
        }
        if (fault.IsWrite) DropFromCache(pfn, slot); // written: the swap copy is stale and freed
        return (major ? FaultResult.Major : FaultResult.Minor).As(FaultResolutions.SwapIn);
    }
}
