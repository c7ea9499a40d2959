using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Configuration;
using VmLab.Core;

namespace VmLab.Host.Config;

/// <summary>A <c>{ "plugin": NAME, "options": { ... } }</c> node, as written (options bound later, against the plugin's type).</summary>
public sealed class ComponentSpec
{
    [Required]
    public string Plugin { get; set; } = "";

    public IConfigurationSection? Options { get; set; }
}

/// <summary>The config's <c>machine</c> section as bound: the machine's settings plus its plugin components.</summary>
public sealed record MachineSpec : MachineOptions
{
    public ComponentSpec PageTable { get; init; } = new() { Plugin = "x86-64" };
    public ComponentSpec Tlb { get; init; } = new() { Plugin = "fully-associative" };
    public ComponentSpec? Replacement { get; init; }
    public ComponentSpec[] FaultHandlers { get; init; } = [new() { Plugin = "cow" }, new() { Plugin = "demand-zero" }];
    public ComponentSpec Signals { get; init; } = new() { Plugin = "posix" };
    /// <summary>Trapped memory-mapped devices a workload can map.</summary>
    public ComponentSpec[] Devices { get; init; } = [];
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
