using BenchmarkDotNet.Attributes;
using VmLab.Abstractions;
using VmLab.Core;

namespace VmLab.Benchmarks;

/// <summary>
/// The fault path on first touch: a write to each of 16384 never-touched pages of pid 0 takes a TLB miss, a walk that
/// faults, the kernel's checks, the demand-zero handler (a frame, its PTE), the retried walk and the TLB insert.
/// A fresh machine per iteration (not measured).
/// </summary>
[MemoryDiagnoser]
[MinColumn]
[InvocationCount(1)]
public class FaultPathBenchmarks
{
    public const int Pages = 16384;
    private MemoryAccess[] _writes = [];
    private Machine _machine = null!;

    [GlobalSetup]
    public void Setup()
    {
        _writes = new MemoryAccess[Pages];
        for (int i = 0; i < Pages; i++) _writes[i] = MemoryAccess.Write(Fixtures.Base + (ulong)i * 4096, 8);
    }

    [IterationSetup]
    public void FreshMachine() => _machine = Fixtures.Machine(_ => Fixtures.FullyAssociative(), frames: Pages * 2);

    [Benchmark(OperationsPerInvoke = Pages)]
    public long FirstTouchWrite()
    {
        _machine.Execute(_writes);
        long faults = _machine.Metrics[MetricNames.FaultsTotal];
        if (faults != Pages) throw new InvalidOperationException($"{faults} faults for {Pages} first touches");
        return faults;
    }
}
