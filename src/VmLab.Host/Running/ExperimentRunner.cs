using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using VmLab.Abstractions;
using VmLab.Abstractions.Cache;
using VmLab.Abstractions.Devices;
using VmLab.Abstractions.Faults;
using VmLab.Abstractions.PageTables;
using VmLab.Abstractions.Plugins;
using VmLab.Abstractions.Replacement;
using VmLab.Abstractions.Signals;
using VmLab.Abstractions.Timing;
using VmLab.Abstractions.Tlb;
using VmLab.Abstractions.Traces;
using VmLab.Abstractions.Workloads;
using VmLab.Core;
using VmLab.Core.Kernel;
using VmLab.Core.Checks;
using VmLab.Core.Mmu;
using VmLab.Core.Memory;
using VmLab.Host.Config;
using VmLab.Host.Events;

namespace VmLab.Host.Running;

/// <summary>
/// Composes a machine for an <see cref="Experiment"/> with Microsoft.Extensions.DependencyInjection and runs its
/// workload. Bad input met while running (a malformed trace line) propagates as <see cref="VmLabInputException"/>;
/// any other failure of a component ends the run as failed, with the component's name and the stack in the result.
/// </summary>
public sealed class ExperimentRunner
{
    /// <summary>
    /// The cores this runner's runs may give trace decoder threads, one permit each, shared by every run it makes (a
    /// sweep running cases side by side passes the cores its cases leave free); null lets every run have one.
    /// Registered for the workload under <see cref="VmLab.Traces.TraceDecoding.CoresServiceKey"/>.
    /// </summary>
    public SemaphoreSlim? DecodeCores { get; init; }

    /// <summary>
    /// How each CPU's MMU is closed over the plugins' types: at run time by reflection (the default, for plugins from any
    /// folder), or by code compiled with the built-in plugins (the native command's).
    /// </summary>
    public IMmuEngineFactory Engines { get; init; } = ReflectionMmuEngineFactory.Instance;

    /// <param name="started">Called once the machine is composed, with readers of how far the run is (for a progress display, read from another thread).</param>
    /// <param name="events">What to record of the run's events (off when null): a file, a narration, an attribution.</param>
    public RunResult Run(Experiment experiment, CancellationToken cancellationToken = default, Action<RunMonitor>? started = null, EventOptions? events = null)
    {
        var clock = Stopwatch.StartNew();
        if (events is { Any: true }) EventRecording.Check(events);
        using var services = Compose(experiment, DecodeCores, Engines);
        EventRecording? recording = null;
        var metrics = services.GetRequiredService<MetricRegistry>();
        Machine? machine = null;
        ITimingModel? timing = null;
        string status = RunResult.Completed;
        string? error = null;
        try
        {
            machine = services.GetRequiredService<Machine>();
            var workload = services.GetRequiredService<IWorkload>();
            workload.Validate(machine);
            if (events is { Any: true }) recording = new EventRecording(machine, events);
            var accesses = metrics.Counter(MetricNames.Accesses);
            started?.Invoke(new RunMonitor(() => Volatile.Read(ref accesses.Value), () => workload.Progress));
            // The timing model is built before the run so a bad profile stops it before anything runs (exit 2).
            timing = services.GetService<ITimingModel>();
            workload.Run(machine, cancellationToken);
        }
        catch (Exception e) when (e is VmLabInputException or OperationCanceledException)
        {
            recording?.Dispose();
            throw;
        }
        catch (InvariantViolationException e)
        {
            // A broken kernel invariant: the message names the invariant, the frame or address and the operations before it.
            status = RunResult.Failed;
            error = e.Message;
        }
        catch (Exception e)
        {
            status = RunResult.Failed;
            error = Describe(e, experiment);
        }
        var eventSummary = recording?.Finish();
        var notable = machine?.Kernel.Events.Select(e => e.Kind == KernelEvents.WorkloadKind ? e.Message : $"{e.Kind} pid {e.Pid}: {e.Message}").ToList() ?? [];
        if (machine?.Kernel.Events.Dropped is > 0 and var dropped)
            notable.Add($"{dropped} more events were left out: the first {KernelEvents.Capacity} are kept");
        // Most runs check no expectation: then no generic code over Expectation (a value type) runs, which the JIT would compile.
        IReadOnlyList<Expectation> expectations = machine is { Expectations.Count: > 0 } ? machine.Expectations.ToList() : NoExpectations;
        if (status == RunResult.Completed && expectations.Count > 0 && expectations.Any(e => !e.Passed)) status = RunResult.ExpectationFailed;
        return new RunResult(experiment.Name, experiment.Seed, experiment.Resolved, PluginVersions(experiment),
            WithTime(metrics.Snapshot(), timing, status), clock.Elapsed.TotalSeconds, status, error, notable, expectations) { EventStream = eventSummary };
    }

    private static readonly Expectation[] NoExpectations = new Expectation[0];

