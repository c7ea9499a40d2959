using VmLab.Abstractions;
using VmLab.Core;
using VmLab.Core.Memory;

namespace VmLab.Core.Tests.Memory;

public sealed class FrameTableTests
{
    private static FrameTable Table(long frames, out MetricRegistry metrics)
    {
        metrics = new MetricRegistry();
        return new FrameTable(new PhysicalMemory(frames), metrics);
    }

    [Fact]
    public void BootCarvesMemoryAboveTheZeroPageIntoTheLargestAlignedBlocks()
    {
        // [1, 2048): 1 (order 0), 2-3 (1), 4-7 (2), ..., 512-1023 (9), 1024-2047 (10).
        var t = Table(2048, out _);
        for (int k = 0; k <= FrameTable.MaxOrder; k++) Assert.Equal(1, t.FreeBlocks(k));
        Assert.Equal(2047, t.FreeFrames);
    }

    [Fact]
    public void AllocationSplitsTheSmallestLargeEnoughBlockAndFreeMergesBuddiesBack()
    {
        var t = Table(2048, out var metrics);
        Assert.True(t.TryAllocate(FrameUse.User, out ulong a));
        Assert.Equal(1UL, a); // the order-0 block
        Assert.True(t.TryAllocate(FrameUse.User, out ulong b));
        Assert.Equal(2UL, b); // block 2-3 split: 2 handed out, its buddy 3 goes on the order-0 list
        Assert.Equal(1, t.FreeBlocks(0));
        Assert.Equal(0, t.FreeBlocks(1));

        t.Free(b, FrameUse.User); // 2 merges with its free buddy 3 into the order-1 block 2-3
        Assert.Equal(0, t.FreeBlocks(0));
        Assert.Equal(1, t.FreeBlocks(1));
        t.Free(a, FrameUse.User); // 1's buddy is the zero page: it stays an order-0 block
        for (int k = 0; k <= FrameTable.MaxOrder; k++) Assert.Equal(1, t.FreeBlocks(k));
        Assert.Equal(1, metrics.Counter("memory.free_blocks.order10").Value);
    }

    [Fact]
    public void AnOrderThreeBlockIsAlignedAndContiguous()
    {
        var t = Table(2048, out _);
        Assert.True(t.TryAllocateBlock(3, FrameUse.Kernel, out ulong pfn));
        Assert.Equal(8UL, pfn);
        Assert.Equal(2047 - 8, t.FreeFrames);
        t.FreeBlock(pfn, 3, FrameUse.Kernel);
        Assert.Equal(1, t.FreeBlocks(3));
    }

    [Fact]
    public void FreeingEveryOtherFrameLeavesOnlySingleFramesAndFragmentationIsTotal()
    {
        var t = Table(2048, out var metrics);
        var all = new List<ulong>();
        while (t.TryAllocate(FrameUse.User, out ulong pfn)) all.Add(pfn);
        Assert.Equal(2047, all.Count);
        Assert.Equal(0, t.FreeFrames);
        foreach (var pfn in all.Where(p => p % 2 == 0)) t.Free(pfn, FrameUse.User);
        Assert.Equal(1023, t.FreeBlocks(0)); // no even frame has a free buddy
        Assert.Equal(1.0, t.FragmentationIndex(1));
        Assert.Equal(1000, metrics.Counter("memory.fragmentation").Value);

        foreach (var pfn in all.Where(p => p % 2 == 1)) t.Free(pfn, FrameUse.User);
        for (int k = 0; k <= FrameTable.MaxOrder; k++) Assert.Equal(1, t.FreeBlocks(k));
        // Only the order-10 block (1024 of 2047 free frames) can serve an order-10 request.
        Assert.Equal(Math.Round(1000.0 * 1023 / 2047), metrics.Counter("memory.fragmentation").Value);
    }

    [Fact]
    public void TheSameSequenceOfCallsYieldsTheSameFrames()
    {
        static List<ulong> Sequence()
        {
            var t = new FrameTable(new PhysicalMemory(4096), new MetricRegistry());
            var got = new List<ulong>();
            var held = new List<ulong>();
            for (int i = 0; i < 3000; i++)
            {
                if (i % 3 == 2 && held.Count > 0)
                {
                    ulong p = held[(i * 7) % held.Count];
                    held.Remove(p);
                    t.Free(p, FrameUse.User);
                }
                else if (t.TryAllocate(FrameUse.User, out ulong pfn))
                {
                    held.Add(pfn);
                    got.Add(pfn);
                }
            }
            return got;
        }
        Assert.Equal(Sequence(), Sequence());
    }

    [Fact]
    public void AMultiFrameBlockHasOneCountedHeadAndTailsThatAreNeitherFreeNorCounted()
    {
        var t = Table(2048, out _);
        Assert.True(t.TryAllocateBlock(2, FrameUse.Kernel, out ulong head));
        Assert.Equal(4UL, head); // the order-2 block of boot
        Assert.Equal((1, 2, false), (t.RefCount(head), t.BlockOrder(head), t.IsTail(head)));
        for (ulong i = 1; i < 4; i++)
        {
            Assert.True(t.IsTail(head + i));
            Assert.False(t.IsFree(head + i));
            Assert.Equal(0, t.RefCount(head + i));
            Assert.Equal(FrameUse.Kernel, t.UseOf(head + i));
        }
        t.FreeBlock(head, 2, FrameUse.Kernel);
        for (ulong i = 0; i < 4; i++) Assert.True(t.IsFree(head + i) && !t.IsTail(head + i));
    }

