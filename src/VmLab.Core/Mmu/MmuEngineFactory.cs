using VmLab.Abstractions.Cache;
using VmLab.Abstractions.PageTables;
using VmLab.Abstractions.Replacement;
using VmLab.Abstractions.Tlb;
using VmLab.Core.Kernel;

namespace VmLab.Core.Mmu;

/// <summary>
/// What one CPU's MMU is made of: its TLB and the machine's page table, the replacement policy when it must see every
/// access (<see cref="ReplacementInput.EveryAccess"/>, else null) and the cache hierarchy when it sees the workload's
/// data (<see cref="ICacheHierarchy.SeesData"/>, else null).
/// </summary>
public sealed record MmuParts(
    int Index,
    ITlb Tlb,
    IPageTable PageTable,
    IReplacementPolicy? EveryAccessPolicy,
    ICacheHierarchy? DataCache,
    KernelModel Kernel,
    MachineOptions Options,
    MetricRegistry Metrics);

/// <summary>
/// Closes <see cref="MmuEngine{TTlb, TPageTable, TObserver, TRuns}"/> over a CPU's parts. The rule is the same for every
/// factory: the observer is <see cref="PolicyAccessObserver"/> when a policy sees every access, else
/// <see cref="NoAccessObserver"/>; a data cache wraps either in <see cref="CacheAccessObserver{TCache, TInner}"/>; a TLB that
/// declares <see cref="IRepeatHitTlb"/> gets <see cref="PageRuns{TTlb}"/> while the observer is
/// <see cref="NoAccessObserver"/>, any other <see cref="NoPageRuns{TTlb}"/>. Only how the generic type is closed differs:
/// <see cref="ReflectionMmuEngineFactory"/> closes it at run time over any plugin's types; the natively compiled
/// command closes it at compile time over the built-in plugins' types (docs/performance.md, "The native command").
/// </summary>
public interface IMmuEngineFactory
{
    ICpu Create(MmuParts parts);
}

/// <summary>
/// Closes the engine with one <c>MakeGenericType</c> per CPU over the parts' runtime types: works for any plugin, loaded
/// from any folder, wherever code can be generated at run time (every managed vmlab).
/// </summary>
public sealed class ReflectionMmuEngineFactory : IMmuEngineFactory
{
    public static ReflectionMmuEngineFactory Instance { get; } = new();

    private ReflectionMmuEngineFactory() { }

    public ICpu Create(MmuParts parts)
    {
        object observer = parts.EveryAccessPolicy is { } policy ? new PolicyAccessObserver(policy) : new NoAccessObserver();
        if (parts.DataCache is { } cache)
        {
            var wrapper = typeof(CacheAccessObserver<,>).MakeGenericType(cache.GetType(), observer.GetType());
            observer = Activator.CreateInstance(wrapper, cache, observer)!;
        }
        // Page runs: only for a TLB that declares them, and only while nothing observes every access.
        var runs = parts.Tlb is IRepeatHitTlb && observer is NoAccessObserver ? typeof(PageRuns<>) : typeof(NoPageRuns<>);
        var type = typeof(MmuEngine<,,,>).MakeGenericType(parts.Tlb.GetType(), parts.PageTable.GetType(), observer.GetType(), runs.MakeGenericType(parts.Tlb.GetType()));
        return (ICpu)Activator.CreateInstance(type, parts.Index, parts.Tlb, parts.PageTable, parts.Kernel, parts.Options, parts.Metrics, observer)!;
    }
}
