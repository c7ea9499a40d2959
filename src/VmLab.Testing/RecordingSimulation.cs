using VmLab.Abstractions;
using VmLab.Abstractions.Workloads;

namespace VmLab.Testing;

/// <summary>
/// An <see cref="ISimulation"/> that keeps every access a workload executes (in order, with the batch sizes), every
/// expectation it reports and every event it records. It has no kernel: a workload that makes system calls (maps
/// memory, forks) is tested end to end with <c>vmlab run</c> instead, and <see cref="Kernel"/> says so.
/// </summary>
public sealed class RecordingSimulation(int preferredBatchSize = 4096) : ISimulation
{
    public List<MemoryAccess> Accesses { get; } = [];
    public List<int> Batches { get; } = [];
    public List<Expectation> Expectations { get; } = [];
    public List<(string Where, string Message)> Events { get; } = [];

    public int PreferredBatchSize { get; } = preferredBatchSize;

    public IKernelApi Kernel => throw new NotSupportedException(
        "RecordingSimulation has no kernel; test a workload that makes system calls with vmlab run on a config that names it");

    public void Execute(ReadOnlySpan<MemoryAccess> batch)
    {
        Batches.Add(batch.Length);
        foreach (var access in batch) Accesses.Add(access);
    }

    public void Report(in Expectation expectation) => Expectations.Add(expectation);

    public void Event(string where, string message) => Events.Add((where, message));

    /// <summary>Runs <paramref name="workload"/> to its end on a new recording simulation.</summary>
    public static RecordingSimulation Run(IWorkload workload, int preferredBatchSize = 4096)
    {
        var simulation = new RecordingSimulation(preferredBatchSize);
        workload.Run(simulation, CancellationToken.None);
        return simulation;
    }
}