    /// <summary>The run's metrics with the timing model's time metrics added, when one is configured and the run completed.</summary>
    private static MetricSnapshot WithTime(MetricSnapshot metrics, ITimingModel? timing, string status) =>
        timing is null || status == RunResult.Failed ? metrics : metrics.With(timing.Estimate(metrics));

    /// <summary>
    /// Builds every component of the experiment without running it, so problems only a component can see (a scenario's
    /// syntax, a trace header) are reported by <c>vmlab check</c>.
    /// </summary>
    public void Validate(Experiment experiment)
    {
        using var services = Compose(experiment, engines: Engines);
        var machine = services.GetRequiredService<Machine>();
        services.GetRequiredService<IWorkload>().Validate(machine);
        services.GetService<ITimingModel>();
    }

    /// <summary>
    /// The error of a failed run: which plugin failed (the component whose factory threw, or the configured component
    /// whose assembly holds the innermost plugin frame of the stack) and the full exception with its stack.
    /// </summary>
    private static string Describe(Exception e, Experiment experiment)
    {
        if (e is ComponentException ce) return $"plugin {ce.Component} failed: {ce.InnerException}";
        // The core caught a plugin breaking its contract: blame that plugin, not the one on the stack (a fault handler
        // allocating a frame is on it when the replacement policy names a bad victim).
        if (e is VmLab.Core.PluginContractException pce && Components(experiment).FirstOrDefault(c => c.KeyPath == pce.KeyPath) is { } culprit)
            return $"plugin {culprit.Plugin.Name} ({culprit.KeyPath}, {culprit.Plugin.AssemblyName}) failed: {e}";
        var origin = ComponentOf(e, experiment);
        return origin is null ? e.ToString() : $"plugin {origin} failed: {e}";
    }

    private static string? ComponentOf(Exception e, Experiment experiment)
    {
        var components = Components(experiment).ToList();
        foreach (var f in new StackTrace(e, false).GetFrames())
        {
            var type = f.GetMethod()?.DeclaringType;
            var asm = type?.Assembly;
            if (asm is null) continue;
            // The component whose class (or a type nested in it) holds the frame; else every component of that assembly.
            var owners = components.Where(c => Encloses(c.Plugin.Registration.ImplementationType, type)).ToList();
            if (owners.Count == 0) owners = components.Where(c => c.Plugin.Registration.ImplementationType.Assembly == asm).ToList();
            if (owners.Count > 0)
                return string.Join(" or ", owners.Select(c => $"{c.Plugin.Name} ({c.KeyPath}, {c.Plugin.AssemblyName})").Distinct());
            string? name = asm.GetName().Name;
            if (name is not null && !name.StartsWith("VmLab.Core", StringComparison.Ordinal) && !name.StartsWith("VmLab.Host", StringComparison.Ordinal)
                && !name.StartsWith("System", StringComparison.Ordinal) && name != "VmLab.Abstractions")
                return name;
        }
        return null;
    }

    private static bool Encloses(Type implementation, Type? type)
    {
        for (; type is not null; type = type.DeclaringType)
            if (type == implementation) return true;
        return false;
    }

    private static IEnumerable<Component> Components(Experiment e)
    {
        yield return e.PageTable;
        yield return e.Tlb;
        if (e.Replacement is not null) yield return e.Replacement;
        if (e.Timing is not null) yield return e.Timing;
        if (e.Cache is not null) yield return e.Cache;
        foreach (var h in e.FaultHandlers) yield return h;
        yield return e.Signals;
        yield return e.Workload;
    }

    public static IReadOnlyDictionary<string, string> PluginVersions(Experiment e)
    {
        // A sorted list, not a sorted dictionary: its code over strings is precompiled; the dictionary's tree of key-value
        // pairs (a value type) is compiled by the JIT at every start.
        var result = new SortedList<string, string>(StringComparer.Ordinal);
        void Add(Component? c)
        {
            if (c is not null) result[c.Plugin.Name] = $"{c.Plugin.AssemblyName} {c.Plugin.Version}";
        }
        Add(e.PageTable);
        Add(e.Tlb);
        Add(e.Replacement);
        Add(e.Timing);
        Add(e.Cache);
        foreach (var h in e.FaultHandlers) Add(h);
        foreach (var d in e.Devices) Add(d);
        Add(e.Signals);
        Add(e.Workload);
        return result;
    }

