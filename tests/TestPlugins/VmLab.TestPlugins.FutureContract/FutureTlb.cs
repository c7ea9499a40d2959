using VmLab.Abstractions;
using VmLab.Abstractions.Plugins;
using VmLab.Abstractions.Tlb;

[assembly: VmLabPlugin(typeof(VmLab.TestPlugins.FutureContract.Module))]

namespace VmLab.TestPlugins.FutureContract;

/// <summary>A TLB that caches nothing, built against a contract version the host does not offer.</summary>
public sealed class FutureTlb : ITlb
{
    public bool TryLookup(ulong vaddr, ushort asid, AccessKind kind, out TlbEntry entry)
    {
        entry = default;
        return false;
    }

    public void Insert(ulong vaddr, ushort asid, AccessKind kind, in TlbEntry entry) { }
    public void Invalidate(ulong vaddr, ushort asid) { }
    public void InvalidateAsid(ushort asid) { }
    public void InvalidateAll(bool keepGlobal) { }
}

public sealed class Module : IPluginModule
{
    public void Register(IPluginRegistry registry) =>
        registry.AddTlb<FutureTlb, NoOptions>("future-tlb", "A TLB built against VmLab.Abstractions 2 (test plugin).", _ => new FutureTlb());
}
