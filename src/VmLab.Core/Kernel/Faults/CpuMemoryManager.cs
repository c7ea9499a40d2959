using VmLab.Abstractions;
using VmLab.Abstractions.Faults;

namespace VmLab.Core.Kernel;

/// <summary>
/// The memory-management services as the fault handlers of one CPU see them: every flush they ask for is initiated on
/// <see cref="Cpu"/>, and reclaim their allocations need runs there. One object per CPU, made once.
/// </summary>
public sealed class CpuMemoryManager : IMemoryManager
{
    internal CpuMemoryManager(KernelModel kernel, int cpu)
    {
        Kernel = kernel;
        Cpu = cpu;
    }

    public KernelModel Kernel { get; }
    public int Cpu { get; }

    public IMetrics Metrics => Kernel.Metrics;
    public PhysicalMemory Memory => Kernel.Memory;
    public ulong ZeroPageFrame => FrameTableZero;

    public bool TryAllocateUserFrame(out ulong pfn) => Kernel.Reclaim.AllocateUserFrame(Cpu, out pfn);

    public int RefCount(ulong pfn) => Kernel.Swap.MappingRefCount(pfn);

    public bool MapPage(IProcess process, ulong vaddr, ulong pfn, PageFlags flags) =>
        Kernel.AddressSpaces.MapPage((Process)process, vaddr, pfn, flags, Cpu);

    public void UpdatePageFlags(IProcess process, ulong vaddr, PageFlags flags) =>
        Kernel.AddressSpaces.UpdatePageFlags((Process)process, vaddr, flags);

    public void UnmapPage(IProcess process, ulong vaddr) => Kernel.AddressSpaces.UnmapPage((Process)process, vaddr, flush: true, Cpu);

    public void FlushTlbPage(IProcess process, ulong vaddr) => Kernel.AddressSpaces.FlushTlbPage((Process)process, vaddr, Cpu);

    public PageFlags FlagsFor(in VmaInfo vma, bool writable) => Kernel.AddressSpaces.FlagsFor(vma, writable);

    public void GetPage(ulong pfn)
    {
        if (pfn != FrameTableZero) Kernel.Frames.Get(pfn);
    }

    public bool TryGetFilePage(string file, ulong index, out ulong pfn, out bool readFromDisk) =>
        Kernel.Files.TryGetPage(file, index, Cpu, out pfn, out readFromDisk, FaultVma?.ReadHint ?? ReadHint.Normal);

    /// <summary>The VMA of the fault this CPU's resolve stage is handling (null outside one): its madvise read hint decides read-around.</summary>
    internal Vma? FaultVma { get; set; }

    public (ulong End, bool GrowsDown) PreviousVma(IProcess process, ulong vmaStart) =>
        Kernel.AddressSpaces.PreviousVma((Process)process, vmaStart);

    public VmallocSync SyncVmalloc(IProcess process, ulong address) => Kernel.KernelHalf.SyncVmalloc((Process)process, address);

    public void ExpandStack(IProcess process, ulong vmaStart, ulong newStart) =>
        Kernel.AddressSpaces.ExpandStack((Process)process, vmaStart, newStart);

    public T? GetVmaState<T>(IProcess process, ulong address) where T : class, IVmaState =>
        ((Process)process).Mm.FindVma(address) is { } v && v.Contains(address) ? v.GetState<T>() : null;

    public bool SetVmaState<T>(IProcess process, ulong address, T? state) where T : class, IVmaState
    {
        if (((Process)process).Mm.FindVma(address) is not { } v || !v.Contains(address)) return false;
        v.SetState(state);
        return true;
    }

    private const ulong FrameTableZero = VmLab.Core.Memory.FrameTable.ZeroPage;
}