    [Fact]
    public void ABlockIsFreedOnlyWholeFromItsHead()
    {
        var t = Table(2048, out _);
        Assert.True(t.TryAllocateBlock(3, FrameUse.Kernel, out ulong head));
        Assert.Throws<InvalidOperationException>(() => t.FreeBlock(head, 2, FrameUse.Kernel));
        Assert.Throws<InvalidOperationException>(() => t.FreeBlock(head + 4, 2, FrameUse.Kernel));
        Assert.Equal(2047 - 8, t.FreeFrames);
        Assert.True(t.Put(head)); // the last reference on the head frees the whole block
        Assert.Equal(2047, t.FreeFrames);
        for (int k = 0; k <= FrameTable.MaxOrder; k++) Assert.Equal(1, t.FreeBlocks(k));
    }

    [Fact]
    public void TheFreeFramesGaugeFollowsEveryAllocationAndFree()
    {
        var t = Table(2048, out var metrics);
        var gauge = metrics.Counter("memory.free_frames");
        Assert.Equal(2047, gauge.Value);
        Assert.True(t.TryAllocateBlock(4, FrameUse.Kernel, out ulong block));
        Assert.True(t.TryAllocate(FrameUse.User, out ulong one));
        Assert.Equal(2047 - 16 - 1, gauge.Value);
        t.FreeBlock(block, 4, FrameUse.Kernel);
        t.Free(one, FrameUse.User);
        Assert.Equal(2047, gauge.Value);
    }

    [Fact]
    public void FrameMetadataAndContentReferencesTakeAtMost32HostBytesPerFrame()
    {
        const long frames = 1 << 20;
        long before = GC.GetAllocatedBytesForCurrentThread();
        var memory = new PhysicalMemory(frames);
        var table = new FrameTable(memory, new MetricRegistry());
        long bytes = GC.GetAllocatedBytesForCurrentThread() - before;
        GC.KeepAlive(table);
        // refcount 4 + mapcount 4 + flags 1 + list links 8 + content reference 8 = 25 bytes, plus fixed overhead.
        Assert.InRange((double)bytes / frames, 25.0, 25.1);
    }

    [Theory]
    [InlineData(2048, 1)]
    [InlineData(5000, 2)]
    [InlineData(32771, 3)]
    [InlineData(262144, 4)]
    public void RandomAllocationsAndFreesHandOutTheFramesOfAnEagerlyBootedBuddyAllocator(int frames, int seed)
    {
        // Boot's max-order blocks are handed out from a range instead of their list: the reference links every block.
        var t = Table(frames, out _);
        var reference = new ReferenceBuddy(frames);
        var rng = new Random(seed);
        var held = new List<(ulong Pfn, int Order)>();
        for (int step = 0; step < 4000; step++)
        {
            if (held.Count > 0 && rng.Next(100) < 45)
            {
                int i = rng.Next(held.Count);
                var (pfn, order) = held[i];
                held.RemoveAt(i);
                t.FreeBlock(pfn, order, FrameUse.User);
                reference.Free((int)pfn, order);
            }
            else
            {
                int r = rng.Next(100);
                int order = r < 70 ? 0 : r < 85 ? rng.Next(1, 4) : r < 95 ? FrameTable.MaxOrder : rng.Next(4, FrameTable.MaxOrder);
                bool ok = t.TryAllocateBlock(order, FrameUse.User, out ulong pfn);
                int? expected = reference.Allocate(order);
                Assert.Equal(expected.HasValue, ok);
                if (ok)
                {
                    Assert.Equal((ulong)expected!.Value, pfn);
                    held.Add((pfn, order));
                }
            }
            Assert.Equal(reference.FreeFrames, t.FreeFrames);
            for (int k = 0; k <= FrameTable.MaxOrder; k++) Assert.Equal(reference.FreeBlocks(k), t.FreeBlocks(k));
        }
    }

    /// <summary>A binary buddy allocator over linked lists, every boot block linked at boot: LIFO lists, splits' upper halves at the head.</summary>
    private sealed class ReferenceBuddy
    {
        private readonly LinkedList<int>[] _lists = [.. Enumerable.Range(0, FrameTable.MaxOrder + 1).Select(_ => new LinkedList<int>())];
        private readonly Dictionary<int, (int Order, LinkedListNode<int> Node)> _free = [];
        private readonly int _frames;

        public ReferenceBuddy(int frames)
        {
            _frames = frames;
            for (int pfn = 1; pfn < frames;)
            {
                int order = Math.Min(FrameTable.MaxOrder, System.Numerics.BitOperations.TrailingZeroCount(pfn));
                while (pfn + (1 << order) > frames) order--;
                _free[pfn] = (order, _lists[order].AddLast(pfn));
                pfn += 1 << order;
            }
        }

        public long FreeFrames => _free.Values.Sum(f => 1L << f.Order);

        public long FreeBlocks(int order) => _lists[order].Count;

        public int? Allocate(int order)
        {
            int k = order;
            while (k <= FrameTable.MaxOrder && _lists[k].Count == 0) k++;
            if (k > FrameTable.MaxOrder) return null;
            int block = _lists[k].First!.Value;
            Take(block);
            while (k > order)
            {
                k--;
                _free[block + (1 << k)] = (k, _lists[k].AddFirst(block + (1 << k)));
            }
            return block;
        }

        public void Free(int block, int order)
        {
            while (order < FrameTable.MaxOrder)
            {
                int buddy = block ^ (1 << order);
                if (buddy == 0 || buddy >= _frames || !_free.TryGetValue(buddy, out var f) || f.Order != order) break;
                Take(buddy);
                block = Math.Min(block, buddy);
                order++;
            }
            _free[block] = (order, _lists[order].AddFirst(block));
        }

        private void Take(int block)
        {
            var (order, node) = _free[block];
            _lists[order].Remove(node);
            _free.Remove(block);
        }
    }
}
