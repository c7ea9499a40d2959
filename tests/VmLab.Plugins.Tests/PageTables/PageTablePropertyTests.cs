using VmLab.Abstractions;
using VmLab.Abstractions.PageTables;

namespace VmLab.Plugins.Tests.PageTables;

/// <summary>
/// Random map / unmap / protect sequences (seeded, deterministic) checked after every step against a plain dictionary,
/// on two address spaces at once; at the end everything is unmapped and both roots destroyed: no table frame is left.
/// </summary>
public sealed class PageTablePropertyTests
{
    public static TheoryData<string> All => new(Rig.AllFormats);

    private sealed record Ref(ulong Frame, bool Writable, int Shift);

    [Theory]
    [MemberData(nameof(All))]
    public void RandomMapUnmapProtectAgreesWithAReferenceMapAndLeaksNoTableFrame(string format)
    {
        // Every other format runs with a small page-walk cache, flushed after each step as the kernel would.
        var rig = new Rig(format, frames: 1 << 15, pwcEntries: Array.IndexOf(Rig.AllFormats, format) % 2 == 1 && format != "hashed" ? 3 : 0);
        var rng = new Random(20261124 + Array.IndexOf(Rig.AllFormats, format));
        bool radix = format != "hashed";
        int hugeShift = format switch { "x86-32" => 22, "hashed" => 0, _ => 21 };

        var pool = new List<(ulong Va, int Shift)>();
        for (int i = 0; i < 64; i++) pool.Add((Rig.UserAddress(i), 12));                                   // one table
        for (int i = 0; i < 64; i++) pool.Add((0x1000_0000UL + (ulong)i * 0x40_0000 + 0x3000, 12));        // one per table
        for (int i = 0; i < 64; i++) pool.Add((0x2000_0000UL + (ulong)rng.NextInt64(0, 0x5FFFF) * 0x1000, 12)); // scattered below 2 GiB
        if (!radix) for (int k = 0; k < 20; k++) pool.Add((0x3000_0000UL + (5 + 2048UL * (ulong)k) * 0x1000, 12)); // one hash group
        if (radix) for (int i = 0; i < 6; i++) pool.Add((0x8000_0000UL + ((ulong)i << hugeShift), hugeShift));
        pool = pool.Distinct().ToList();

        ulong[] roots = [rig.Table.CreateRoot(), rig.Table.CreateRoot()];
        var reference = new Dictionary<(int, ulong), Ref>();

        void Check(int r, ulong va, int shift)
        {
            ulong probe = va + (ulong)rng.NextInt64(0, 1L << shift);
            var leaf = rig.Table.Read(roots[r], probe);
            var read = rig.Walk(roots[r], probe);
            var write = rig.Walk(roots[r], probe, AccessKind.Write);
            if (!reference.TryGetValue((r, va), out var expected))
            {
                Assert.True(leaf.IsEmpty, $"{format}: 0x{probe:x} should be unmapped in root {r}");
                Assert.Equal(WalkStatus.NotPresent, read.Status);
                return;
            }
            Assert.Equal(expected.Frame, leaf.Frame);
            Assert.Equal(expected.Writable, leaf.Has(PageFlags.Writable));
            Assert.Equal(expected.Shift, leaf.PageShift);
            Assert.Equal(WalkStatus.Ok, read.Status);
            Assert.Equal(expected.Frame, read.Leaf.Frame);
            Assert.Equal(expected.Writable ? WalkStatus.Ok : WalkStatus.Protection, write.Status);
        }

        for (int step = 0; step < 4000; step++)
        {
            int r = rng.Next(2);
            var (va, shift) = pool[rng.Next(pool.Count)];
            int op = rng.Next(4);
            if (op <= 1)
            {
                ulong frame = (ulong)rng.NextInt64(1, shift == 12 ? 1 << 19 : 1 << 17) << (shift - 12);
                bool writable = rng.Next(2) == 0;
                var flags = PageFlags.Present | PageFlags.User | (writable ? PageFlags.Writable : 0);
                Assert.True(rig.Table.Write(roots[r], va, new PageMapping(frame, flags, (byte)shift)));
                reference[(r, va)] = new Ref(frame, writable, shift);
            }
            else if (op == 2)
            {
                rig.Table.Write(roots[r], va, PageMapping.Empty);
                reference.Remove((r, va));
            }
            else if (reference.TryGetValue((r, va), out var old))
            {
                var leaf = rig.Table.Read(roots[r], va);
                var flags = old.Writable ? leaf.Flags & ~PageFlags.Writable : leaf.Flags | PageFlags.Writable;
                rig.Table.Write(roots[r], va, leaf with { Flags = flags });
                reference[(r, va)] = old with { Writable = !old.Writable };
            }
            Check(r, va, shift);
            var other = pool[rng.Next(pool.Count)];
            Check(1 - r, other.Va, other.Shift);
            rig.Table.InvalidateWalkCaches(roots[r], va);
        }

        foreach (var (va, shift) in pool) { Check(0, va, shift); Check(1, va, shift); }

        for (int r = 0; r < 2; r++)
        {
            var leaves = new List<(ulong Address, PageMapping Leaf)>();
            rig.Table.CollectLeaves(roots[r], 0, 0xC000_0000, leaves);
            Assert.Equal(reference.Keys.Where(k => k.Item1 == r).Select(k => k.Item2).Order(), leaves.Select(l => l.Address));
            foreach (var (address, _) in leaves) rig.Table.Write(roots[r], address, PageMapping.Empty);
            leaves.Clear();
            rig.Table.CollectLeaves(roots[r], 0, ulong.MaxValue, leaves);
            Assert.Empty(leaves);
            rig.Table.DestroyRoot(roots[r]);
        }
        if (radix)
        {
            Assert.Equal(0, rig.Frames.PageTableFrames);
        }
        else
        {
            // The colliding group overflowed: the hash table doubled, and it is all that remains.
            var tables = ((VmLab.Plugins.PageTables.HashedPageTable)rig.Table).Tables;
            Assert.True(rig.Metrics["hpt.resizes"] >= 1);
            Assert.Equal(tables.TableFrames, rig.Frames.PageTableFrames);
        }
    }
}
