using VmLab.Abstractions.Devices;
using VmLab.Abstractions.Faults;
using VmLab.Abstractions.PageTables;
using VmLab.Abstractions.Replacement;
using VmLab.Abstractions.Signals;
using VmLab.Abstractions.Tlb;
using VmLab.Abstractions.Traces;
using VmLab.Abstractions.Workloads;

namespace VmLab.Abstractions.Plugins;

/// <summary>
/// The extension points of contract 1.2, kept so plugins built against it load and compile unchanged. Since 1.3 an
/// extension point is a registered <see cref="ExtensionPointDescriptor"/> named by a string
/// (<see cref="PluginRegistration.ExtensionPoint"/>); the host no longer reads this enum.
/// </summary>
public enum PluginKind
{
    PageTable,
    Tlb,
    Replacement,
    FaultHandler,
    Signals,
    Workload,
    /// <summary>A trapped memory-mapped device (<c>machine:devices</c>).</summary>
    Device,

    /// <summary>Any other extension point (contract 1.3): <see cref="PluginRegistration.ExtensionPoint"/> names it.</summary>
    Other = 100,
}

/// <summary>Names the one <see cref="IPluginModule"/> of a plugin assembly: the host's entry point into it.</summary>
[AttributeUsage(AttributeTargets.Assembly, AllowMultiple = false)]
public sealed class VmLabPluginAttribute(Type moduleType) : Attribute
{
    public Type ModuleType { get; } = moduleType;
}

/// <summary>A plugin assembly's registration entry point: it registers each component explicitly, no type scanning.</summary>
public interface IPluginModule
{
    void Register(IPluginRegistry registry);
}

/// <summary>One registered component: extension point, name, implementation, options type, one-line description and how to make it.</summary>
public sealed record PluginRegistration(
    PluginKind Kind,
    string Name,
    string Description,
    Type ImplementationType,
    Type OptionsType,
    Func<ComponentContext, object> Factory)
{
    /// <summary>A component of the extension point named <paramref name="extensionPoint"/> (contract 1.3).</summary>
    public PluginRegistration(string extensionPoint, string name, string description, Type implementationType, Type optionsType, Func<ComponentContext, object> factory)
        : this(ExtensionPoints.KindOf(extensionPoint), name, description, implementationType, optionsType, factory) =>
        ExtensionPoint = extensionPoint;

    /// <summary>The name of the extension point this component belongs to (<c>tlb</c>, <c>trace-format</c>, or one a plugin registered).</summary>
    public string ExtensionPoint { get; init; } = ExtensionPoints.NameOf(Kind);
}

public interface IPluginRegistry
{
    void Add(PluginRegistration registration);

    /// <summary>
    /// Registers a new extension point (contract 1.3). Components of it may be registered by this plugin or by any
    /// plugin loaded after it; they are listed by <c>vmlab plugins --kind NAME</c> and found through
    /// <see cref="IPluginDirectory"/>.
    /// </summary>
    void AddExtensionPoint(ExtensionPointDescriptor descriptor) =>
        throw new NotSupportedException($"this registry does not take extension points ('{descriptor.Name}')");
}

/// <summary>Options of a component that takes none.</summary>
public sealed record NoOptions;

/// <summary>Everything a component factory may use. One context per component instance.</summary>
public class ComponentContext(
    object options,
    string keyPath,
    IMetrics metrics,
    PhysicalMemory memory,
    IFrameAllocator frames,
    ulong seed,
    string baseDirectory,
    IServiceProvider services,
    int cpu)
{
    public object Options { get; } = options;
    /// <summary>The config key path of this component (e.g. <c>machine:tlb</c>), for error messages.</summary>
    public string KeyPath { get; } = keyPath;
    public IMetrics Metrics { get; } = metrics;
    public PhysicalMemory Memory { get; } = memory;
    public IFrameAllocator Frames { get; } = frames;
    /// <summary>A seed derived from the experiment seed and <see cref="KeyPath"/>: stable across runs and machines.</summary>
    public ulong Seed { get; } = seed;
    /// <summary>The folder of the config file; relative paths resolve against it.</summary>
    public string BaseDirectory { get; } = baseDirectory;
    public IServiceProvider Services { get; } = services;
    /// <summary>The CPU a per-CPU component (a TLB) belongs to; 0 otherwise.</summary>
    public int Cpu { get; } = cpu;

    public string ResolvePath(string path) => Path.GetFullPath(Path.IsPathRooted(path) ? path : Path.Combine(BaseDirectory, path));

    public ComponentContext<TOptions> As<TOptions>() where TOptions : class =>
        new((TOptions)Options, KeyPath, Metrics, Memory, Frames, Seed, BaseDirectory, Services, Cpu);
}

