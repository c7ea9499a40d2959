using VmLab.Abstractions;
using VmLab.Core;
using Xunit;

namespace VmLab.Tests.Shared;

/// <summary>
/// Shared by the test projects (linked into each, so each has its own collection). Tests that count this thread's
/// allocated bytes run alone: a collection triggered by a test allocating on another
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

    /// <summary>The bytes four runs of <paramref name="stream"/> allocate once two runs have touched every page and warmed the machine.</summary>
    public static long AllocatedDuring(Machine machine, MemoryAccess[] stream)
    {
        machine.Execute(stream); // first touches: faults, frames, page-table pages, metric counters
        machine.Execute(stream); // warm: JIT tiers and TLB state settle
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 4; i++) machine.Execute(stream);
        return GC.GetAllocatedBytesForCurrentThread() - before;
    }

    /// <summary>Reads, writes and fetches of pid 0 over <paramref name="pages"/> pages from 0x4000_0000, some straddling a page boundary; fixed seed.</summary>
    public static MemoryAccess[] AccessStream(int count, int pages)
    {
        var rng = new Random(7);
        var stream = new MemoryAccess[count];
        for (int i = 0; i < count; i++)
        {
            ulong va = 0x4000_0000UL + (ulong)rng.Next(pages) * 4096 + (ulong)rng.Next(4096);
            var kind = (AccessKind)(i % 3);
            stream[i] = new MemoryAccess(va, 0, 8, kind, AccessMode.User);
        }
        return stream;
    }

    /// <summary>Accesses of <paramref name="stream"/> that touch two pages (each counts twice in <c>accesses</c>).</summary>
    public static long Straddles(MemoryAccess[] stream)
    {
        long n = 0;
        foreach (var a in stream)
            if ((a.Address >> 12) != ((a.Address + a.Size - 1) >> 12)) n++;
        return n;
    }
}
