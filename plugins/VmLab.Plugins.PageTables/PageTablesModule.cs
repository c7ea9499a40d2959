using VmLab.Abstractions.Plugins;
using VmLab.Plugins.PageTables;

[assembly: VmLabPlugin(typeof(PageTablesModule))]

namespace VmLab.Plugins.PageTables;

public sealed class PageTablesModule : IPluginModule
{
    public void Register(IPluginRegistry registry)
    {
        registry.AddPageTable<X86_64PageTable, X86_64Options>(
            "x86-64",
            "x86-64 4-level (48-bit) or 5-level (57-bit) radix tables with 4 KiB, 2 MiB and 1 GiB pages, walked in simulated memory.",
            c => new X86_64PageTable(new X86_64Tables(c.Options.Levels, c.Memory, c.Frames, c.Metrics)));
    }
}