public sealed class ComponentContext<TOptions>(
    TOptions options,
    string keyPath,
    IMetrics metrics,
    PhysicalMemory memory,
    IFrameAllocator frames,
    ulong seed,
    string baseDirectory,
    IServiceProvider services,
    int cpu)
    : ComponentContext(options, keyPath, metrics, memory, frames, seed, baseDirectory, services, cpu)
    where TOptions : class
{
    public new TOptions Options { get; } = options;
}

/// <summary>Typed registration helpers, one per kind.</summary>
public static class PluginRegistryExtensions
{
    public static void AddPageTable<T, TOptions>(this IPluginRegistry r, string name, string description, Func<ComponentContext<TOptions>, T> factory)
        where T : IPageTable where TOptions : class, new()
        => r.Add(new PluginRegistration(PluginKind.PageTable, name, description, typeof(T), typeof(TOptions), c => factory(c.As<TOptions>())));

    public static void AddTlb<T, TOptions>(this IPluginRegistry r, string name, string description, Func<ComponentContext<TOptions>, T> factory)
        where T : ITlb where TOptions : class, new()
        => r.Add(new PluginRegistration(PluginKind.Tlb, name, description, typeof(T), typeof(TOptions), c => factory(c.As<TOptions>())));

    public static void AddReplacement<T, TOptions>(this IPluginRegistry r, string name, string description, Func<ComponentContext<TOptions>, T> factory)
        where T : class, IReplacementPolicy where TOptions : class, new()
        => r.Add(new PluginRegistration(PluginKind.Replacement, name, description, typeof(T), typeof(TOptions), c => factory(c.As<TOptions>())));

    public static void AddFaultHandler<T, TOptions>(this IPluginRegistry r, string name, string description, Func<ComponentContext<TOptions>, T> factory)
        where T : class, IFaultHandler where TOptions : class, new()
        => r.Add(new PluginRegistration(PluginKind.FaultHandler, name, description, typeof(T), typeof(TOptions), c => factory(c.As<TOptions>())));

    public static void AddSignals<T, TOptions>(this IPluginRegistry r, string name, string description, Func<ComponentContext<TOptions>, T> factory)
        where T : class, ISignalDelivery where TOptions : class, new()
        => r.Add(new PluginRegistration(PluginKind.Signals, name, description, typeof(T), typeof(TOptions), c => factory(c.As<TOptions>())));

    public static void AddDevice<T, TOptions>(this IPluginRegistry r, string name, string description, Func<ComponentContext<TOptions>, T> factory)
        where T : class, IDevice where TOptions : class, new()
        => r.Add(new PluginRegistration(PluginKind.Device, name, description, typeof(T), typeof(TOptions), c => factory(c.As<TOptions>())));

    public static void AddWorkload<T, TOptions>(this IPluginRegistry r, string name, string description, Func<ComponentContext<TOptions>, T> factory)
        where T : class, IWorkload where TOptions : class, new()
        => r.Add(new PluginRegistration(PluginKind.Workload, name, description, typeof(T), typeof(TOptions), c => factory(c.As<TOptions>())));

    /// <summary>A component of any extension point, named by its string (contract 1.3).</summary>
    public static void AddComponent<T, TOptions>(this IPluginRegistry r, string extensionPoint, string name, string description, Func<ComponentContext<TOptions>, T> factory)
        where T : class where TOptions : class, new()
        => r.Add(new PluginRegistration(extensionPoint, name, description, typeof(T), typeof(TOptions), c => factory(c.As<TOptions>())));

    /// <summary>
    /// A trace format (contract 1.3): its <see cref="ITraceFormat.Name"/> is the component name. The format object is
    /// stateless and shared; readers and writers are made per file.
    /// </summary>
    public static void AddTraceFormat(this IPluginRegistry r, ITraceFormat format)
        => r.Add(new PluginRegistration(ExtensionPoints.TraceFormat, format.Name, format.Description, format.GetType(), typeof(NoOptions), _ => format));
}

/// <summary>
/// Bad input from a user (a config value, a trace line, a file): the run does not start or stops, and the message
/// says where (<see cref="Where"/>: file:line:column, file at byte offset, or a config key path) and what to do.
/// </summary>
public sealed class VmLabInputException(string where, string message) : Exception(message)
{
    public string Where { get; } = where;

    public override string ToString() => $"{Where}: {Message}";
}

/// <summary>
/// Marks a string option that names a file which must exist, relative to the config file's folder. The host checks
/// it before anything runs and reports a missing file at the option's key path.
/// </summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class ExistingFileAttribute : Attribute;
