using System.Reflection;
using System.Runtime.Loader;
using McMaster.NETCore.Plugins.Loader;
using Microsoft.Extensions.DependencyInjection;
using VmLab.Abstractions.Plugins;
using VmLab.Core.Mmu;

namespace VmLab.Host.Plugins;

/// <summary>Loads a plugin's main assembly from its folder in an isolated load context. Our seam over the loader library.</summary>
public interface IPluginAssemblyLoader
{
    Assembly Load(string assemblyPath);

    /// <summary>
    /// Whether this loader can load the plugin folders under <paramref name="directory"/>. A catalog asked for a
    /// directory its loader cannot serve throws <see cref="PluginDirectoryNotLoadableException"/> before it reads the
    /// directory: the native command, whose plugins are compiled in, then hands the whole command to the managed one.
    /// </summary>
    bool CanLoadFrom(string directory) => true;

    /// <summary>
    /// True when every assembly this loader returns was compiled into the executable together with the host, against the
    /// host's own VmLab.Abstractions: the catalog's contract-version check is then moot, and skipped.
    /// </summary>
    bool CompiledWithHost => false;
}

/// <summary>
/// A plugin directory this process cannot load from: its plugins are compiled in (the native command) and the directory is
/// not the built-in one. Nothing has been read or written when it is thrown.
/// </summary>
public sealed class PluginDirectoryNotLoadableException(string directory)
    : Exception($"{directory}: plugin folders beyond the built-in ones are loaded by the managed vmlab only")
{
    public string Directory { get; } = directory;
}

/// <summary>
/// How a vmlab process gets its plugins' code and closes its MMU over their types: from folders at run time
/// (<see cref="FromFolders"/>, every managed vmlab), or compiled into one native executable with the host (the native
/// command, <c>src/VmLab.Native</c>).
/// </summary>
public sealed record PluginHosting(IPluginAssemblyLoader Loader, IMmuEngineFactory Engines)
{
    public static PluginHosting FromFolders { get; } = new(new McMasterPluginAssemblyLoader(), ReflectionMmuEngineFactory.Instance);
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
