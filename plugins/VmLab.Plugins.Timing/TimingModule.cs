using VmLab.Abstractions.Plugins;
using VmLab.Plugins.Timing;

[assembly: VmLabPlugin(typeof(TimingModule))]

namespace VmLab.Plugins.Timing;

public sealed class TimingModule : IPluginModule
{
    public void Register(IPluginRegistry registry)
    {
        registry.AddComponent<AnalyticTimingModel, AnalyticTimingOptions>(
            ExtensionPoints.Timing,
            "analytic",
            "Estimated time: each counted event (TLB hit per level, walk reference per cache level, fault by resolution, signal, syscall work, flush, IPI, reclaim, swap I/O) costs the timing profile's cycles (docs/timing.md).",
            AnalyticTimingModel.Create);
        // A struct component (the MMU specialises on it when the workload's data goes through it): registered directly,
        // since AddComponent takes classes.
        registry.Add(new PluginRegistration(
            ExtensionPoints.Cache,
            "set-associative",
            "Set-associative, non-inclusive LRU data-cache hierarchy (L1D/L2/LLC by default) the page-table walker's entry reads go through; optionally the workload's accesses too.",
            typeof(SetAssociativeCache),
            typeof(SetAssociativeCacheOptions),
            c => new SetAssociativeCache((SetAssociativeCacheOptions)c.Options, c.Metrics)));
    }
}
