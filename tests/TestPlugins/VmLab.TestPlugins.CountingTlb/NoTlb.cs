using System.ComponentModel;
using VmLab.Abstractions;
using VmLab.Abstractions.Plugins;
using VmLab.Abstractions.Tlb;

[assembly: VmLabPlugin(typeof(VmLab.TestPlugins.CountingTlb.Module))]

namespace VmLab.TestPlugins.CountingTlb;

public sealed record NoTlbOptions
{
    [Description("Name of the counter bumped on every lookup.")]
    public string Counter { get; init; } = "test.lookups";
}

/// <summary>A TLB that never holds anything (every access walks), as a class: the quick prototype path.</summary>
public sealed class NoTlb(Counter lookups) : ITlb
{
    public bool TryLookup(ulong vaddr, ushort asid, AccessKind kind, out TlbEntry entry)
    {
        lookups.Value++;
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
        registry.AddTlb<NoTlb, NoTlbOptions>("no-tlb", "A TLB that caches nothing (test plugin).", c => new NoTlb(c.Metrics.Counter(c.Options.Counter)));
}
