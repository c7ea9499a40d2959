using VmLab.Abstractions.Plugins;
using VmLab.Plugins.Tlb;

[assembly: VmLabPlugin(typeof(TlbModule))]

namespace VmLab.Plugins.Tlb;

public sealed class TlbModule : IPluginModule
{
    public void Register(IPluginRegistry registry)
    {
        registry.AddTlb<FullyAssociativeTlb, FullyAssociativeTlbOptions>(
            "fully-associative",
            "One fully-associative TLB of any size, LRU or FIFO, tagged by ASID, with global entries.",
            c => new FullyAssociativeTlb(new FullyAssociativeTlbState(c.Options)));
    }
}
