using System.Reflection;
using VmLab.Abstractions.Plugins;

namespace VmLab.Host.Plugins;

/// <summary>A component known to the host: its registration and where it came from.</summary>
public sealed record PluginInfo(PluginRegistration Registration, string Folder, string AssemblyName, string Version)
{
    public PluginKind Kind => Registration.Kind;
    public string Name => Registration.Name;

    /// <summary>The VmLab.Abstractions version the plugin assembly was built against (from its references).</summary>
    public Version? ContractVersion { get; init; }
}

/// <summary>A plugin folder that could not be loaded, and why.</summary>
public sealed record PluginLoadError(string Folder, string Message)
{
    /// <summary>The plugin's main assembly, when one was found (lets a config error tell which names it would have provided).</summary>
    public string? AssemblyPath { get; init; }
}

/// <summary>
/// Finds plugin folders, loads each once, and indexes the components they register by kind and name.
/// A directory given is either a plugin folder (it holds <c>X.dll</c> beside <c>X.deps.json</c>) or a directory of them.
/// </summary>
public sealed class PluginCatalog
{
    public const string EnvironmentVariable = "VMLAB_PLUGIN_PATH";

    private const string ContractAssemblyName = "VmLab.Abstractions";

    private readonly IPluginAssemblyLoader _loader;
    private readonly HashSet<string> _loadedFolders = new(StringComparer.Ordinal);
    private readonly Dictionary<(PluginKind, string), PluginInfo> _components = [];
    private readonly List<PluginLoadError> _errors = [];

    public PluginCatalog(IPluginAssemblyLoader loader)
    {
        _loader = loader;
        AddBuiltIns();
    }

    /// <summary>Where the components the kernel model brings itself are listed as coming from.</summary>
    public const string BuiltInOrigin = "(built in)";

    /// <summary>The components VmLab.Core provides itself (the kernel's own fault handlers), listed like any plugin's.</summary>
    private void AddBuiltIns()
    {
        var registry = new Registry();
        VmLab.Core.Kernel.BuiltInFaultHandlers.Register(registry);
        var core = typeof(VmLab.Core.Kernel.KernelModel).Assembly.GetName();
        foreach (var registration in registry.Items)
            _components[(registration.Kind, registration.Name)] = new PluginInfo(registration, BuiltInOrigin, core.Name!, core.Version?.ToString(3) ?? "0.0.0")
            {
                ContractVersion = ContractVersion,
            };
    }

    /// <summary>The VmLab.Abstractions version this host offers to plugins.</summary>
    public static Version ContractVersion { get; } = typeof(IPluginModule).Assembly.GetName().Version ?? new Version(0, 0);

    /// <summary>
    /// The compatibility rule: a plugin built against VmLab.Abstractions <paramref name="builtAgainst"/> loads into a
    /// host with <paramref name="host"/> when the major versions are equal and the plugin's minor version is not newer
    /// than the host's (a minor version only adds to the contract; a major version breaks it).
    /// </summary>
    public static bool IsCompatible(Version builtAgainst, Version host) =>
        builtAgainst.Major == host.Major && builtAgainst.Minor <= host.Minor;

    /// <summary>The folder the built-in plugins are copied to beside the host.</summary>
    public static string BuiltInDirectory => Path.Combine(AppContext.BaseDirectory, "plugins");

    public IReadOnlyList<PluginLoadError> Errors => _errors;

    public IEnumerable<PluginInfo> All =>
        _components.Values.OrderBy(p => p.Kind).ThenBy(p => p.Name, StringComparer.Ordinal);

    /// <summary>A catalog with the built-ins, the <c>VMLAB_PLUGIN_PATH</c> directories and <paramref name="extraDirectories"/>.</summary>
    public static PluginCatalog CreateDefault(IEnumerable<string>? extraDirectories = null)
    {
        var catalog = new PluginCatalog(new McMasterPluginAssemblyLoader());
        catalog.AddDirectory(BuiltInDirectory);
        var env = Environment.GetEnvironmentVariable(EnvironmentVariable);
        if (!string.IsNullOrEmpty(env))
            foreach (var dir in env.Split(':', StringSplitOptions.RemoveEmptyEntries)) catalog.AddDirectory(dir);
        foreach (var dir in extraDirectories ?? []) catalog.AddDirectory(dir);
        return catalog;
    }

    public void AddDirectory(string directory)
    {
        directory = Path.GetFullPath(directory);
        if (!Directory.Exists(directory))
        {
            _errors.Add(new PluginLoadError(directory, "plugin directory not found"));
            return;
        }
        var main = FindMainAssembly(directory);
        if (main is not null)
        {
            LoadFolder(directory, main);
            return;
        }
        foreach (var sub in Directory.GetDirectories(directory).Order(StringComparer.Ordinal))
        {
            var subMain = FindMainAssembly(sub);
            if (subMain is not null) LoadFolder(sub, subMain);
        }
    }

