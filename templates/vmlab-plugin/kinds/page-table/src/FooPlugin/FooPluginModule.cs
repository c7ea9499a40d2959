using VmLab.Abstractions.Plugins;

[assembly: VmLabPlugin(typeof(FooPlugin.FooPluginModule))]

namespace FooPlugin;

/// <summary>The plugin's entry point: registers each component explicitly under its config name.</summary>
public sealed class FooPluginModule : IPluginModule
{
    public const string Name = "foo-plugin";

    public void Register(IPluginRegistry registry) =>
        registry.AddPageTable<FooPlugin, NoOptions>(
            Name,
            "Four-level radix table, 48-bit addresses, 4 KiB pages; flags in bits 0-15 of an entry, the frame above.",
            c => new FooPlugin(c.Memory, c.Frames, c.Metrics));
}
