using System.Text.Json.Nodes;
using VmLab.Host.Plugins;

namespace VmLab.Host.Config;

/// <summary>A resolved component: which plugin, its bound and validated options, and its config key path.</summary>
public sealed record Component(PluginInfo Plugin, object Options, string KeyPath);

/// <summary>Machine settings that are not plugins, validated.</summary>
public sealed record MachineSettings(int Cpus, bool Pcid, bool Smap, bool Smep, long Frames, long SwapSlots, long UserFrames, bool PanicOnOops = false)
{
    /// <summary>PCIDs per CPU (<c>machine:pcids</c>).</summary>
    public int Pcids { get; init; } = 6;

    /// <summary>Verify every TLB hit against the page table (<c>machine:checks:tlb</c>).</summary>
    public bool CheckTlb { get; init; }

    /// <summary>Free frames below which background reclaim starts (0 = only direct reclaim).</summary>
    public long LowWatermark { get; init; }

    /// <summary>Free frames background reclaim stops at.</summary>
    public long HighWatermark { get; init; }

    /// <summary>Verify the kernel's memory invariants after every kernel operation and fault (<c>machine:checks:invariants</c>).</summary>
    public bool CheckInvariants { get; init; }

    /// <summary>With <see cref="CheckInvariants"/>, also every this many accesses (<c>machine:checks:every</c>; 0: never periodically).</summary>
    public long CheckEvery { get; init; }
}

/// <summary>
/// An immutable, validated experiment: every plugin resolved, every default filled. This is what runs and what is
/// recorded (<see cref="ResolvedConfig"/>).
/// </summary>
public sealed record Experiment(
    string Name,
    ulong Seed,
    string BaseDirectory,
    IReadOnlyList<string> PluginPaths,
    MachineSettings Machine,
    Component PageTable,
    Component Tlb,
    Component? Replacement,
    IReadOnlyList<Component> FaultHandlers,
    Component Signals,
    Component Workload,
    JsonObject ResolvedConfig,
    IReadOnlyList<string> Warnings)
{
    /// <summary>Trapped devices (<c>machine:devices</c>).</summary>
    public IReadOnlyList<Component> Devices { get; init; } = [];

    /// <summary>The plugins the experiment was resolved against: components find others (trace formats) through it.</summary>
    public PluginCatalog? Catalog { get; init; }
}
