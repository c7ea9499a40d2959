using VmLab.Abstractions.Plugins;
using VmLab.Plugins.Faults;

[assembly: VmLabPlugin(typeof(FaultsModule))]

namespace VmLab.Plugins.Faults;

public sealed class FaultsModule : IPluginModule
{
    public void Register(IPluginRegistry registry)
    {
        registry.AddFaultHandler<DemandZeroHandler, DemandZeroOptions>(
            "demand-zero",
            "First touch of anonymous memory: the zero page on a read, a zeroed frame on a write.",
            c => new DemandZeroHandler(c.Options, c.Metrics));
        registry.AddFaultHandler<CowHandler, NoOptions>(
            "cow",
            "Copy-on-write: reuse the page when it has one reference, else copy it; the zero page becomes a fresh zeroed frame.",
            c => new CowHandler(c.Options, c.Metrics));
        registry.AddFaultHandler<StackGrowthHandler, StackGrowthOptions>(
            "stack-growth",
            "Grows a grows-down (stack) VMA on a fault below it, keeping the guard gap and RLIMIT_STACK.",
            c => new StackGrowthHandler(c.Options, c.Metrics));
        registry.AddFaultHandler<VmallocSyncHandler, NoOptions>(
            "vmalloc-sync",
            "Kernel faults in the vmalloc range: copy the top-level entry from the reference kernel table (x86-32 lazy sync).",
            c => new VmallocSyncHandler(c.Options, c.Metrics));
        registry.AddFaultHandler<FileHandler, NoOptions>(
            "file",
            "File mappings through the page cache: major fault on first read from the file, SIGBUS past the last page.",
            c => new FileHandler(c.Options, c.Metrics));
    }
}
