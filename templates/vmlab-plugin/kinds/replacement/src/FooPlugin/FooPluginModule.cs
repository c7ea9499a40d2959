using VmLab.Abstractions.Plugins;

[assembly: VmLabPlugin(typeof(FooPlugin.FooPluginModule))]

namespace FooPlugin;

/// <summary>The plugin's entry point: registers each component explicitly under its config name.</summary>
public sealed class FooPluginModule : IPluginModule
{
    public const string Name = "foo-plugin";

    public void Register(IPluginRegistry registry) =>
        registry.AddReplacement<FooPlugin, NoOptions>(
            Name,
            "First-in, first-out: evicts the frame resident the longest.",
            _ => new FooPlugin());
}
