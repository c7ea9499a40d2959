using VmLab.Abstractions.Plugins;

[assembly: VmLabPlugin(typeof(FooPlugin.FooPluginModule))]

namespace FooPlugin;

/// <summary>The plugin's entry point: registers each component explicitly under its config name.</summary>
public sealed class FooPluginModule : IPluginModule
{
    public const string Name = "foo-plugin";

    public void Register(IPluginRegistry registry) =>
        registry.AddTlb<FooPlugin, FooPluginOptions>(
            Name,
            "Fully associative, least frequently used: evicts the entry with the fewest hits.",
            c => new FooPlugin(c.Options, c.Metrics));
}
