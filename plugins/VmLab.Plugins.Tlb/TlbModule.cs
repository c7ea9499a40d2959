using VmLab.Abstractions.Plugins;
using VmLab.Abstractions.Tlb;
using VmLab.Plugins.Tlb;
using VmLab.Plugins.Tlb.Policies;

[assembly: VmLabPlugin(typeof(TlbModule))]

namespace VmLab.Plugins.Tlb;

public sealed class TlbModule : IPluginModule
{
    public void Register(IPluginRegistry registry)
    {
        registry.AddTlb<FullyAssociativeTlb, FullyAssociativeTlbOptions>(
            "fully-associative",
            "One fully-associative TLB of any size (O(1) lookup), lru, fifo, random or plru, tagged by ASID, with global entries.",
            c => new FullyAssociativeTlb(new FullyAssociativeTlbState(c.Options, c.Seed)));
        registry.Add(new PluginRegistration(PluginKind.Tlb, "set-associative",
            "One set-associative TLB: sets × ways (1 way = direct-mapped, 0 = fully associative), lru, fifo, random, plru or srrip inside a set, one or several page sizes.",
            typeof(SetAssociativeTlb<>), typeof(SetAssociativeTlbOptions),
            c => CreateSetAssociative((SetAssociativeTlbOptions)c.Options, c.Seed)));
        registry.Add(new PluginRegistration(PluginKind.Tlb, "hierarchy",
            "Split L1 instruction/data TLBs over a unified L2 (STLB), inclusive or not, per-page-size or shared arrays, per-level tlb.<level>.hits/misses.",
            typeof(HierarchicalTlb<>), typeof(HierarchicalTlbOptions),
            c => CreateHierarchy((HierarchicalTlbOptions)c.Options, c.Seed, c)));
    }

    /// <summary>Closes the set-associative TLB over the configured policy: the MMU then runs specialised on both.</summary>
    public static ITlb CreateSetAssociative(SetAssociativeTlbOptions o, ulong seed) => o.Policy switch
    {
        TlbPolicy.Lru => SetAssociative<LruPolicy>(o, seed),
        TlbPolicy.Fifo => SetAssociative<FifoPolicy>(o, seed),
        TlbPolicy.Random => SetAssociative<RandomPolicy>(o, seed),
        TlbPolicy.Plru => SetAssociative<TreePlruPolicy>(o, seed),
        TlbPolicy.Srrip => SetAssociative<SrripPolicy>(o, seed),
        _ => throw new ArgumentOutOfRangeException(nameof(o), o.Policy, "unknown policy"),
    };

    /// <summary>A set-associative TLB over any policy, including one defined outside this assembly.</summary>
    public static SetAssociativeTlb<TPolicy> SetAssociative<TPolicy>(SetAssociativeTlbOptions o, ulong seed)
        where TPolicy : ITlbReplacementPolicy<TPolicy>
    {
        int ways = o.Ways == 0 ? o.Entries : o.Ways;
        return new SetAssociativeTlb<TPolicy>(new TlbArray<TPolicy>(o.Entries / ways, ways, PageSizes.Mask(o.PageSizes, "pageSizes", null), seed));
    }

    public static ITlb CreateHierarchy(HierarchicalTlbOptions o, ulong seed, ComponentContext c) => o.Policy switch
    {
        TlbPolicy.Lru => Hierarchy<LruPolicy>(o, seed, c),
        TlbPolicy.Fifo => Hierarchy<FifoPolicy>(o, seed, c),
        TlbPolicy.Random => Hierarchy<RandomPolicy>(o, seed, c),
        TlbPolicy.Plru => Hierarchy<TreePlruPolicy>(o, seed, c),
        TlbPolicy.Srrip => Hierarchy<SrripPolicy>(o, seed, c),
        _ => throw new ArgumentOutOfRangeException(nameof(o), o.Policy, "unknown policy"),
    };

    /// <summary>A hierarchy over any policy, including one defined outside this assembly.</summary>
    public static HierarchicalTlb<TPolicy> Hierarchy<TPolicy>(HierarchicalTlbOptions o, ulong seed, ComponentContext c)
        where TPolicy : ITlbReplacementPolicy<TPolicy>
        => new(new TlbHierarchy<TPolicy>(o, seed, c.Metrics));
}
