using VmLab.Abstractions;
using VmLab.Abstractions.Devices;
using VmLab.Abstractions.Faults;
using VmLab.Abstractions.Plugins;
using VmLab.Core.Memory;

namespace VmLab.Core.Kernel;

/// <summary>
/// Trapped device pages (every access to a device mapping faults and is emulated by the device, as MMIO under a
/// hypervisor) and write-protect dirty tracking (the first write to each tracked page is logged, as live migration
/// does). The <c>device-trap</c> and <c>dirty-log</c> fault handlers are their entries from the fault path.
/// </summary>
public sealed class DeviceTraps
{
    private const ulong PageMask = VirtualAddress.PageSize - 1;

    private readonly KernelModel _k;
    private readonly Dictionary<string, IDevice> _devices = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (Counter Reads, Counter Writes)> _counters = new(StringComparer.Ordinal);
    private Counter? _trapped, _dirtyLogged;

    internal DeviceTraps(KernelModel kernel) => _k = kernel;

    internal void Attach(IEnumerable<IDevice> devices)
    {
        foreach (var d in devices)
        {
            if (!_devices.TryAdd(d.Name, d))
                throw new VmLabInputException("machine:devices", $"two devices are named '{d.Name}'; give each its own name");
            _counters[d.Name] = (_k.Metrics.Counter(MetricNames.DeviceReads(d.Name)), _k.Metrics.Counter(MetricNames.DeviceWrites(d.Name)));
        }
    }

    public IDevice? Find(string name) => _devices.GetValueOrDefault(name);

    /// <summary>
    /// A fault in a trapped VMA: the access is emulated instead of mapped (a VM exit for MMIO). Counted per device; the
    /// caller performs the data transfer with <see cref="Emulate"/> where it has a value.
    /// </summary>
    internal FaultResult Trap(in PageFault fault)
    {
        (_trapped ??= _k.Metrics.Counter(MetricNames.FaultsTrapped)).Increment();
        var (reads, writes) = _counters[fault.Vma.FileName!];
        if (fault.IsWrite) writes.Increment();
        else reads.Increment();
        return FaultResult.Emulated.As(FaultResolutions.DeviceTrap);
    }

    /// <summary>Performs an emulated access on the device mapped at <paramref name="address"/>.</summary>
    public ulong Emulate(Process process, ulong address, AccessKind kind, int size, ulong value)
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
    public long TrackDirty(Process p, int cpu, ulong address, ulong length)
    {
        ulong start = address & ~PageMask, end = AddressSpaces.PageAlign(address + length);
        var leaves = new List<(ulong Address, PageMapping Leaf)>();
        _k.PageTable.CollectLeaves(p.PageTableRoot, start, end, leaves);
        for (ulong a = start; a < end; a += VirtualAddress.PageSize) p.Mm.DirtyTracked.Add(a);
        foreach (var (a, leaf) in leaves)
        {
            if (!leaf.IsPresent || !leaf.Has(PageFlags.Writable)) continue;
            _k.AddressSpaces.UpdatePageFlags(p, a, leaf.Flags & ~PageFlags.Writable);
        }
        _k.AddressSpaces.FlushTlbRange(p, start, end, cpu);
        return 0;
    }

    public IReadOnlyList<ulong> CollectDirty(Process p, int cpu)
    {
        var pages = p.Mm.DirtyLog.Order().ToList();
        p.Mm.DirtyLog.Clear();
        foreach (ulong a in pages)
        {
            var leaf = _k.PageTable.Read(p.PageTableRoot, a);
            if (leaf.IsPresent && leaf.Has(PageFlags.Writable)) _k.AddressSpaces.UpdatePageFlags(p, a, leaf.Flags & ~PageFlags.Writable);
        }
        if (pages.Count > 0) _k.AddressSpaces.FlushTlbRange(p, pages[0], pages[^1] + VirtualAddress.PageSize, cpu);
        return pages;
    }

    /// <summary>
    /// A write-protect fault on a tracked page: the page goes into the dirty log; when the write protection was only the
    /// tracker's (a page of a shared mapping, or a private page the process holds alone), it is lifted and the write
    /// retried — one minor fault. Otherwise (copy-on-write, or a real error) the chain goes on.
    /// </summary>
    internal FaultResult LogFirstWrite(in PageFault fault)
    {
        var p = (Process)fault.Process;
        ulong page = fault.PageAddress;
        if (!p.Mm.DirtyTracked.Contains(page) || p.Mm.DirtyLog.Contains(page)) return FaultResult.Declined;
        LogWrite(p, page);
        var leaf = _k.PageTable.Read(p.PageTableRoot, page);
        bool exclusive = leaf.IsPresent && leaf.Frame != FrameTable.ZeroPage && _k.Frames.RefCount(leaf.Frame) == 1;
        if (!fault.Vma.Allows(Protection.Write) || !(fault.Vma.IsShared || exclusive)) return FaultResult.Declined;
        _k.AddressSpaces.UpdatePageFlags(p, page, leaf.Flags | PageFlags.Writable | PageFlags.Dirty);
        return FaultResult.Minor.As(FaultResolutions.DirtyLog);
    }

    /// <summary>Records the first write to a tracked page.</summary>
    internal void LogWrite(Process p, ulong page)
    {
        p.Mm.DirtyLog.Add(page);
        (_dirtyLogged ??= _k.Metrics.Counter(MetricNames.DirtyLogPages)).Increment();
    }
}
