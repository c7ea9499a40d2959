using VmLab.Abstractions;
using VmLab.Abstractions.Devices;
using VmLab.Abstractions.Faults;
using VmLab.Core.Memory;

namespace VmLab.Core.Kernel;

/// <summary>Trapped device pages and write-protect dirty tracking.</summary>
public sealed partial class Kernel
{
    private readonly Dictionary<string, IDevice> _devices = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (Counter Reads, Counter Writes)> _deviceCounters = new(StringComparer.Ordinal);
    private Counter? _trapped, _dirtyLogged;

    public void AttachDevices(IEnumerable<IDevice> devices)
    {
        foreach (var d in devices)
        {
            if (!_devices.TryAdd(d.Name, d))
                throw new Abstractions.Plugins.VmLabInputException("machine:devices", $"two devices are named '{d.Name}'; give each its own name");
            _deviceCounters[d.Name] = (Metrics.Counter($"device.{d.Name}.reads"), Metrics.Counter($"device.{d.Name}.writes"));
        }
    }

    public IDevice? FindDevice(string name) => _devices.GetValueOrDefault(name);

    /// <summary>
    /// A fault in a trapped VMA: the access is emulated instead of mapped (a VM exit for MMIO). Counted per device; the
    /// caller performs the data transfer with <see cref="EmulateDevice"/> where it has a value.
    /// </summary>
    private FaultDispatch TrapDevice(Vma vma, AccessKind kind)
    {
        (_trapped ??= Metrics.Counter("faults.trapped")).Increment();
        var (reads, writes) = _deviceCounters[vma.FileName!];
        if (kind == AccessKind.Write) writes.Increment();
        else reads.Increment();
        return FaultDispatch.Emulated;
    }

    /// <summary>Performs an emulated access on the device mapped at <paramref name="address"/>.</summary>
    public ulong EmulateDevice(Process process, ulong address, AccessKind kind, int size, ulong value)
    {
        var vma = process.Mm.FindVma(address) ?? throw new InvalidOperationException($"no device mapping at 0x{address:x}");
        var device = _devices[vma.FileName!];
        ulong offset = address - vma.Start + vma.FileOffset;
        if (kind == AccessKind.Write)
        {
            device.Write(offset, size, value);
            return 0;
        }
        return device.Read(offset, size);
    }

    // ---- dirty tracking ------------------------------------------------------------------------------------

    /// <summary>Write-protects the present pages of the range and logs the first write to each page from now on.</summary>
    public long TrackDirty(int pid, ulong address, ulong length)
    {
        var p = Require(pid);
        ulong start = address & ~PageMask, end = PageAlign(address + length);
        var leaves = new List<(ulong Address, PageMapping Leaf)>();
        _pageTable.CollectLeaves(p.PageTableRoot, start, end, leaves);
        for (ulong a = start; a < end; a += PageSize) p.Mm.DirtyTracked.Add(a);
        foreach (var (a, leaf) in leaves)
        {
            if (!leaf.IsPresent || !leaf.Has(PageFlags.Writable)) continue;
            UpdatePageFlags(p, a, leaf.Flags & ~PageFlags.Writable);
        }
        FlushTlbRange(p, start, end);
        return 0;
    }

    public IReadOnlyList<ulong> CollectDirty(int pid)
    {
        var p = Require(pid);
        var pages = p.Mm.DirtyLog.Order().ToList();
        p.Mm.DirtyLog.Clear();
        foreach (ulong a in pages)
        {
            var leaf = _pageTable.Read(p.PageTableRoot, a);
            if (leaf.IsPresent && leaf.Has(PageFlags.Writable)) UpdatePageFlags(p, a, leaf.Flags & ~PageFlags.Writable);
        }
        if (pages.Count > 0) FlushTlbRange(p, pages[0], pages[^1] + PageSize);
        return pages;
    }

    /// <summary>
    /// A write fault on a tracked page: the page goes into the dirty log; when the write protection was only the
    /// tracker's (a private page the process holds alone), it is lifted and the write retried — one minor fault.
    /// </summary>
    private bool LogFirstWrite(Process p, ulong address, Vma vma, PageFaultErrorCode error)
    {
        ulong page = address & ~PageMask;
        if (!error.Write || !error.Protection || !p.Mm.DirtyTracked.Contains(page) || p.Mm.DirtyLog.Contains(page)) return false;
        p.Mm.DirtyLog.Add(page);
        (_dirtyLogged ??= Metrics.Counter("dirtylog.pages")).Increment();
        var leaf = _pageTable.Read(p.PageTableRoot, page);
        bool shared = (vma.Flags & VmaFlags.Shared) != 0;
        bool exclusive = leaf.IsPresent && leaf.Frame != FrameTable.ZeroPage && _frames.RefCount(leaf.Frame) == 1;
        if ((vma.Protection & Protection.Write) == 0 || !(shared || exclusive)) return false; // COW or a real error: the chain decides
        UpdatePageFlags(p, page, leaf.Flags | PageFlags.Writable | PageFlags.Dirty);
        return true;
    }
}
