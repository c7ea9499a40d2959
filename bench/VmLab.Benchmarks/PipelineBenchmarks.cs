using BenchmarkDotNet.Attributes;
using VmLab.Abstractions;
using VmLab.Abstractions.PageTables;
using VmLab.Abstractions.Tlb;
using VmLab.Core;
using VmLab.Plugins.PageTables;
using VmLab.Plugins.Tlb;
using VmLab.Traces;

namespace VmLab.Benchmarks;

/// <summary>
/// The full MMU pipeline on a TLB-hit-dominated stream (random accesses over 48 pages, a 64-entry fully-associative
/// LRU TLB, x86-64 4-level tables), in batches of 4096 as a trace workload hands them over:
/// <list type="bullet">
/// <item><c>PluginComposed</c>: <see cref="Machine.Create"/> with the plugin structs, i.e. <c>MmuEngine&lt;FullyAssociativeTlb, RadixPageTable&lt;X86_64Format&gt;&gt;</c>.</item>
/// <item><c>HandSpecialised</c>: a minimal loop written directly over the same two struct types: lookup, a permission
/// test on the cached flags, walk and insert on a miss; no pid switch, no page-straddle split, no CPU-state checks,
/// no fault path (the pages are mapped beforehand).</item>
/// <item><c>VmtDecodeAndPluginComposed</c>: the same stream decoded from an in-memory <c>.vmt</c> and run through the machine.</item>
/// </list>
/// </summary>
[MemoryDiagnoser]
[MinColumn]
public class PipelineBenchmarks
{
    public const int Accesses = 1 << 20;
    private const int Batch = 4096;
    private MemoryAccess[] _stream = [];
    private byte[] _vmt = [];
    private readonly MemoryAccess[] _batch = new MemoryAccess[Batch];
    private Machine _machine = null!;
    private FullyAssociativeTlb _tlb;
    private RadixPageTable<X86_64Format> _pageTable;
    private ulong _root;
    private long _hits, _misses, _walks;

    [GlobalSetup]
    public void Setup()
    {
        _stream = Fixtures.HitStream(Accesses, 48);
        _vmt = Fixtures.ToVmt(_stream);
        _machine = Fixtures.Machine(_ => Fixtures.FullyAssociative());
        _machine.Execute(_stream); // first touches: every page mapped, dirty, and in the TLB
        _pageTable = (RadixPageTable<X86_64Format>)_machine.Kernel.PageTable;
        _root = _machine.Kernel.FindProcess(0)!.PageTableRoot;
        _tlb = Fixtures.FullyAssociative();
        HandSpecialised();
        long before = _machine.Metrics[MetricNames.TlbMisses];
        PluginComposed();
        if (_machine.Metrics[MetricNames.TlbMisses] != before) throw new InvalidOperationException("the stream is not TLB-hit only after warm-up");
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Accesses)]
    public void PluginComposed()
    {
        var stream = _stream.AsSpan();
        for (int i = 0; i < stream.Length; i += Batch) _machine.Execute(stream.Slice(i, Batch));
    }

    [Benchmark(OperationsPerInvoke = Accesses)]
    public void HandSpecialised()
    {
        var stream = _stream.AsSpan();
        for (int i = 0; i < stream.Length; i += Batch) Direct(ref _tlb, ref _pageTable, _root, stream.Slice(i, Batch));
    }

    [Benchmark(OperationsPerInvoke = Accesses)]
    public void VmtDecodeAndPluginComposed()
    {
        using var reader = new VmtReader(new MemoryStream(_vmt), "hits.vmt");
        int n;
        while ((n = reader.Read(_batch)) > 0) _machine.Execute(_batch.AsSpan(0, n));
    }

    private void Direct<TTlb, TPageTable>(ref TTlb tlb, ref TPageTable pageTable, ulong root, ReadOnlySpan<MemoryAccess> batch)
        where TTlb : struct, ITlb
        where TPageTable : struct, IPageTable
    {
        long hits = 0, misses = 0, walks = 0;
        var cpu = CpuState.LinuxDefault;
        foreach (ref readonly var a in batch)
        {
            if (tlb.TryLookup(a.Address, 1, a.Kind, out var e) && Allowed(e.Flags, a.Kind))
            {
                hits++;
                continue;
            }
            misses++;
            walks++;
            var walk = pageTable.Walk(root, a.Address, a.Kind, a.Mode, cpu);
            if (!walk.IsOk) throw new InvalidOperationException($"unmapped 0x{a.Address:x}");
            tlb.Insert(a.Address, 1, a.Kind, TlbEntry.From(walk.Leaf));
        }
        _hits += hits;
        _misses += misses;
        _walks += walks;
    }

    private static bool Allowed(PageFlags flags, AccessKind kind) =>
        (flags & PageFlags.User) != 0
        && kind switch
        {
            AccessKind.Write => (flags & (PageFlags.Writable | PageFlags.Dirty)) == (PageFlags.Writable | PageFlags.Dirty),
            AccessKind.Fetch => (flags & PageFlags.NoExecute) == 0,
            _ => true,
        };
}
