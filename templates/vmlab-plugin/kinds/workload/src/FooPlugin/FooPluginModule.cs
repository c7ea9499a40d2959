using VmLab.Abstractions.Plugins;

[assembly: VmLabPlugin(typeof(FooPlugin.FooPluginModule))]

namespace FooPlugin;

/// <summary>The plugin's entry point: registers each component explicitly under its config name.</summary>
public sealed class FooPluginModule : IPluginModule
{
    public const string Name = "foo-plugin";

    public void Register(IPluginRegistry registry) =>
        registry.AddWorkload<FooPlugin, FooPluginOptions>(
            Name,
            "A strided sweep over a region of pages, a share of the accesses writes.",
            c => new FooPlugin(c.Options, c.Seed));
}
