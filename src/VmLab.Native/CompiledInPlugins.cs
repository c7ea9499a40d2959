using System.Reflection;
using VmLab.Host.Plugins;

namespace VmLab.Native;

/// <summary>
/// The built-in plugins as this executable holds them: compiled in, not loaded. The catalog still reads the built-in
/// plugin folders beside the command (their manifests, their files' stamps) and asks for a folder's main assembly when
/// it needs the folder; this loader answers with the compiled-in assembly of that name. Any other directory (a config's
/// <c>pluginPaths</c>, <c>VMLAB_PLUGIN_PATH</c>) is refused before it is read, and the command goes to the managed vmlab.
/// </summary>
public sealed class CompiledInPluginLoader(string builtInDirectory) : IPluginAssemblyLoader
{
    /// <summary>One assembly per project under <c>plugins/</c>, named like its folder.</summary>
    public static IReadOnlyList<Assembly> Assemblies { get; } =
    [
        typeof(Plugins.Devices.DevicesModule).Assembly,
        typeof(Plugins.Faults.FaultsModule).Assembly,
        typeof(Plugins.PageTables.PageTablesModule).Assembly,
        typeof(Plugins.Replacement.ReplacementModule).Assembly,
        typeof(Plugins.Scenarios.ScenariosModule).Assembly,
        typeof(Plugins.Signals.SignalsModule).Assembly,
        typeof(Plugins.Timing.TimingModule).Assembly,
        typeof(Plugins.Tlb.TlbModule).Assembly,
        typeof(Plugins.Workloads.WorkloadsModule).Assembly,
    ];

    private readonly string _builtIn = Path.TrimEndingDirectorySeparator(Path.GetFullPath(builtInDirectory));

    /// <summary>The compiled-in assemblies by simple name (the name of their folder).</summary>
    private readonly Dictionary<string, Assembly> _byName = Assemblies.ToDictionary(a => a.GetName().Name!, StringComparer.Ordinal);

    public CompiledInPluginLoader() : this(PluginCatalog.BuiltInDirectory) { }

    /// <summary>
    /// Only the built-in directory, and only while each folder in it is one compiled in: a folder added to it by hand,
    /// or a built-in one this executable predates, is for the managed command to load.
    /// </summary>
    public bool CanLoadFrom(string directory)
    {
        if (!IsBuiltIn(directory)) return false;
        if (!Directory.Exists(_builtIn)) return true;
        foreach (var folder in Directory.EnumerateDirectories(_builtIn))
            if (!_byName.ContainsKey(Path.GetFileName(folder))) return false;
        return true;
    }

    public bool CompiledWithHost => true;

    /// <summary>
    /// The compiled-in assembly of a plugin folder in the built-in directory. The catalog has asked
    /// <see cref="CanLoadFrom"/> about the whole directory before it reads it; this checks only the plugin's own folder.
    /// </summary>
    public Assembly Load(string assemblyPath)
    {
        string folder = Path.GetDirectoryName(Path.GetDirectoryName(Path.GetFullPath(assemblyPath))) ?? "";
        if (!IsBuiltIn(folder)) throw new PluginDirectoryNotLoadableException(folder);
        string name = Path.GetFileNameWithoutExtension(assemblyPath);
        return _byName.TryGetValue(name, out var assembly) ? assembly : throw new PluginDirectoryNotLoadableException(Path.GetDirectoryName(assemblyPath)!);
    }

    private bool IsBuiltIn(string directory) =>
        string.Equals(Path.TrimEndingDirectorySeparator(Path.GetFullPath(directory)), _builtIn, StringComparison.Ordinal);

    /// <summary>The native command's plugins: compiled in, with the MMU closed over their types at compile time.</summary>
    public static PluginHosting Hosting { get; } = new(new CompiledInPluginLoader(), CompiledInEngines.Instance);
}
