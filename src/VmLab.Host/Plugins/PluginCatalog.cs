using System.Reflection;
using VmLab.Abstractions.Plugins;
using VmLab.Abstractions.Traces;
using VmLab.Host.Config;
using VmLab.Traces;

namespace VmLab.Host.Plugins;

/// <summary>A component known to the host: its registration and where it came from.</summary>
public sealed record PluginInfo(PluginRegistration Registration, string Folder, string AssemblyName, string Version)
{
    /// <summary>The name of the extension point the component belongs to (<c>tlb</c>, <c>trace-format</c>, ...).</summary>
    public string Kind => Registration.ExtensionPoint;
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

/// <summary>An extension point known to the host and who registered it (<c>null</c> folder: the host).</summary>
public sealed record ExtensionPointInfo(ExtensionPointDescriptor Descriptor, string? Folder);

/// <summary>
/// Finds plugin folders, loads each once, and indexes the extension points and the components they register by
/// extension point and name. The host registers the built-in extension points (<see cref="ExtensionPoints.BuiltIn"/>);
/// a plugin may add its own. A directory given is either a plugin folder (it holds <c>X.dll</c> beside
/// <c>X.deps.json</c>) or a directory of them.
/// </summary>
public sealed class PluginCatalog : IPluginDirectory
{
    public const string EnvironmentVariable = "VMLAB_PLUGIN_PATH";

    private const string ContractAssemblyName = "VmLab.Abstractions";

    private readonly IPluginAssemblyLoader _loader;
    private readonly HashSet<string> _loadedFolders = new(StringComparer.Ordinal);
    private readonly Dictionary<(string, string), PluginInfo> _components = [];
    private readonly Dictionary<string, ExtensionPointInfo> _extensionPoints = new(StringComparer.Ordinal);
    private readonly List<PluginLoadError> _errors = [];
    private readonly List<ITraceFormat> _traceFormatObjects = [];
    private TraceFormatCatalog? _traceFormats;

    public PluginCatalog(IPluginAssemblyLoader loader)
    {
        _loader = loader;
        foreach (var point in ExtensionPoints.BuiltIn) _extensionPoints[point.Name] = new ExtensionPointInfo(point, null);
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
            _components[(registration.ExtensionPoint, registration.Name)] = new PluginInfo(registration, BuiltInOrigin, core.Name!, core.Version?.ToString(3) ?? "0.0.0")
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

    /// <summary>Every component, in the order of the extension points, then by name.</summary>
    public IEnumerable<PluginInfo> All =>
        _components.Values.OrderBy(p => PointOrder(p.Kind)).ThenBy(p => p.Name, StringComparer.Ordinal);

    /// <summary>Every extension point: the built-in ones in their order, then those plugins registered, by name.</summary>
    public IReadOnlyList<ExtensionPointInfo> ExtensionPointInfos =>
        _extensionPoints.Values.OrderBy(e => PointOrder(e.Descriptor.Name)).ThenBy(e => e.Descriptor.Name, StringComparer.Ordinal).ToList();

    IReadOnlyList<ExtensionPointDescriptor> IPluginDirectory.ExtensionPoints => ExtensionPointInfos.Select(e => e.Descriptor).ToList();

    IReadOnlyList<PluginRegistration> IPluginDirectory.Components(string extensionPoint) =>
        _components.Values.Where(p => p.Kind == extensionPoint).OrderBy(p => p.Name, StringComparer.Ordinal).Select(p => p.Registration).ToList();

    PluginRegistration? IPluginDirectory.Find(string extensionPoint, string name) => Find(extensionPoint, name)?.Registration;

    /// <summary>The extension point named <paramref name="name"/> (case-insensitive), or null.</summary>
    public ExtensionPointDescriptor? FindExtensionPoint(string name) =>
        _extensionPoints.GetValueOrDefault(name.ToLowerInvariant())?.Descriptor;

    /// <summary>The names of every extension point, for listings and "did you mean".</summary>
    public IReadOnlyList<string> ExtensionPointNames => ExtensionPointInfos.Select(e => e.Descriptor.Name).ToList();

    /// <summary>The registered trace formats with the rules for choosing among them (made once the plugins are loaded).</summary>
    public ITraceFormatCatalog TraceFormats => _traceFormats ??= new TraceFormatCatalog(_traceFormatObjects);

    private static int PointOrder(string name)
    {
        for (int i = 0; i < ExtensionPoints.BuiltIn.Count; i++)
            if (ExtensionPoints.BuiltIn[i].Name == name) return i;
        return int.MaxValue;
    }

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
        bool any = false;
        foreach (var sub in Directory.GetDirectories(directory).Order(StringComparer.Ordinal))
        {
            var subMain = FindMainAssembly(sub);
            if (subMain is not null)
            {
                LoadFolder(sub, subMain);
                any = true;
            }
            else if (WithoutDeps(sub) is { } warning) _errors.Add(warning);
        }
        if (!any && WithoutDeps(directory) is { } top) _errors.Add(top);
    }

