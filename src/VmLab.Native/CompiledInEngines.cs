using VmLab.Abstractions.PageTables;
using VmLab.Abstractions.Tlb;
using VmLab.Core.Mmu;
using VmLab.Plugins.PageTables;
using VmLab.Plugins.Timing;
using VmLab.Plugins.Tlb;
using VmLab.Plugins.Tlb.Policies;

namespace VmLab.Native;

/// <summary>
/// Closes the MMU over the built-in plugins' types at compile time, where the managed command closes it at run time
/// (<see cref="ReflectionMmuEngineFactory"/>, same rule). Each dimension is one switch over its built-in types, and the
/// generic methods they call make the compiler produce every combination: TLB × page table × observer. A built-in TLB,
/// TLB policy, page-table format or cache hierarchy added to <c>plugins/</c> needs its line here; the tests run one
/// experiment per built-in component through this factory and fail on a type it does not know.
/// </summary>
public sealed class CompiledInEngines : IMmuEngineFactory
{
    public static CompiledInEngines Instance { get; } = new();

    private CompiledInEngines() { }

    public ICpu Create(MmuParts parts) => parts.Tlb switch
    {
        FullyAssociativeTlb t => WithTlb(t, parts),
        SetAssociativeTlb<LruPolicy> t => WithTlb(t, parts),
        SetAssociativeTlb<FifoPolicy> t => WithTlb(t, parts),
        SetAssociativeTlb<RandomPolicy> t => WithTlb(t, parts),
        SetAssociativeTlb<TreePlruPolicy> t => WithTlb(t, parts),
        SetAssociativeTlb<SrripPolicy> t => WithTlb(t, parts),
        HierarchicalTlb<LruPolicy> t => WithTlb(t, parts),
        HierarchicalTlb<FifoPolicy> t => WithTlb(t, parts),
        HierarchicalTlb<RandomPolicy> t => WithTlb(t, parts),
        HierarchicalTlb<TreePlruPolicy> t => WithTlb(t, parts),
        HierarchicalTlb<SrripPolicy> t => WithTlb(t, parts),
        _ => throw NotCompiledIn("TLB", parts.Tlb),
    };

    private static ICpu WithTlb<TTlb>(TTlb tlb, MmuParts parts) where TTlb : IRepeatHitTlb => parts.PageTable switch
    {
        RadixPageTable<X86_64Format> p => Close(tlb, p, parts),
        RadixPageTable<X86_32Format> p => Close(tlb, p, parts),
        RadixPageTable<X86PaeFormat> p => Close(tlb, p, parts),
        RadixPageTable<Arm64Format> p => Close(tlb, p, parts),
        RadixPageTable<RiscVFormat> p => Close(tlb, p, parts),
        HashedPageTable p => Close(tlb, p, parts),
        _ => throw NotCompiledIn("page table", parts.PageTable),
    };

    private static ICpu Close<TTlb, TPageTable>(TTlb tlb, TPageTable pageTable, MmuParts parts)
        where TTlb : IRepeatHitTlb
        where TPageTable : IPageTable
    {
        var (index, kernel, options, metrics) = (parts.Index, parts.Kernel, parts.Options, parts.Metrics);
        return (parts.EveryAccessPolicy, parts.DataCache) switch
        {
            (null, null) => new MmuEngine<TTlb, TPageTable, NoAccessObserver, PageRuns<TTlb>>(index, tlb, pageTable, kernel, options, metrics, default),
            ({ } policy, null) => new MmuEngine<TTlb, TPageTable, PolicyAccessObserver, NoPageRuns<TTlb>>(index, tlb, pageTable, kernel, options, metrics, new(policy)),
            (null, SetAssociativeCache cache) => new MmuEngine<TTlb, TPageTable, CacheAccessObserver<SetAssociativeCache, NoAccessObserver>, NoPageRuns<TTlb>>(
                index, tlb, pageTable, kernel, options, metrics, new(cache, default)),
            ({ } policy, SetAssociativeCache cache) => new MmuEngine<TTlb, TPageTable, CacheAccessObserver<SetAssociativeCache, PolicyAccessObserver>, NoPageRuns<TTlb>>(
                index, tlb, pageTable, kernel, options, metrics, new(cache, new(policy))),
            (_, { } other) => throw NotCompiledIn("cache hierarchy", other),
        };
    }

    private static InvalidOperationException NotCompiledIn(string what, object component) =>
        new($"the native vmlab has no MMU compiled for the {what} {component.GetType()}: add it to CompiledInEngines, or run the managed vmlab (VMLAB_NATIVE=0)");
}
