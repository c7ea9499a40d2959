using Xunit;

namespace VmLab.Plugins.Tests;

/// <summary>
/// Tests that count this thread's allocated bytes run alone: a collection triggered by a test allocating on another
/// thread can shift the count of the thread being measured.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class AllocationMeasurement
{
    public const string Name = "allocation measurement";

    /// <summary>
    /// The fewest bytes this thread allocates in one of <paramref name="tries"/> runs of <paramref name="run"/>, after a
    /// warm-up run. Work that allocates per operation allocates in every run; the runtime's one-off allocations (tiered
    /// recompilation) land in at most one.
    /// </summary>
    public static long FewestBytes(Action run, int tries = 3)
    {
        run();
        long fewest = long.MaxValue;
        for (int i = 0; i < tries; i++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            run();
            fewest = Math.Min(fewest, GC.GetAllocatedBytesForCurrentThread() - before);
        }
        return fewest;
    }

    /// <summary>
    /// As <see cref="FewestBytes(Action, int)"/> for work that needs fresh state each time: <paramref name="prepare"/>
    /// (not counted) sets up and warms the state and returns the work to count.
    /// </summary>
    public static long FewestBytes(Func<Action> prepare, int tries = 3)
    {
        long fewest = long.MaxValue;
        for (int i = 0; i < tries; i++)
        {
            var run = prepare();
            long before = GC.GetAllocatedBytesForCurrentThread();
            run();
            fewest = Math.Min(fewest, GC.GetAllocatedBytesForCurrentThread() - before);
        }
        return fewest;
    }
}
