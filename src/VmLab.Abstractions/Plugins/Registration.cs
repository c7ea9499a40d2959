using VmLab.Abstractions.Devices;
using VmLab.Abstractions.Faults;
using VmLab.Abstractions.PageTables;
using VmLab.Abstractions.Replacement;
using VmLab.Abstractions.Signals;
using VmLab.Abstractions.Tlb;
using VmLab.Abstractions.Workloads;

namespace VmLab.Abstractions.Plugins;

/// <summary>The extension points. Names in config are the kebab-case of these (<c>page-table</c>, <c>fault-handler</c>, ...).</summary>
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

/// <summary>One registered component: kind, name, implementation, options type, one-line description and how to make it.</summary>
public sealed record PluginRegistration(
    PluginKind Kind,
    string Name,
    string Description,
    Type ImplementationType,
    Type OptionsType,
    Func<ComponentContext, object> Factory);

public interface IPluginRegistry
{
    void Add(PluginRegistration registration);
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
