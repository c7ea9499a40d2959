using VmLab.Abstractions;
using VmLab.Abstractions.PageTables;
using VmLab.Core;
using VmLab.Core.Memory;
using VmLab.Plugins.PageTables;

namespace VmLab.Plugins.Tests.PageTables;

/// <summary>Physical memory, frames and metrics with one page-table format on top, for walking tables directly.</summary>
internal sealed class Rig
{
    public static readonly string[] AllFormats = ["x86-64", "x86-64-5", "x86-32", "x86-32-pae", "arm64", "riscv-sv39", "riscv-sv48", "riscv-sv57", "hashed"];
    public static readonly string[] RadixFormats = ["x86-64", "x86-64-5", "x86-32", "x86-32-pae", "arm64", "riscv-sv39", "riscv-sv48", "riscv-sv57"];
    public static readonly string[] SixtyFourBitFormats = ["x86-64", "x86-64-5", "arm64", "riscv-sv39", "riscv-sv48", "riscv-sv57", "hashed"];

    public Rig(string format, int pwcEntries = 0, long frames = 8192, Arm64Options? arm64 = null, bool riscvHardwareAd = true)
    {
        Memory = new PhysicalMemory(frames);
        Metrics = new MetricRegistry();
        Frames = new FrameTable(Memory, Metrics);
        Table = format switch
        {
            "x86-64" => new RadixPageTable<X86_64Format>(new X86_64Format(4), Memory, Frames, Metrics, pwcEntries),
            "x86-64-5" => new RadixPageTable<X86_64Format>(new X86_64Format(5), Memory, Frames, Metrics, pwcEntries),
            "x86-32" => new RadixPageTable<X86_32Format>(new X86_32Format(), Memory, Frames, Metrics, pwcEntries),
            "x86-32-pae" => new RadixPageTable<X86PaeFormat>(new X86PaeFormat(), Memory, Frames, Metrics, pwcEntries),
            "arm64" => new RadixPageTable<Arm64Format>(new Arm64Format(arm64 ?? new Arm64Options()), Memory, Frames, Metrics, pwcEntries),
            "riscv-sv39" => new RadixPageTable<RiscVFormat>(new RiscVFormat(RiscVMode.Sv39, riscvHardwareAd), Memory, Frames, Metrics, pwcEntries),
            "riscv-sv48" => new RadixPageTable<RiscVFormat>(new RiscVFormat(RiscVMode.Sv48, riscvHardwareAd), Memory, Frames, Metrics, pwcEntries),
            "riscv-sv57" => new RadixPageTable<RiscVFormat>(new RiscVFormat(RiscVMode.Sv57, riscvHardwareAd), Memory, Frames, Metrics, pwcEntries),
            "hashed" => new HashedPageTable(new HashedTables(new HashedOptions(), Memory, Frames, Metrics)),
            _ => throw new ArgumentException(format),
        };
        BaselinePageTableFrames = Frames.PageTableFrames;
    }

    public PhysicalMemory Memory { get; }
    public MetricRegistry Metrics { get; }
    public FrameTable Frames { get; }
    public IPageTable Table { get; }
    /// <summary>Table frames held before any root exists (the global hash table of the hashed format, else 0).</summary>
    public long BaselinePageTableFrames { get; }

    public long Memrefs => Metrics[MetricNames.WalkMemrefs];
    public long MemrefsAt(int level) => Metrics[$"walk.memrefs.l{level}"];

    public static readonly CpuState Cpu = CpuState.LinuxDefault;

    public WalkResult Walk(ulong root, ulong va, AccessKind kind = AccessKind.Read, AccessMode mode = AccessMode.User, CpuState? cpu = null)
        => Table.Walk(root, va, kind, mode, cpu ?? Cpu);

    /// <summary>A 4-byte entry at a physical address (x86-32).</summary>
    public uint Read32(ulong paddr) => (uint)(Memory.Read64(paddr & ~7UL) >> (int)((paddr & 4) * 8));

    /// <summary>Allocates a user frame, as the kernel would for a leaf.</summary>
    public ulong UserFrame()
    {
        Assert.True(Frames.TryAllocate(FrameUse.User, out ulong pfn));
        return pfn;
    }

    /// <summary>A user address that exists in every format (below 3 GiB and inside a 39-bit half).</summary>
    public static ulong UserAddress(int i) => 0x1000_0000UL + (ulong)i * 0x1000;

    public static readonly PageFlags UserRw = PageFlags.Present | PageFlags.User | PageFlags.Writable;
}
