using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Configuration;
using VmLab.Core;

namespace VmLab.Host.Config;

/// <summary>A <c>{ "plugin": NAME, "options": { ... } }</c> node, as written (options bound later, against the plugin's type).</summary>
public sealed class ComponentSpec
{
    [Required]
    [Description("The plugin's name (vmlab plugins lists them).")]
    public string Plugin { get; set; } = "";

    [Description("The plugin's options; a key left out keeps its default.")]
    public IConfigurationSection? Options { get; set; }
}

/// <summary>The config's <c>machine</c> section as bound: the machine's settings plus its plugin components.</summary>
public sealed record MachineSpec : MachineOptions
{
    [Description("The page-table format the MMU walks.")]
    public ComponentSpec PageTable { get; init; } = new() { Plugin = "x86-64" };

    [Description("The TLB of each CPU.")]
    public ComponentSpec Tlb { get; init; } = new() { Plugin = "fully-associative" };

    [Description("The page-replacement policy that picks reclaim victims (default: none: nothing is reclaimed and exhausted memory goes to the OOM killer).")]
    public ComponentSpec? Replacement { get; init; }

    [Description("The fault-handler chain: asked stage by stage, in this order within a stage; the first handler that does not decline resolves the fault.")]
    public ComponentSpec[] FaultHandlers { get; init; } = [new() { Plugin = "cow" }, new() { Plugin = "demand-zero" }];

    [Description("The signal delivery semantics.")]
    public ComponentSpec Signals { get; init; } = new() { Plugin = "posix" };

    [Description("The timing model that turns the run's counts into estimated cycles and seconds (time.* metrics; docs/timing.md). Default: none, and no time metrics.")]
    public ComponentSpec? Timing { get; init; }

    [Description("The data-cache hierarchy the page-table walker's references go through (cache.* metrics; docs/timing.md). Default: none: every walk reference costs a memory access.")]
    public ComponentSpec? Cache { get; init; }

    /// <summary>Trapped memory-mapped devices a workload can map.</summary>
    [Description("Trapped memory-mapped devices a workload can map.")]
    public ComponentSpec[] Devices { get; init; } = [];
}

/// <summary>The mutable experiment as read from JSON and <c>--set</c>; frozen into an <see cref="Experiment"/> once valid.</summary>
public sealed record ExperimentSpec
{
    [Description("The experiment's name in results (default: the file's name without .json).")]
    public string Name { get; init; } = "";

    [Description("The seed of every random choice of the run: equal seeds, equal results.")]
    public ulong Seed { get; init; } = 1;

    [Description("Folders of plugins built outside VmLab, relative to this file (as VMLAB_PLUGIN_PATH).")]
    public string[] PluginPaths { get; init; } = [];

    [Description("The machine: its settings and the plugins it is composed of.")]
    public MachineSpec Machine { get; init; } = new();

    [Description("What drives the machine: a trace, a synthetic pattern, a scenario...")]
    public ComponentSpec? Workload { get; init; }
}