    private static string? FindMainAssembly(string folder)
    {
        var named = Path.Combine(folder, Path.GetFileName(folder) + ".dll");
        if (File.Exists(named) && File.Exists(Path.ChangeExtension(named, ".deps.json"))) return named;
        var candidates = Directory.GetFiles(folder, "*.deps.json")
            .Select(d => d[..^".deps.json".Length] + ".dll")
            .Where(File.Exists)
            .Order(StringComparer.Ordinal)
            .ToList();
        return candidates.Count == 1 ? candidates[0] : null;
    }

    private void LoadFolder(string folder, string assemblyPath)
    {
        if (!_loadedFolders.Add(folder)) return;
        string name = Path.GetFileNameWithoutExtension(assemblyPath);
        Assembly assembly;
        try
        {
            assembly = _loader.Load(assemblyPath);
        }
        catch (Exception e)
        {
            _errors.Add(new PluginLoadError(folder, $"plugin {name} could not be loaded: {e.GetBaseException().Message}") { AssemblyPath = assemblyPath });
            return;
        }
        // Checked before any type of the plugin is touched: binding an incompatible contract fails in obscure ways.
        var contract = assembly.GetReferencedAssemblies().FirstOrDefault(r => r.Name == ContractAssemblyName)?.Version;
        if (contract is not null && !IsCompatible(contract, ContractVersion))
        {
            _errors.Add(new PluginLoadError(folder,
                $"plugin {name} in {folder} is refused: it was built against {ContractAssemblyName} {contract} but this vmlab has {ContractVersion}; " +
                $"a plugin needs the same major version and no newer minor version: rebuild it against {ContractAssemblyName} {ContractVersion.Major}.{ContractVersion.Minor}")
            { AssemblyPath = assemblyPath });
            return;
        }
        var attribute = assembly.GetCustomAttribute<VmLabPluginAttribute>();
        if (attribute is null)
        {
            _errors.Add(new PluginLoadError(folder, $"{name}.dll has no [assembly: VmLabPlugin(typeof(...))] entry point") { AssemblyPath = assemblyPath });
            return;
        }
        string version = assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0]
                         ?? assembly.GetName().Version?.ToString() ?? "0.0.0";
        var registry = new Registry();
        try
        {
            var module = (IPluginModule)Activator.CreateInstance(attribute.ModuleType)!;
            module.Register(registry);
        }
        catch (Exception e)
        {
            _errors.Add(new PluginLoadError(folder, $"plugin {name} in {folder} failed to register: {e.GetBaseException().GetType().Name}: {e.GetBaseException().Message}")
                { AssemblyPath = assemblyPath });
            return;
        }
        foreach (var registration in registry.Items)
        {
            var key = (registration.Kind, registration.Name.ToLowerInvariant());
            if (_components.TryGetValue(key, out var existing))
            {
                _errors.Add(new PluginLoadError(folder,
                    $"{KindName(registration.Kind)} '{registration.Name}' is already provided by {existing.Folder}; this one is ignored"));
                continue;
            }
            _components[key] = new PluginInfo(registration, folder, name, version) { ContractVersion = contract };
        }
    }

    /// <summary>
    /// The load errors of plugin folders that may have provided <paramref name="name"/>: those whose main assembly
    /// holds the name as a string literal (registrations name their components with literals), without loading it.
    /// </summary>
    public IReadOnlyList<PluginLoadError> ErrorsMentioning(string name) =>
        _errors.Where(e => e.AssemblyPath is not null && MetadataStrings.Contains(e.AssemblyPath, name)).ToList();

    public PluginInfo? Find(PluginKind kind, string name) =>
        _components.GetValueOrDefault((kind, name.ToLowerInvariant()));

    public IReadOnlyList<string> NamesOf(PluginKind kind) =>
        _components.Values.Where(p => p.Kind == kind).Select(p => p.Name).Order(StringComparer.Ordinal).ToList();

    public static string KindName(PluginKind kind) => kind switch
    {
        PluginKind.PageTable => "page-table",
        PluginKind.Tlb => "tlb",
        PluginKind.Replacement => "replacement",
        PluginKind.FaultHandler => "fault-handler",
        PluginKind.Signals => "signals",
        PluginKind.Workload => "workload",
        PluginKind.Device => "device",
        _ => kind.ToString().ToLowerInvariant(),
    };

    public static PluginKind? ParseKind(string text)
    {
        foreach (var kind in Enum.GetValues<PluginKind>())
            if (string.Equals(KindName(kind), text, StringComparison.OrdinalIgnoreCase)) return kind;
        return null;
    }

    private sealed class Registry : IPluginRegistry
    {
        public List<PluginRegistration> Items { get; } = [];

        public void Add(PluginRegistration registration)
        {
            if (string.IsNullOrWhiteSpace(registration.Name) || registration.Name != registration.Name.ToLowerInvariant() || registration.Name.Contains(' '))
                throw new ArgumentException($"plugin name '{registration.Name}' must be lower-case kebab-case");
            Items.Add(registration);
        }
    }
}
