using System.Runtime.CompilerServices;
using BenchmarkDotNet.Attributes;
using VmLab.Abstractions;
using VmLab.Abstractions.Tlb;
using VmLab.Core;
using VmLab.Plugins.Tlb;
using VmLab.Plugins.Tlb.Policies;

namespace VmLab.Benchmarks;

/// <summary>
/// One TLB lookup per organisation, all hits: 48 pages (fit every organisation) looked up in a random order.
/// Each TLB is called through its struct type, as the specialised MMU calls it.
/// </summary>
[MemoryDiagnoser]
[MinColumn]
public class TlbLookupBenchmarks
{
    public const int Lookups = 1 << 16;
    private MemoryAccess[] _stream = [];
    private FullyAssociativeTlb _fullyAssociative;
    private SetAssociativeTlb<LruPolicy> _setAssociative;
    private HierarchicalTlb<LruPolicy> _hierarchy;

    [GlobalSetup]
    public void Setup()
    {
        _stream = Fixtures.HitStream(Lookups, 48);
        _fullyAssociative = Fixtures.FullyAssociative();
        _setAssociative = Fixtures.SetAssociative();
        _hierarchy = Fixtures.Hierarchy(new MetricRegistry());
        Fill(ref _fullyAssociative);
        Fill(ref _setAssociative);
        Fill(ref _hierarchy);
    }

    private void Fill<TTlb>(ref TTlb tlb) where TTlb : struct, ITlb
    {
        foreach (var a in _stream)
            if (!tlb.TryLookup(a.Address, 1, a.Kind, out _))
                tlb.Insert(a.Address, 1, a.Kind, new TlbEntry(a.Address >> 12, PageFlags.Present | PageFlags.User | PageFlags.Writable | PageFlags.Accessed | PageFlags.Dirty));
        if (Lookup(ref tlb, _stream) != _stream.Length) throw new InvalidOperationException($"{typeof(TTlb).Name}: the working set does not fit");
    }

    // Fully optimised at once: one call loops over the whole stream, so tiering would leave it in OSR code.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static int Lookup<TTlb>(ref TTlb tlb, MemoryAccess[] stream) where TTlb : struct, ITlb
    {
        int hits = 0;
        foreach (ref readonly var a in stream.AsSpan())
            if (tlb.TryLookup(a.Address, 1, a.Kind, out _)) hits++;
        return hits;
    }

    [Benchmark(OperationsPerInvoke = Lookups)]
    public int FullyAssociative64Lru() => Lookup(ref _fullyAssociative, _stream);

    [Benchmark(OperationsPerInvoke = Lookups)]
    public int SetAssociative1536x12Lru() => Lookup(ref _setAssociative, _stream);

    [Benchmark(OperationsPerInvoke = Lookups)]
    public int HierarchyL1L2Lru() => Lookup(ref _hierarchy, _stream);
}
