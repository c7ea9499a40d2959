using VmLab.Abstractions;
using VmLab.Plugins.Tests.Tlb;
using VmLab.Plugins.Tlb;

namespace VmLab.Plugins.Tests.PageTables;

/// <summary>The x86-64 format under the kernel model: what a fault the kernel resolves leaves in simulated memory.</summary>
public sealed class X86_64KernelEntryTests
{
    private const ulong Base = 0x5555_0000_0000;

    [Fact]
    public void WrittenPageHasTheExactX86Pte_PresentWritableUserAccessedDirty()
    {
        var (m, pageTable) = TestMachine.CreateWithPageTable(1, _ => new FullyAssociativeTlb(new FullyAssociativeTlbState(new FullyAssociativeTlbOptions { Entries = 64 })));
        m.Execute([MemoryAccess.Write(Base)]);
        var p = m.Kernel.FindProcess(0)!;
        var leaf = pageTable.Read(p.PageTableRoot, Base);
        // Walk the four levels by hand from CR3 to find the raw PTE word in simulated memory.
        ulong table = p.PageTableRoot;
        for (int level = 4; level > 1; level--)
        {
            ulong e = m.Memory.Read64(table + ((Base >> (12 + 9 * (level - 1))) & 511) * 8);
            Assert.Equal(0x67UL, e & 0xFFF); // _PAGE_TABLE: P|RW|US|A|D
            table = e & 0x000F_FFFF_FFFF_F000UL;
        }
        ulong pte = m.Memory.Read64(table + ((Base >> 12) & 511) * 8);
        Assert.Equal((leaf.Frame << 12) | 0x67UL, pte);
    }
}
