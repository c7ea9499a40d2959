using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Configuration;

namespace VmLab.Host.Config;

/// <summary>A <c>{ "plugin": NAME, "options": { ... } }</c> node, as written (options bound later, against the plugin's type).</summary>
public sealed class ComponentSpec
{
    [Required]
    public string Plugin { get; set; } = "";

    public IConfigurationSection? Options { get; set; }
}

public sealed record MemorySpec
{
    [Description("Physical frames of 4 KiB (frame 0 is the shared zero page).")]
    [Range(16L, 1L << 28)]
    public long Frames { get; init; } = 262144;

    [Description("Slots of the swap device.")]
    [Range(0L, 1L << 32)]
    public long SwapSlots { get; init; } = 1048576;

    [Description("Limit on resident user pages, page cache and swap cache included, like a cgroup's memory.max (0 = no limit beyond physical memory). Page-table pages do not count.")]
    [Range(0L, 1L << 28)]
    public long UserFrames { get; init; }

    [Description("Background (kswapd-style) reclaim starts when fewer frames than this are free after an allocation (0 = off: only direct reclaim, one page when an allocation finds none).")]
    [Range(0L, 1L << 28)]
    public long LowWatermark { get; init; }

    [Description("Background reclaim frees frames until this many are free (at least lowWatermark).")]
    [Range(0L, 1L << 28)]
    public long HighWatermark { get; init; }
}

public sealed record MachineSpec
{
    [Range(1, 256)]
    public int Cpus { get; init; } = 1;

    [Description("Tag TLB entries with PCID/ASID instead of flushing them on a context switch.")]
    public bool Pcid { get; init; } = true;

    [Description("PCIDs (ASIDs) per CPU the kernel recycles among address spaces, least recently used first; reusing one flushes it (Linux x86: 6).")]
    [Range(1, 4095)]
    public int Pcids { get; init; } = 6;

    [Description("Run-time checks, off by default for speed.")]
    public ChecksSpec Checks { get; init; } = new();

    [Description("Supervisor-mode access prevention (SMAP / PAN).")]
    public bool Smap { get; init; } = true;

    [Description("Supervisor-mode execution prevention (SMEP / PXN).")]
    public bool Smep { get; init; } = true;

    [Description("Stop the machine on the first kernel oops (panic_on_oops).")]
    public bool PanicOnOops { get; init; }

    public MemorySpec Memory { get; init; } = new();
    public ComponentSpec PageTable { get; init; } = new() { Plugin = "x86-64" };
    public ComponentSpec Tlb { get; init; } = new() { Plugin = "fully-associative" };
    public ComponentSpec? Replacement { get; init; }
    public ComponentSpec[] FaultHandlers { get; init; } = [new() { Plugin = "cow" }, new() { Plugin = "demand-zero" }];
    public ComponentSpec Signals { get; init; } = new() { Plugin = "posix" };
    /// <summary>Trapped memory-mapped devices a workload can map.</summary>
    public ComponentSpec[] Devices { get; init; } = [];
}

public sealed record ChecksSpec
{
    [Description("Verify every TLB hit against the current page table; a stale hit (a missing flush) fails the run.")]
    public bool Tlb { get; init; }

    [Description("Verify the kernel's memory invariants (frame reference and map counts, free frames, private writable mappings, page-table pages, mappings inside VMAs) after every kernel operation and page fault; a violation fails the run. Turns the TLB check on too. Slow: for testing.")]
    public bool Invariants { get; init; }

    [Description("With invariants on, also check every this many accesses; 0 checks only after kernel operations and faults.")]
    [Range(0, long.MaxValue)]
    public long Every { get; init; }
}

/// <summary>The mutable experiment as read from JSON and <c>--set</c>; frozen into an <see cref="Experiment"/> once valid.</summary>
public sealed record ExperimentSpec
{
    public string Name { get; init; } = "";

    public ulong Seed { get; init; } = 1;

    public string[] PluginPaths { get; init; } = [];

    public MachineSpec Machine { get; init; } = new();

    public ComponentSpec? Workload { get; init; }
}
