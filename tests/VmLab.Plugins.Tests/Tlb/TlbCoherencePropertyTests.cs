using VmLab.Abstractions;
using VmLab.Abstractions.Tlb;
using VmLab.Core;
using VmLab.Core.Kernel;
using VmLab.Plugins.Tlb;
using VmLab.Plugins.Tlb.Policies;

namespace VmLab.Plugins.Tests.Tlb;

/// <summary>
/// Property: whatever the interleaving of accesses, context switches, PTE changes with their flushes, range flushes
/// and address-space flushes over several CPUs and few PCIDs, no TLB ever serves a translation the page table no
/// longer holds (the coherence check would throw), for every organisation.
/// </summary>
public sealed class TlbCoherencePropertyTests
{
    public static TheoryData<string, bool> Cases()
    {
        var data = new TheoryData<string, bool>();
        foreach (var org in new[] { "fa-lru", "fa-random", "fa-plru", "sa-srrip", "dm", "hierarchy", "hierarchy-inclusive" })
            foreach (var pcid in new[] { true, false })
                data.Add(org, pcid);
        return data;
    }

    private static ITlb Make(string org, int cpu, MetricRegistry metrics)
    {
        ulong seed = (ulong)cpu + 11;
        var level = new TlbLevelOptions { Arrays = [new TlbArrayOptions { Entries = 8, Ways = 2 }] };
        return org switch
        {
            "fa-lru" => new FullyAssociativeTlb(new FullyAssociativeTlbState(new FullyAssociativeTlbOptions { Entries = 8 }, seed)),
            "fa-random" => new FullyAssociativeTlb(new FullyAssociativeTlbState(new FullyAssociativeTlbOptions { Entries = 8, Policy = FullyAssociativePolicy.Random }, seed)),
            "fa-plru" => new FullyAssociativeTlb(new FullyAssociativeTlbState(new FullyAssociativeTlbOptions { Entries = 6, Policy = FullyAssociativePolicy.Plru }, seed)),
            "sa-srrip" => TlbModule.CreateSetAssociative(new SetAssociativeTlbOptions { Entries = 8, Ways = 4, Policy = TlbPolicy.Srrip }, seed),
            "dm" => TlbModule.CreateSetAssociative(new SetAssociativeTlbOptions { Entries = 4, Ways = 1 }, seed),
            _ => new HierarchicalTlb<LruPolicy>(new TlbHierarchy<LruPolicy>(new HierarchicalTlbOptions
            {
                Inclusive = org == "hierarchy-inclusive",
                L1i = new TlbLevelOptions { Arrays = [new TlbArrayOptions { Entries = 2, Ways = 0 }] },
                L1d = new TlbLevelOptions { Arrays = [new TlbArrayOptions { Entries = 4, Ways = 0 }] },
                L2 = level,
            }, seed, metrics)),
        };
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void NoStaleHitUnderRandomKernelActivity(string org, bool pcid)
    {
        for (int run = 0; run < 20; run++)
        {
            var rng = new Random(run * 7919 + org.Length);
            var (machine, pageTable) = TestMachine.CreateWithPageTable(3, cpu => Make(org, cpu, new MetricRegistry()), pcid: pcid, pcids: 2, checkTlb: true);
            PageMapping ReadLeaf(Process p, ulong va) => pageTable.Read(p.PageTableRoot, va);
            var kernel = machine.Kernel;
            var procs = Enumerable.Range(1, 4).Select(pid => kernel.GetOrCreateImplicitProcess(pid, 0)).ToArray();
            ulong Page(int i) => 0x7000_0000UL + ((ulong)i << 12);
            for (int step = 0; step < 400; step++)
            {
                int cpu = rng.Next(3);
                Process p = procs[rng.Next(procs.Length)];
                ulong va = Page(rng.Next(12)) + (ulong)rng.Next(4096);
                switch (rng.Next(10))
                {
                    case < 6:
                        var kind = (AccessKind)rng.Next(3);
                        Assert.True(machine.Cpus[cpu].Translate(p, va, kind, AccessMode.User).Ok);
                        break;
                    case 6:
                    {
                        // Write-protect a present page, then flush it (mprotect-like).
                        var leaf = ReadLeaf(p, va);
                        if (!leaf.IsPresent) break;
                        kernel.AddressSpaces.UpdatePageFlags(p, va, leaf.Flags & ~(PageFlags.Writable | PageFlags.Present));
                        kernel.AddressSpaces.FlushTlbPage(p, va, cpu);
                        break;
                    }
                    case 7:
                    {
                        // Move the page to a fresh frame (migration-like), then flush it.
                        var leaf = ReadLeaf(p, va);
                        if (!leaf.IsPresent || leaf.Frame == 0 || !kernel.Reclaim.AllocateUserFrame(cpu, out ulong frame)) break;
                        Assert.True(kernel.AddressSpaces.MapPage(p, va, frame, leaf.Flags & ~PageFlags.Present, cpu));
                        kernel.AddressSpaces.FlushTlbPage(p, va, cpu);
                        break;
                    }
                    case 8:
                    {
                        // Write-protect a run of pages and flush it as one range (per page or whole, by size).
                        int first = rng.Next(12), count = 1 + rng.Next(12 - first);
                        for (int i = first; i < first + count; i++)
                        {
                            var leaf = ReadLeaf(p, Page(i));
                            if (leaf.IsPresent) kernel.AddressSpaces.UpdatePageFlags(p, Page(i), leaf.Flags & ~(PageFlags.Writable | PageFlags.Present));
                        }
                        if (rng.Next(2) == 0) kernel.AddressSpaces.FlushTlbRange(p, Page(first), Page(first + count), cpu);
                        else kernel.AddressSpaces.FlushTlbMm(p, cpu);
                        break;
                    }
                    default:
                        machine.Cpus[cpu].SwitchTo(p);
                        break;
                }
            }
            Assert.True(machine.Metrics["tlb.hits"] > 0);
        }
    }
}
