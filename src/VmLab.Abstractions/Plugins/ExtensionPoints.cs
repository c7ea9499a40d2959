using VmLab.Abstractions.Cache;
using VmLab.Abstractions.Devices;
using VmLab.Abstractions.Faults;
using VmLab.Abstractions.PageTables;
using VmLab.Abstractions.Replacement;
using VmLab.Abstractions.Signals;
using VmLab.Abstractions.Timing;
using VmLab.Abstractions.Tlb;
using VmLab.Abstractions.Traces;
using VmLab.Abstractions.Workloads;

namespace VmLab.Abstractions.Plugins;

/// <summary>How many components of an extension point one experiment uses.</summary>
public enum ExtensionPointCount
{
    /// <summary>Exactly one (a page-table format, a TLB, signal delivery, a workload).</summary>
    One,

    /// <summary>None or one (a replacement policy).</summary>
    Optional,

    /// <summary>Any number, in order (fault handlers, devices), or as many as are registered (trace formats).</summary>
    Many,
}

/// <summary>
/// An extension point: what components registered under <see cref="Name"/> implement (<see cref="Contract"/>), where an
/// experiment names them (<see cref="ConfigPath"/>) and how many it takes. The host registers the built-in ones
/// (<see cref="ExtensionPoints.BuiltIn"/>); a plugin assembly may register another with
/// <see cref="IPluginRegistry.AddExtensionPoint"/> and components of it with <see cref="PluginRegistryExtensions.AddComponent{T, TOptions}"/>
/// (contract 1.3).
/// </summary>
/// <param name="Name">Lower-case kebab-case, unique: <c>vmlab plugins --kind NAME</c> lists its components.</param>
/// <param name="Contract">The type every component of this extension point implements.</param>
/// <param name="ConfigPath">The config key path that names its components (<c>machine:tlb</c>), or empty when none does
/// (components are found by name by whoever consumes them, as the trace workload finds trace formats).</param>
/// <param name="Count">How many components one experiment uses.</param>
/// <param name="Description">One line for <c>vmlab plugins</c>.</param>
public sealed record ExtensionPointDescriptor(string Name, Type Contract, string ConfigPath, ExtensionPointCount Count, string Description);

/// <summary>The names of the built-in extension points and their descriptors.</summary>
public static class ExtensionPoints
{
    public const string PageTable = "page-table";
    public const string Tlb = "tlb";
    public const string Replacement = "replacement";
    public const string FaultHandler = "fault-handler";
    public const string Signals = "signals";
    public const string Workload = "workload";
    public const string Device = "device";
    public const string TraceFormat = "trace-format";
    public const string Timing = "timing";
    public const string Cache = "cache";

    /// <summary>The extension points the host registers before any plugin loads.</summary>
    public static IReadOnlyList<ExtensionPointDescriptor> BuiltIn { get; } =
    [
        new(PageTable, typeof(IPageTable), "machine:pageTable", ExtensionPointCount.One, "page-table format: entry encoding, walk, permission check"),
        new(Tlb, typeof(ITlb), "machine:tlb", ExtensionPointCount.One, "translation lookaside buffer, one per CPU"),
        new(Replacement, typeof(IReplacementPolicy), "machine:replacement", ExtensionPointCount.Optional, "page-replacement policy that picks reclaim victims"),
        new(FaultHandler, typeof(IFaultHandler), "machine:faultHandlers", ExtensionPointCount.Many, "page-fault handler, tried in order"),
        new(Signals, typeof(ISignalDelivery), "machine:signals", ExtensionPointCount.One, "signal delivery"),
        new(Workload, typeof(IWorkload), "workload", ExtensionPointCount.One, "source of accesses: trace reader, generator, scenario"),
        new(Device, typeof(IDevice), "machine:devices", ExtensionPointCount.Many, "trapped memory-mapped device"),
        new(TraceFormat, typeof(ITraceFormat), "", ExtensionPointCount.Many, "trace file format read by the trace workload and vmlab trace info|convert|record"),
        new(Timing, typeof(ITimingModel), "machine:timing", ExtensionPointCount.Optional, "timing model: the estimated cost in cycles of every counted event (time.* metrics)"),
        new(Cache, typeof(ICacheHierarchy), "machine:cache", ExtensionPointCount.Optional, "data-cache hierarchy the page-table walker's references (and optionally the workload's) go through"),
    ];

    /// <summary>The extension point a contract-1.2 <see cref="PluginKind"/> names.</summary>
    public static string NameOf(PluginKind kind) => kind switch
    {
        PluginKind.PageTable => PageTable,
        PluginKind.Tlb => Tlb,
        PluginKind.Replacement => Replacement,
        PluginKind.FaultHandler => FaultHandler,
        PluginKind.Signals => Signals,
        PluginKind.Workload => Workload,
        PluginKind.Device => Device,
        _ => "",
    };

    /// <summary>The <see cref="PluginKind"/> of an extension point name: <see cref="PluginKind.Other"/> for any but the first seven built-ins.</summary>
    public static PluginKind KindOf(string extensionPoint) => extensionPoint switch
    {
        PageTable => PluginKind.PageTable,
        Tlb => PluginKind.Tlb,
        Replacement => PluginKind.Replacement,
        FaultHandler => PluginKind.FaultHandler,
        Signals => PluginKind.Signals,
        Workload => PluginKind.Workload,
        Device => PluginKind.Device,
        _ => PluginKind.Other,
    };
}

/// <summary>
/// What the host knows about the loaded plugins, for components that look others up by name (a workload that
/// resolves trace formats, a plugin that defined its own extension point). Available from
/// <see cref="ComponentContext.Services"/> (contract 1.3).
/// </summary>
public interface IPluginDirectory
{
    /// <summary>Every extension point: the built-in ones and those plugins registered.</summary>
    IReadOnlyList<ExtensionPointDescriptor> ExtensionPoints { get; }

    /// <summary>The components registered under <paramref name="extensionPoint"/>, by name.</summary>
    IReadOnlyList<PluginRegistration> Components(string extensionPoint);

    /// <summary>The component <paramref name="name"/> of <paramref name="extensionPoint"/> (case-insensitive), or null.</summary>
    PluginRegistration? Find(string extensionPoint, string name);
}
