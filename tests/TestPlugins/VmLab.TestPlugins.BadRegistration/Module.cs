using VmLab.Abstractions.Plugins;

[assembly: VmLabPlugin(typeof(VmLab.TestPlugins.BadRegistration.Module))]

namespace VmLab.TestPlugins.BadRegistration;

/// <summary>A plugin whose registration throws: the host must report it and load the others.</summary>
public sealed class Module : IPluginModule
{
    public void Register(IPluginRegistry registry) =>
        throw new InvalidOperationException("registration deliberately fails (test plugin)");
}
