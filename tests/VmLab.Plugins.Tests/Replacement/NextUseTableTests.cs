using VmLab.Abstractions;
using VmLab.Abstractions.Workloads;
using VmLab.Plugins.Replacement;

namespace VmLab.Plugins.Tests.Replacement;

/// <summary>OPT's future: where each page is used next, 4 bytes per access, given back as the run passes it.</summary>
public sealed class NextUseTableTests
{
    private sealed class ListWorkload(IReadOnlyList<MemoryAccess> accesses) : ITraceWorkload
    {
        public void Run(ISimulation simulation, CancellationToken cancellationToken) => Stream(simulation, cancellationToken);

        public void Stream(ISimulation simulation, CancellationToken cancellationToken)
        {
            var all = accesses.ToArray();
            for (int i = 0; i < all.Length; i += 1000) simulation.Execute(all.AsSpan(i, Math.Min(1000, all.Length - i)));
        }
    }

    [Fact]
    public void NextUseIsThePositionOfTheNextAccessToTheSamePidAndPageCountingEachPageAStraddleTouches()
    {
        var random = new Random(7);
        var accesses = new List<MemoryAccess>();
        var pages = new List<(int Pid, ulong Page)>();
        for (int i = 0; i < 5_000; i++)
        {
            int pid = random.Next(2);
            ulong page = (ulong)random.Next(40);
            bool straddle = random.Next(10) == 0;
            ulong address = (page << 12) + (straddle ? 4092UL : (ulong)random.Next(4000));
            accesses.Add(MemoryAccess.Read(address, 8, pid));
            pages.Add((pid, page));
            if (straddle) pages.Add((pid, page + 1));
        }

        var table = NextUseTable.Build(new ListWorkload(accesses));

        Assert.Equal(pages.Count, table.Count);
        for (int i = 0; i < pages.Count; i++)
        {
            int next = pages.FindIndex(i + 1, p => p == pages[i]);
            Assert.Equal(next < 0 ? NextUseTable.Never : (uint)next, table.NextUse(i));
        }
        Assert.Equal(NextUseTable.Never, table.NextUse(pages.Count)); // past the end
    }

    [Fact]
    public void HoldsFourBytesPerAccessInMebiEntryChunksAndGivesBackTheChunksTheRunHasPassed()
    {
        const int Chunk = 1 << 20;
        int count = 3 * Chunk + 5;
        var accesses = new MemoryAccess[count];
        for (int i = 0; i < count; i++) accesses[i] = MemoryAccess.Read((ulong)(i % 5000) << 12);

        var table = NextUseTable.Build(new ListWorkload(accesses));

        Assert.Equal(4L * 4 * Chunk, table.HeldBytes); // 4 chunks of 2^20 four-byte entries for 3·2^20 + 5 accesses
        Assert.Equal(5000u, table.NextUse(0));
        for (long p = 0; p < 2L * Chunk; p++) table.Passed(p);
        Assert.Equal(2L * 4 * Chunk, table.HeldBytes);
        Assert.Equal((uint)(2 * Chunk + 5000), table.NextUse(2 * Chunk));
    }
}
