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

    /// <summary>
    /// Records a notable event of the workload's own (where: file:line or another place the user can find), kept in the
    /// run's events in order with the kernel's (<c>--json</c> "events", the run's printout).
    /// </summary>
    void Event(string where, string message)
    {
    }
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

    /// <summary>
    /// How much of the work is done, from 0 to 1, when the workload can tell (a trace knows how far into its file it
    /// is, a generator how many accesses it has made); null when it cannot. Read from another thread while
    /// <see cref="Run"/> goes on, for a progress display only: update it once per batch, never per access.
    /// </summary>
    double? Progress => null;

    /// <summary>
    /// Checks the workload against the composed machine before anything runs — <c>vmlab check</c> and <c>vmlab run</c>
    /// both call it — and throws <c>VmLabInputException</c> naming where the workload asks for what the machine does not
    /// have (a scenario's kmalloc on a page-table format without a kernel half). Default: nothing to check.
    /// </summary>
    void Validate(ISimulation simulation)
    {
    }
}

/// <summary>
/// A workload whose whole effect on a run is the sequence of batches it hands to <see cref="ISimulation.Execute"/>,
/// fixed by its options, the files they name and its seed (a trace reader; not a scenario that drives the kernel).
/// The host may decode such a workload once and replay the same batches to several runs, as a sweep does when
/// many cases read the same trace. Address-space setup (a VMA map) goes in <see cref="Prepare"/>, which every run
/// gets; <see cref="Stream"/> only hands over batches.
/// </summary>
public interface ITraceWorkload : IWorkload
{
    /// <summary>Sets up what the trace's processes need before any access (e.g. VMAs from a maps file).</summary>
    void Prepare(IKernelApi kernel)
    {
    }

    /// <summary>Hands the trace's accesses over in batches; no system calls.</summary>
    void Stream(ISimulation simulation, CancellationToken cancellationToken);

    /// <summary>
    /// Whether streaming the trace again costs about what replaying an in-memory recording of it does, as for an
    /// uncompressed binary trace read from a file (since contract 1.9). A sweep then lets every run that reads it stream
    /// it itself instead of recording it once (docs/sweeps.md). The default, false, has it recorded.
    /// </summary>
    bool StreamsAsFastAsReplay => false;
}
