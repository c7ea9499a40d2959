using BenchmarkDotNet.Attributes;
using VmLab.Abstractions;
using VmLab.Core;
using VmLab.Traces;

namespace VmLab.Benchmarks;

/// <summary>
/// The full MMU pipeline on a real trace's locality: the accesses of <c>configs/traces/ls.lackey.gz</c> (decoded once,
/// held in memory) through the quickstart machine, in batches of 4096, after a first pass took every first-touch fault.
/// Consecutive accesses mostly touch the same page, as in any Lackey trace (unlike the random hit stream of
/// <see cref="PipelineBenchmarks"/>), which is where page runs count hits without a TLB lookup:
/// <list type="bullet">
/// <item><c>LsTraceFullyAssociative</c>: a 64-entry fully-associative LRU TLB (the quickstart's).</item>
/// <item><c>LsTraceHierarchy</c>: 64-entry L1I and L1D over a 1536-entry, 12-way L2, LRU.</item>
/// </list>
/// </summary>
[MemoryDiagnoser]
[MinColumn]
public class TracePipelineBenchmarks
{
    private const int Batch = 4096;
    private MemoryAccess[] _trace = [];
    private Machine _fullyAssociative = null!, _hierarchy = null!;

    [GlobalSetup]
    public void Setup()
    {
        _trace = Fixtures.ReadAll(new LackeyReader(new MemoryStream(Fixtures.LsLackey()), "ls.lackey", 0));
        if (_trace.Length != TraceDecodeBenchmarks.Accesses) throw new InvalidOperationException($"the ls trace has {_trace.Length} accesses");
        _fullyAssociative = Fixtures.Machine(_ => Fixtures.FullyAssociative());
        _hierarchy = Fixtures.Machine(metrics => Fixtures.Hierarchy(metrics));
        Run(_fullyAssociative); // first touches
        Run(_hierarchy);
    }

    private void Run(Machine machine)
    {
        var trace = _trace.AsSpan();
        for (int i = 0; i < trace.Length; i += Batch) machine.Execute(trace.Slice(i, Math.Min(Batch, trace.Length - i)));
    }

    [Benchmark(OperationsPerInvoke = TraceDecodeBenchmarks.Accesses)]
    public void LsTraceFullyAssociative() => Run(_fullyAssociative);

    [Benchmark(OperationsPerInvoke = TraceDecodeBenchmarks.Accesses)]
    public void LsTraceHierarchy() => Run(_hierarchy);
}
