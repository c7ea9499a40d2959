namespace VmLab.Abstractions.Workloads;

/// <summary>
/// The machine as a workload drives it. A trace workload fills a reused buffer and hands it over in batches:
/// one call per batch, never per access. Processes named by <see cref="MemoryAccess.Pid"/> that the workload did
/// not create are created on first use with an implicit address space (every user address is anonymous private memory).
/// </summary>
public interface ISimulation
{
    /// <summary>Translates every access of the batch in order.</summary>
    void Execute(ReadOnlySpan<MemoryAccess> batch);

    /// <summary>Accesses per batch the simulation prefers.</summary>
    int PreferredBatchSize { get; }

    /// <summary>The kernel's system calls, for workloads that build processes and address spaces (scenarios, VMA maps).</summary>
    IKernelApi Kernel { get; }

    /// <summary>Records the outcome of one expectation a workload checked; any failure makes the run's exit code 1.</summary>
    void Report(in Expectation expectation);
}

/// <summary>One checked expectation: where it is written (file:line), what it says, and what was found.</summary>
public readonly record struct Expectation(string Where, string Text, bool Passed, string Actual)
{
    public override string ToString() => Passed ? $"{Where}: ok: {Text}" : $"{Where}: expected {Text}, got {Actual}";
}

/// <summary>A source of work: a trace reader, a generator or a scenario.</summary>
public interface IWorkload
{
    void Run(ISimulation simulation, CancellationToken cancellationToken);
}

/// <summary>
/// A workload whose whole effect on a run is the sequence of batches it hands to <see cref="ISimulation.Execute"/>,
/// fixed by its options, the files they name and its seed (a trace reader; not a scenario that drives the kernel).
/// The host may decode such a workload once and replay the same batches to several runs, as a sweep does when
/// many cases read the same trace.
/// </summary>
public interface ITraceWorkload : IWorkload;
