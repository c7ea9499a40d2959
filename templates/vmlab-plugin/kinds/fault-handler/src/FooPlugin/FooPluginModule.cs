using VmLab.Abstractions.Plugins;

[assembly: VmLabPlugin(typeof(FooPlugin.FooPluginModule))]

namespace FooPlugin;

/// <summary>The plugin's entry point: registers each component explicitly under its config name.</summary>
public sealed class FooPluginModule : IPluginModule
{
    public const string Name = "foo-plugin";

    public void Register(IPluginRegistry registry) =>
        registry.AddFaultHandler<FooPlugin, NoOptions>(
            Name,
            "First touches of anonymous memory get a fresh zeroed frame, reads included (no shared zero page).",
            c => new FooPlugin(c.Metrics));
}
