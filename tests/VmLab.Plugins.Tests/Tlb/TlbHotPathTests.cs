using VmLab.Abstractions;
using VmLab.Abstractions.Tlb;
using VmLab.Core;
using VmLab.Plugins.Tlb;

namespace VmLab.Plugins.Tests.Tlb;

/// <summary>The translation path over each TLB organisation allocates nothing once the pages are mapped.</summary>
public sealed class TlbHotPathTests
{
    public static TheoryData<string> Organisations => ["fully-associative", "set-associative", "direct-mapped", "hierarchy"];

    private static ITlb Make(string organisation, MetricRegistry metrics) => organisation switch
    {
        "fully-associative" => new FullyAssociativeTlb(new FullyAssociativeTlbState(new FullyAssociativeTlbOptions { Entries = 64, Policy = FullyAssociativePolicy.Plru })),
        "set-associative" => TlbModule.CreateSetAssociative(new SetAssociativeTlbOptions { Entries = 64, Ways = 4, Policy = TlbPolicy.Srrip }, 1),
        "direct-mapped" => TlbModule.CreateSetAssociative(new SetAssociativeTlbOptions { Entries = 64, Ways = 1 }, 1),
        _ => new HierarchicalTlb<VmLab.Plugins.Tlb.Policies.LruPolicy>(
            new TlbHierarchy<VmLab.Plugins.Tlb.Policies.LruPolicy>(new HierarchicalTlbOptions(), 1, metrics)),
    };

    [Theory]
    [MemberData(nameof(Organisations))]
    public void HitsAllocateNothing(string organisation)
    {
        var machine = TestMachine.Create(1, _ => Make(organisation, new MetricRegistry()), checkTlb: false);
        var batch = new MemoryAccess[4096];
        for (int i = 0; i < batch.Length; i++)
        {
            ulong va = 0x40_0000 + (ulong)(i % 32) * 4096 + (ulong)(i % 512);
            batch[i] = (i % 3) switch { 0 => MemoryAccess.Fetch(va), 1 => MemoryAccess.Read(va), _ => MemoryAccess.Write(va) };
        }
        machine.Execute(batch); // maps the 32 pages and warms the TLB
        long hitsBefore = machine.Metrics["tlb.hits"];
        // The fewest bytes of three measurements: a one-off allocation of the runtime's own (a JIT tier-up on a loaded
        // machine) is not the hit path's; an allocation per hit would show in every one.
        long allocated = long.MaxValue;
        for (int attempt = 0; attempt < 3; attempt++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int round = 0; round < 10; round++) machine.Execute(batch);
            allocated = Math.Min(allocated, GC.GetAllocatedBytesForCurrentThread() - before);
        }
        Assert.Equal(0, allocated);
        Assert.Equal(30L * batch.Length, machine.Metrics["tlb.hits"] - hitsBefore);
    }
}
