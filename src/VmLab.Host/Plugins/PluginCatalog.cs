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
    /// <summary>Plugin folders known by their manifest and not loaded yet, in the order they were added.</summary>
    private readonly List<PendingFolder> _pending = [];
    private readonly Dictionary<PluginManifest.Component, PluginInfo> _components = [];
    private readonly Dictionary<string, ExtensionPointInfo> _extensionPoints = new(StringComparer.Ordinal);
    private readonly List<PluginLoadError> _errors = [];
    private readonly List<ITraceFormat> _traceFormatObjects = [];
    private readonly bool _manifests;
    private TraceFormatCatalog? _traceFormats;

    /// <param name="manifests">
    /// Whether plugin folders are indexed by their manifest (<see cref="PluginManifest"/>): a folder whose manifest is
    /// current is loaded only when a component or extension point it provides is asked for, and a folder loaded without
    /// one gets one written beside it (when the folder is writable).
    /// </param>
    public PluginCatalog(IPluginAssemblyLoader loader, bool manifests = false)
    {
        _loader = loader;
        _manifests = manifests;
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
            _components[new PluginManifest.Component(registration.ExtensionPoint, registration.Name)] = new PluginInfo(registration, BuiltInOrigin, core.Name!, core.Version?.ToString(3) ?? "0.0.0")
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

    /// <summary>The problems of the plugin folders loaded so far (a folder known by its manifest is loaded when first needed).</summary>
    public IReadOnlyList<PluginLoadError> Errors => _errors;

    /// <summary>The plugin folders loaded so far, in the order they were loaded.</summary>
    public IReadOnlyCollection<string> LoadedFolders => _loadedFolders;

    /// <summary>Every component, in the order of the extension points, then by name (every plugin folder is loaded).</summary>
    public IEnumerable<PluginInfo> All
    {
        get
        {
            LoadAll();
            return _components.Values.OrderBy(p => PointOrder(p.Kind)).ThenBy(p => p.Name, StringComparer.Ordinal);
        }
    }

    /// <summary>Every extension point: the built-in ones in their order, then those plugins registered, by name.</summary>
    public IReadOnlyList<ExtensionPointInfo> ExtensionPointInfos
    {
        get
        {
            LoadPending(f => f.Manifest.ExtensionPoints.Count > 0);
            return _extensionPoints.Values.OrderBy(e => PointOrder(e.Descriptor.Name)).ThenBy(e => e.Descriptor.Name, StringComparer.Ordinal).ToList();
        }
    }

    IReadOnlyList<ExtensionPointDescriptor> IPluginDirectory.ExtensionPoints => ExtensionPointInfos.Select(e => e.Descriptor).ToList();

    IReadOnlyList<PluginRegistration> IPluginDirectory.Components(string extensionPoint)
    {
        LoadPending(f => f.Manifest.Provides(extensionPoint));
        return _components.Values.Where(p => p.Kind == extensionPoint).OrderBy(p => p.Name, StringComparer.Ordinal).Select(p => p.Registration).ToList();
    }

    PluginRegistration? IPluginDirectory.Find(string extensionPoint, string name) => Find(extensionPoint, name)?.Registration;

    /// <summary>The extension point named <paramref name="name"/> (case-insensitive), or null.</summary>
    public ExtensionPointDescriptor? FindExtensionPoint(string name)
    {
        string key = name.ToLowerInvariant();
        if (!_extensionPoints.ContainsKey(key)) LoadPending(f => f.Manifest.ExtensionPoints.Contains(key));
        return _extensionPoints.GetValueOrDefault(key)?.Descriptor;
    }

    /// <summary>The names of every extension point, for listings and "did you mean".</summary>
    public IReadOnlyList<string> ExtensionPointNames => ExtensionPointInfos.Select(e => e.Descriptor.Name).ToList();

    /// <summary>The registered trace formats with the rules for choosing among them (made once the folders that register formats are loaded).</summary>
    public ITraceFormatCatalog TraceFormats
    {
        get
        {
            LoadPending(f => f.Manifest.Provides(ExtensionPoints.TraceFormat));
            return _traceFormats ??= new TraceFormatCatalog(_traceFormatObjects);
        }
    }

    /// <summary>Loads every plugin folder still known only by its manifest.</summary>
    public void LoadAll() => LoadPending(_ => true);

    /// <summary>Loads, in the order they were added, the pending folders <paramref name="wanted"/> selects.</summary>
    private void LoadPending(Func<PendingFolder, bool> wanted)
    {
        for (int i = 0; i < _pending.Count; i++)
        {
            var folder = _pending[i];
            if (!wanted(folder)) continue;
            _pending.RemoveAt(i);
            i--;
            // A folder's components may belong to an extension point another folder defines: that one first.
            LoadPending(f => f.Manifest.ExtensionPoints.Count > 0 && folder.Manifest.Components.Any(c => f.Manifest.ExtensionPoints.Contains(c.Kind)));
            LoadFolder(folder.Folder, folder.AssemblyPath);
            i = -1; // the list may have changed under the recursive loads: start again
        }
    }

    private sealed record PendingFolder(string Folder, string AssemblyPath, PluginManifest Manifest);

    private static int PointOrder(string name)
    {
        for (int i = 0; i < ExtensionPoints.BuiltIn.Count; i++)
            if (ExtensionPoints.BuiltIn[i].Name == name) return i;
        return int.MaxValue;
    }

    /// <summary>
    /// A catalog with the built-ins, the <c>VMLAB_PLUGIN_PATH</c> directories and <paramref name="extraDirectories"/>,
    /// each folder indexed by its manifest and loaded when first needed.
    /// </summary>
    /// <param name="loader">How plugin assemblies are loaded; null for <see cref="PluginHosting.FromFolders"/>' loader.</param>
    public static PluginCatalog CreateDefault(IEnumerable<string>? extraDirectories = null, IPluginAssemblyLoader? loader = null)
    {
        var catalog = new PluginCatalog(loader ?? PluginHosting.FromFolders.Loader, manifests: true);
        catalog.AddDirectory(BuiltInDirectory);
        var env = Environment.GetEnvironmentVariable(EnvironmentVariable);
        if (!string.IsNullOrEmpty(env))
            foreach (var dir in env.Split(':', StringSplitOptions.RemoveEmptyEntries)) catalog.AddDirectory(dir);
        foreach (var dir in extraDirectories ?? []) catalog.AddDirectory(dir);
        return catalog;
    }

    /// <exception cref="PluginDirectoryNotLoadableException">The catalog's loader cannot load from <paramref name="directory"/>.</exception>
    public void AddDirectory(string directory)
    {
        directory = Path.GetFullPath(directory);
        if (!_loader.CanLoadFrom(directory)) throw new PluginDirectoryNotLoadableException(directory);
        if (!Directory.Exists(directory))
        {
            _errors.Add(new PluginLoadError(directory, "plugin directory not found"));
            return;
        }
        var main = FindMainAssembly(directory);
        if (main is not null)
        {
            AddFolder(directory, main);
            return;
        }
        bool any = false;
        foreach (var sub in Directory.GetDirectories(directory).Order(StringComparer.Ordinal))
        {
            var subMain = FindMainAssembly(sub);
            if (subMain is not null)
            {
                AddFolder(sub, subMain);
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

    /// <summary>A plugin folder found: remembered by its manifest when that is current, else loaded now.</summary>
    private void AddFolder(string folder, string assemblyPath)
    {
        if (_loadedFolders.Contains(folder) || _pending.Any(p => p.Folder == folder)) return;
        if (_manifests && PluginManifest.Read(folder, assemblyPath) is { } manifest)
        {
            _pending.Add(new PendingFolder(folder, assemblyPath, manifest));
            return;
        }
        // Loaded now, in order: whatever extension point a folder before it defines must be known first.
        LoadPending(f => f.Manifest.ExtensionPoints.Count > 0);
        int errorsBefore = _errors.Count;
        var registry = LoadFolder(folder, assemblyPath);
        if (_manifests && registry is not null && _errors.Count == errorsBefore)
            PluginManifest.TryWrite(folder, assemblyPath, registry.Points.Select(p => p.Name), registry.Items.Select(r => new PluginManifest.Component(r.ExtensionPoint, r.Name)));
    }

    /// <returns>What the folder's module registered, or null when it could not be loaded or did not register.</returns>
    private Registry? LoadFolder(string folder, string assemblyPath)
    {
        if (!_loadedFolders.Add(folder)) return null;
        string name = Path.GetFileNameWithoutExtension(assemblyPath);
        Assembly assembly;
        try
        {
            assembly = _loader.Load(assemblyPath);
        }
        catch (Exception e)
        {
            _errors.Add(new PluginLoadError(folder, $"plugin {name} could not be loaded: {e.GetBaseException().Message}") { AssemblyPath = assemblyPath });
            return null;
        }
        // Checked before any type of the plugin is touched: binding an incompatible contract fails in obscure ways.
        // A plugin compiled into the executable with the host was built against the host's own contract.
        var contract = _loader.CompiledWithHost ? ContractVersion : assembly.GetReferencedAssemblies().FirstOrDefault(r => r.Name == ContractAssemblyName)?.Version;
        if (contract is not null && !IsCompatible(contract, ContractVersion))
        {
            _errors.Add(new PluginLoadError(folder,
                $"plugin {name} in {folder} is refused: it was built against {ContractAssemblyName} {contract} but this vmlab has {ContractVersion}; " +
                $"a plugin needs the same major version and no newer minor version: rebuild it against {ContractAssemblyName} {ContractVersion.Major}.{ContractVersion.Minor}")
            { AssemblyPath = assemblyPath });
            return null;
        }
        var attribute = assembly.GetCustomAttribute<VmLabPluginAttribute>();
        if (attribute is null)
        {
            _errors.Add(new PluginLoadError(folder, $"{name}.dll has no [assembly: VmLabPlugin(typeof(...))] entry point") { AssemblyPath = assemblyPath });
            return null;
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
            return null;
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
            var key = new PluginManifest.Component(point, registration.Name.ToLowerInvariant());
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
        return registry;
    }

    /// <summary>
    /// The load errors of plugin folders that may have provided <paramref name="name"/>: those whose main assembly
    /// holds the name as a string literal (registrations name their components with literals), without loading it.
    /// </summary>
    public IReadOnlyList<PluginLoadError> ErrorsMentioning(string name) =>
        _errors.Where(e => e.AssemblyPath is not null && MetadataStrings.Contains(e.AssemblyPath, name)).ToList();

    /// <summary>
    /// The component <paramref name="name"/> (case-insensitive) of extension point <paramref name="kind"/>, or null. The
    /// first pending folder whose manifest lists it is loaded first.
    /// </summary>
    public PluginInfo? Find(string kind, string name)
    {
        var key = new PluginManifest.Component(kind, name.ToLowerInvariant());
        if (!_components.ContainsKey(key)) LoadPending(f => f.Manifest.Components.Contains(key));
        return _components.GetValueOrDefault(key);
    }

    /// <summary>The component of a contract-1.2 kind (<see cref="ExtensionPoints.NameOf"/>).</summary>
    public PluginInfo? Find(PluginKind kind, string name) => Find(ExtensionPoints.NameOf(kind), name);

    public IReadOnlyList<string> NamesOf(string kind)
    {
        LoadPending(f => f.Manifest.Provides(kind));
        return _components.Values.Where(p => p.Kind == kind).Select(p => p.Name).Order(StringComparer.Ordinal).ToList();
    }

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
