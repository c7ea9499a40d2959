using System.Text.Json.Nodes;
using VmLab.Core;
using VmLab.Host.Plugins;

namespace VmLab.Host.Config;

/// <summary>A resolved component: which plugin, its bound and validated options, and its config key path.</summary>
public sealed record Component(PluginInfo Plugin, object Options, string KeyPath);

/// <summary>
/// An immutable, validated experiment: every plugin resolved, every default filled. This is what runs and what is
/// recorded (<see cref="ResolvedConfig"/>).
/// </summary>
/// <param name="Resolved">
/// Builds the resolved config on first use: a run that writes no JSON (plain <c>vmlab run</c>, <c>vmlab check</c>)
/// never serialises its options, which is most of what reading a config would otherwise cost at start-up.
/// </param>
public sealed record Experiment(
    string Name,
    ulong Seed,
    string BaseDirectory,
    IReadOnlyList<string> PluginPaths,
    MachineOptions Machine,
    Component PageTable,
    Component Tlb,
    Component? Replacement,
    IReadOnlyList<Component> FaultHandlers,
    Component Signals,
    Component Workload,
    Lazy<JsonObject> Resolved,
    IReadOnlyList<string> Warnings)
{
    /// <summary>
    /// The experiment as it runs, every default filled, as JSON (what <c>--json</c> and the results database record).
    /// Built on first use, once; the same object every time after.
    /// </summary>
    public JsonObject ResolvedConfig => Resolved.Value;

    /// <summary>The timing model (<c>machine:timing</c>), or null: no time metrics.</summary>
    public Component? Timing { get; init; }

    /// <summary>The cache hierarchy the walker's references go through (<c>machine:cache</c>), or null.</summary>
    public Component? Cache { get; init; }

    /// <summary>Trapped devices (<c>machine:devices</c>).</summary>
    public IReadOnlyList<Component> Devices { get; init; } = [];

    /// <summary>The plugins the experiment was resolved against: components find others (trace formats) through it.</summary>
    public PluginCatalog? Catalog { get; init; }
}
