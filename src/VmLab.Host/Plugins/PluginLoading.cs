using System.Reflection;
using McMaster.NETCore.Plugins;
using Microsoft.Extensions.DependencyInjection;
using VmLab.Abstractions.Plugins;

namespace VmLab.Host.Plugins;

/// <summary>Loads a plugin's main assembly from its folder in an isolated load context. Our seam over the loader library.</summary>
public interface IPluginAssemblyLoader
{
    Assembly Load(string assemblyPath);
}

/// <summary>
/// Loads plugins with McMaster.NETCore.Plugins: each in its own load context with its own dependencies, sharing only
/// VmLab.Abstractions and the DI abstractions with the host.
/// </summary>
public sealed class McMasterPluginAssemblyLoader : IPluginAssemblyLoader
{
    private static readonly Type[] SharedTypes = [typeof(IPluginModule), typeof(IServiceCollection)];

    public Assembly Load(string assemblyPath)
    {
        // Only the shared types' assemblies come from the host. Everything else a plugin ships (its own version of a
        // library the host or another plugin also uses) resolves from the plugin's folder first, not from the host's.
        var loader = PluginLoader.CreateFromAssemblyFile(assemblyPath, SharedTypes, config => config.PreferSharedTypes = false);
        return loader.LoadDefaultAssembly();
    }
}
