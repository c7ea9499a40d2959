using VmLab.Abstractions.Plugins;

[assembly: VmLabPlugin(typeof(FooPlugin.FooPluginModule))]

namespace FooPlugin;

/// <summary>The plugin's entry point: registers each component explicitly under its config name.</summary>
public sealed class FooPluginModule : IPluginModule
{
    public const string Name = "foo-plugin";

    public void Register(IPluginRegistry registry) =>
#if (kind == "tlb")
        registry.AddTlb<FooPlugin, FooPluginOptions>(
            Name,
            "Fully associative, least frequently used: evicts the entry with the fewest hits.",
            c => new FooPlugin(c.Options, c.Metrics));
#elif (kind == "page-table")
        registry.AddPageTable<FooPlugin, NoOptions>(
            Name,
            "Four-level radix table, 48-bit addresses, 4 KiB pages; flags in bits 0-15 of an entry, the frame above.",
            c => new FooPlugin(c.Memory, c.Frames, c.Metrics));
#elif (kind == "fault-handler")
        registry.AddFaultHandler<FooPlugin, NoOptions>(
            Name,
            "First touches of anonymous memory get a fresh zeroed frame, reads included (no shared zero page).",
            c => new FooPlugin(c.Metrics));
#elif (kind == "workload")
        registry.AddWorkload<FooPlugin, FooPluginOptions>(
            Name,
            "A strided sweep over a region of pages, a share of the accesses writes.",
            c => new FooPlugin(c.Options, c.Seed));
#else
        registry.AddReplacement<FooPlugin, NoOptions>(
            Name,
            "First-in, first-out: evicts the frame resident the longest.",
            _ => new FooPlugin());
#endif
}
