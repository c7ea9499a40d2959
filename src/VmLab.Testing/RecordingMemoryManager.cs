using VmLab.Abstractions;
using VmLab.Abstractions.Faults;

namespace VmLab.Testing;

/// <summary>
/// The kernel services a fault handler uses, reduced to what a unit test needs: frames handed out from a counter (none
/// when <see cref="FreeFrames"/> is 0), reference counts and file pages set by the test, and every call that changes a
/// mapping recorded in order, so a test sees exactly what the handler decided.
/// </summary>
public sealed class RecordingMemoryManager : IMemoryManager
{
    public const ulong ZeroPage = 1;

    private ulong _nextFrame = 100;

    /// <summary>The counters handlers bump, read back by name: <c>mm.Counters["faults.cow_copy"]</c>.</summary>
    public TestMetrics Counters { get; } = new();
    public IMetrics Metrics => Counters;
    public PhysicalMemory Memory { get; } = new(1024);
    public ulong ZeroPageFrame => ZeroPage;

    /// <summary>Frames <see cref="TryAllocateUserFrame"/> may still hand out.</summary>
    public int FreeFrames { get; set; } = 16;

    public Dictionary<ulong, int> RefCounts { get; } = [];

    /// <summary>Page-cache contents: (file, index) → (frame, whether it must be read from disk first).</summary>
    public Dictionary<(string File, ulong Index), (ulong Frame, bool FromDisk)> FilePages { get; } = [];

    public (ulong End, bool GrowsDown) Previous { get; set; }

    public VmallocSync VmallocAnswer { get; set; } = VmallocSync.NotVmalloc;

    /// <summary>Every call that allocates, maps, changes, flushes, grows or references, as text.</summary>
    public List<string> Calls { get; } = [];

    public List<ulong> Allocated { get; } = [];

    public bool TryAllocateUserFrame(out ulong pfn)
    {
        pfn = 0;
        if (FreeFrames == 0) return false;
        FreeFrames--;
        pfn = _nextFrame++;
        Allocated.Add(pfn);
        Calls.Add($"allocate {pfn}");
        return true;
    }

    public int RefCount(ulong pfn) => RefCounts.GetValueOrDefault(pfn, 1);

    public bool MapPage(IProcess process, ulong vaddr, ulong pfn, PageFlags flags)
    {
        Calls.Add($"map 0x{vaddr:x} {pfn} {flags}");
        return true;
    }

    public void UpdatePageFlags(IProcess process, ulong vaddr, PageFlags flags) => Calls.Add($"update 0x{vaddr:x} {flags}");

    public void UnmapPage(IProcess process, ulong vaddr) => Calls.Add($"unmap 0x{vaddr:x}");

    public void FlushTlbPage(IProcess process, ulong vaddr) => Calls.Add($"flush 0x{vaddr:x}");

    /// <summary>As the kernel's: user, no-execute unless the VMA allows execution, writable when asked and allowed.</summary>
    public PageFlags FlagsFor(in VmaInfo vma, bool writable)
    {
        var flags = PageFlags.Present | PageFlags.User;
        if (!vma.Allows(Protection.Exec)) flags |= PageFlags.NoExecute;
        if (writable && vma.Allows(Protection.Write)) flags |= PageFlags.Writable;
        return flags;
    }

    public void GetPage(ulong pfn) => Calls.Add($"get {pfn}");

    public bool TryGetFilePage(string file, ulong index, out ulong pfn, out bool readFromDisk)
    {
        (pfn, readFromDisk) = FilePages.TryGetValue((file, index), out var page) ? page : (0UL, false);
        return pfn != 0;
    }

    public (ulong End, bool GrowsDown) PreviousVma(IProcess process, ulong vmaStart) => Previous;

    public VmallocSync SyncVmalloc(IProcess process, ulong address) => VmallocAnswer;

    public void ExpandStack(IProcess process, ulong vmaStart, ulong newStart) => Calls.Add($"expand 0x{vmaStart:x} to 0x{newStart:x}");

    public T? GetVmaState<T>(IProcess process, ulong address) where T : class, IVmaState => null;

    public bool SetVmaState<T>(IProcess process, ulong address, T? state) where T : class, IVmaState => false;
}

/// <summary>A process as the fault path sees it.</summary>
public sealed record TestProcess(int Pid = 1, ushort Asid = 1, ulong PageTableRoot = 0x1000) : IProcess;

/// <summary>Faults as the kernel would hand them to a handler.</summary>
public static class Fault
{
    public const ulong Page = 4096;

    public static readonly IProcess Process = new TestProcess();

    public static VmaInfo Anonymous(ulong start, ulong pages, Protection prot = Protection.ReadWrite, bool shared = false) =>
        new(start, start + pages * Page, prot, shared ? VmaFlags.Shared : VmaFlags.None);

    /// <summary>A user fault at <paramref name="address"/>; <paramref name="pte"/> present makes it a protection fault (P = 1).</summary>
    public static PageFault At(ulong address, AccessKind kind, VmaInfo vma, PageMapping pte = default) =>
        new(address, kind, AccessMode.User, PageFaultErrorCode.For(kind, AccessMode.User, pte.IsPresent), Process, vma, pte);
}