    /// <summary>
    /// A folder that holds assemblies but no <c>.deps.json</c> beside any of them: not a plugin's build output, so
    /// nothing in it is loaded — said as a warning instead of passed over in silence.
    /// </summary>
    private static PluginLoadError? WithoutDeps(string folder)
    {
        var dlls = Directory.GetFiles(folder, "*.dll");
        if (dlls.Length == 0 || Directory.GetFiles(folder, "*.deps.json").Length > 0) return null;
        string expected = Path.GetFileName(folder) + ".deps.json";
        return new PluginLoadError(folder,
            $"holds {dlls.Length} assembl{(dlls.Length == 1 ? "y" : "ies")} but no .deps.json, so no plugin in it was loaded: " +
            $"a plugin folder is the build or publish output of the plugin's project, with its .deps.json (here {expected} beside {Path.GetFileName(folder)}.dll)");
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
        foreach (var point in registry.Points)
        {
            if (_extensionPoints.TryGetValue(point.Name, out var existing))
            {
                _errors.Add(new PluginLoadError(folder,
                    $"extension point '{point.Name}' is already registered by {existing.Folder ?? "the host"}; this one is ignored"));
                continue;
            }
            _extensionPoints[point.Name] = new ExtensionPointInfo(point, folder);
        }
        foreach (var registration in registry.Items)
        {
            string point = registration.ExtensionPoint;
            if (!_extensionPoints.TryGetValue(point, out var descriptor))
            {
                _errors.Add(new PluginLoadError(folder,
                    $"'{registration.Name}' is registered under extension point '{point}', which no one registered; " +
                    $"{Suggest.Hint(point, ExtensionPointNames)} (a plugin that defines one registers it with AddExtensionPoint first)"));
                continue;
            }
            if (!descriptor.Descriptor.Contract.IsAssignableFrom(registration.ImplementationType))
            {
                _errors.Add(new PluginLoadError(folder,
                    $"{point} '{registration.Name}': {registration.ImplementationType.FullName} does not implement {descriptor.Descriptor.Contract.FullName}; this one is ignored"));
                continue;
            }
            var key = (point, registration.Name.ToLowerInvariant());
            if (_components.TryGetValue(key, out var existing))
            {
                _errors.Add(new PluginLoadError(folder,
                    $"{point} '{registration.Name}' is already provided by {existing.Folder}; this one is ignored"));
                continue;
            }
            if (point == ExtensionPoints.TraceFormat)
            {
                // A trace format is one shared, stateless object (AddTraceFormat): its factory takes no context.
                ITraceFormat? format;
                try
                {
                    format = registration.Factory(null!) as ITraceFormat;
                }
                catch (Exception)
                {
                    format = null;
                }
                if (format is null)
                {
                    _errors.Add(new PluginLoadError(folder,
                        $"trace-format '{registration.Name}': its factory must return the format object without a context; register it with AddTraceFormat(new MyFormat())"));
                    continue;
                }
                _traceFormatObjects.Add(format);
                _traceFormats = null;
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

    /// <summary>The component <paramref name="name"/> (case-insensitive) of extension point <paramref name="kind"/>, or null.</summary>
    public PluginInfo? Find(string kind, string name) =>
        _components.GetValueOrDefault((kind, name.ToLowerInvariant()));

    /// <summary>The component of a contract-1.2 kind (<see cref="ExtensionPoints.NameOf"/>).</summary>
    public PluginInfo? Find(PluginKind kind, string name) => Find(ExtensionPoints.NameOf(kind), name);

    public IReadOnlyList<string> NamesOf(string kind) =>
        _components.Values.Where(p => p.Kind == kind).Select(p => p.Name).Order(StringComparer.Ordinal).ToList();

    private sealed class Registry : IPluginRegistry
    {
        public List<PluginRegistration> Items { get; } = [];
        public List<ExtensionPointDescriptor> Points { get; } = [];

        public void Add(PluginRegistration registration)
        {
            CheckName(registration.Name, "plugin");
            CheckName(registration.ExtensionPoint, "extension point");
            Items.Add(registration);
        }

        public void AddExtensionPoint(ExtensionPointDescriptor descriptor)
        {
            CheckName(descriptor.Name, "extension point");
            ArgumentNullException.ThrowIfNull(descriptor.Contract);
            Points.Add(descriptor);
        }

        private static void CheckName(string name, string what)
        {
            if (string.IsNullOrWhiteSpace(name) || name != name.ToLowerInvariant() || name.Contains(' '))
                throw new ArgumentException($"{what} name '{name}' must be lower-case kebab-case");
        }
    }
}