    /// <summary>The service graph of one run: core services, then one registration per configured component.</summary>
    /// <param name="decodeCores">The cores trace decoder threads may take (<see cref="DecodeCores"/>), or null.</param>
    /// <param name="engines">How the MMU is closed (<see cref="Engines"/>); null for the reflection factory.</param>
    public static ServiceProvider Compose(Experiment experiment, SemaphoreSlim? decodeCores = null, IMmuEngineFactory? engines = null)
    {
        var m = experiment.Machine;
        var services = new ServiceCollection();
        services.AddSingleton(experiment);
        if (decodeCores is not null) services.AddKeyedSingleton(VmLab.Traces.TraceDecoding.CoresServiceKey, decodeCores);
        if (experiment.Catalog is { } catalog)
        {
            services.AddSingleton<IPluginDirectory>(catalog);
            services.AddSingleton(_ => catalog.TraceFormats); // loads the folders that register trace formats only when asked for
        }
        services.AddSingleton<MetricRegistry>();
        services.AddSingleton<IMetrics>(sp => sp.GetRequiredService<MetricRegistry>());
        services.AddSingleton(_ => new PhysicalMemory(m.Memory.Frames));
        services.AddSingleton(sp => new FrameTable(sp.GetRequiredService<PhysicalMemory>(), sp.GetRequiredService<IMetrics>()));
        services.AddSingleton<IFrameAllocator>(sp => sp.GetRequiredService<FrameTable>());
        services.AddSingleton(sp => sp.GetRequiredService<FrameTable>().Links);
        // The cache hierarchy before the page table: the walker takes it from the services when it is built.
        if (experiment.Cache is { } cache)
            services.AddSingleton(sp => (ICacheHierarchy)Create(cache, sp, experiment, 0));
        if (experiment.Timing is { } timing)
            services.AddSingleton(sp => (ITimingModel)Create(timing, sp, experiment, 0));
        services.AddSingleton(sp => (IPageTable)Create(experiment.PageTable, sp, experiment, 0));
        services.AddSingleton(sp => (ISignalDelivery)Create(experiment.Signals, sp, experiment, 0));
        services.AddSingleton<IReadOnlyList<NamedFaultHandler>>(sp =>
        {
            // A loop, not LINQ: generic code over a value type of VmLab's is compiled at run time, not ahead of it.
            var handlers = new NamedFaultHandler[experiment.FaultHandlers.Count];
            for (int i = 0; i < handlers.Length; i++)
                handlers[i] = new NamedFaultHandler(experiment.FaultHandlers[i].Plugin.Name, (IFaultHandler)Create(experiment.FaultHandlers[i], sp, experiment, 0));
            return handlers;
        });
        if (experiment.Replacement is { } r)
            services.AddSingleton(sp => (IReplacementPolicy)Create(r, sp, experiment, 0));
        services.AddSingleton(m);
        services.AddSingleton(sp => Machine.Create(
            sp.GetRequiredService<MachineOptions>(),
            sp.GetRequiredService<PhysicalMemory>(),
            sp.GetRequiredService<FrameTable>(),
            sp.GetRequiredService<MetricRegistry>(),
            sp.GetRequiredService<IPageTable>(),
            cpu => (ITlb)Create(experiment.Tlb, sp, experiment, cpu),
            sp.GetRequiredService<IReadOnlyList<NamedFaultHandler>>(),
            sp.GetRequiredService<ISignalDelivery>(),
            experiment.Devices.Select(d => (IDevice)Create(d, sp, experiment, 0)).ToList(),
            sp.GetService<IReplacementPolicy>(),
            sp.GetService<ICacheHierarchy>(),
            engines));
        services.AddSingleton(sp => (IWorkload)Create(experiment.Workload, sp, experiment, 0));
        // Every service is a singleton the host registers (plugins add none), so there are no scopes to validate.
        return services.BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = false, ValidateScopes = false });
    }

    private static object Create(Component component, IServiceProvider sp, Experiment experiment, int cpu)
    {
        var context = new ComponentContext(
            component.Options,
            component.KeyPath,
            sp.GetRequiredService<IMetrics>(),
            sp.GetRequiredService<PhysicalMemory>(),
            sp.GetRequiredService<IFrameAllocator>(),
            Seeds.For(experiment.Seed, cpu == 0 ? component.KeyPath : $"{component.KeyPath}#{cpu}"),
            experiment.BaseDirectory,
            sp,
            cpu);
        try
        {
            return component.Plugin.Registration.Factory(context);
        }
        catch (VmLabInputException)
        {
            throw;
        }
        catch (Exception e)
        {
            throw new ComponentException(component.Plugin.Name, e);
        }
    }
}

/// <summary>A plugin's factory or component threw.</summary>
public sealed class ComponentException(string component, Exception inner)
    : Exception($"plugin {component} failed: {inner.Message}", inner)
{
    public string Component { get; } = component;
}

/// <summary>Stable per-component seeds: the experiment seed mixed with the component's key path (FNV-1a, then SplitMix64).</summary>
public static class Seeds
{
    public static ulong For(ulong seed, string keyPath)
    {
        ulong h = 14695981039346656037UL;
        foreach (char c in keyPath)
        {
            h ^= c;
            h *= 1099511628211UL;
        }
        ulong z = seed ^ h;
        return Xoshiro256.SplitMix(ref z);
    }
}

/// <summary>How far a running experiment is: accesses translated so far and the workload's own progress (0–1, null when it cannot tell).</summary>
public sealed record RunMonitor(Func<long> Accesses, Func<double?> Progress);
