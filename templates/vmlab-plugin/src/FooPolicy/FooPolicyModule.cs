using VmLab.Abstractions.Plugins;

[assembly: VmLabPlugin(typeof(FooPolicy.FooPolicyModule))]

namespace FooPolicy;

/// <summary>The plugin's entry point: registers each component explicitly under its config name.</summary>
public sealed class FooPolicyModule : IPluginModule
{
    public const string Name = "foo-policy";

    public void Register(IPluginRegistry registry) =>
        registry.AddReplacement<FooPolicy, NoOptions>(
            Name,
            "First-in, first-out: evicts the frame resident the longest.",
            _ => new FooPolicy());
}
