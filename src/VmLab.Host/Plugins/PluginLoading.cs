using System.Reflection;
using System.Runtime.Loader;
using McMaster.NETCore.Plugins.Loader;
using Microsoft.Extensions.DependencyInjection;
using VmLab.Abstractions.Plugins;

namespace VmLab.Host.Plugins;

/// <summary>Loads a plugin's main assembly from its folder in an isolated load context. Our seam over the loader library.</summary>
public interface IPluginAssemblyLoader
{
    Assembly Load(string assemblyPath);
}

/// <summary>
/// Loads plugins with McMaster.NETCore.Plugins: each in its own load context with its own dependencies (resolved from
/// its <c>.deps.json</c>), sharing only VmLab.Abstractions and the DI abstractions with the host.
/// </summary>
/// <remarks>
/// The context is built with McMaster's <see cref="AssemblyLoadContextBuilder"/> rather than <c>PluginLoader</c>, which
/// would also deserialize the plugin's and the host's <c>runtimeconfig.json</c> files on every load (with reflection-based
/// JSON, a fifth of the start-up of a run) for their <c>additionalProbingPaths</c>. Those paths come from a
/// <c>runtimeconfig.dev.json</c> (a development build whose dependencies stay in the NuGet cache), so a
/// <c>runtimeconfig.json</c> is read only when a <c>.dev.json</c> sits beside it; a plugin published or built with
/// <c>EnableDynamicLoading</c> (the template's default) carries its dependencies and needs none.
/// </remarks>
public sealed class McMasterPluginAssemblyLoader : IPluginAssemblyLoader
{
    private static readonly Type[] SharedTypes = [typeof(IPluginModule), typeof(IServiceCollection)];

    public Assembly Load(string assemblyPath)
    {
        var builder = new AssemblyLoadContextBuilder()
            .SetMainAssemblyPath(assemblyPath)
            .SetDefaultContext(AssemblyLoadContext.GetLoadContext(typeof(McMasterPluginAssemblyLoader).Assembly) ?? AssemblyLoadContext.Default);
        // Only the shared types' assemblies come from the host. Everything else a plugin ships (its own version of a
        // library the host or another plugin also uses) resolves from the plugin's folder first, not from the host's.
        foreach (var assembly in SharedTypes.Select(t => t.Assembly).Distinct())
            builder.PreferDefaultLoadContextAssembly(assembly.GetName());
        ProbeDevelopmentPaths(builder, Path.ChangeExtension(assemblyPath, null) + ".runtimeconfig.json");
        foreach (var runtimeConfig in Directory.GetFiles(AppContext.BaseDirectory, "*.runtimeconfig.dev.json"))
            ProbeDevelopmentPaths(builder, runtimeConfig[..^".dev.json".Length] + ".json");
        return builder.Build().LoadFromAssemblyPath(assemblyPath);
    }

    private static void ProbeDevelopmentPaths(AssemblyLoadContextBuilder builder, string runtimeConfig)
    {
        if (File.Exists(Path.ChangeExtension(runtimeConfig, null) + ".dev.json"))
            builder.TryAddAdditionalProbingPathFromRuntimeConfig(runtimeConfig, includeDevConfig: true, out _);
    }
}
