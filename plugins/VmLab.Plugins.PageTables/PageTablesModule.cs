using VmLab.Abstractions.Cache;
using VmLab.Abstractions.Plugins;
using VmLab.Plugins.PageTables;

[assembly: VmLabPlugin(typeof(PageTablesModule))]

namespace VmLab.Plugins.PageTables;

public sealed class PageTablesModule : IPluginModule
{
    public void Register(IPluginRegistry registry)
    {
        registry.AddPageTable<RadixPageTable<X86_64Format>, X86_64Options>(
            "x86-64",
            "x86-64 4-level (48-bit) or 5-level (57-bit) radix tables with 4 KiB, 2 MiB and 1 GiB pages, walked in simulated memory.",
            c => new(new X86_64Format(c.Options.Levels), c.Memory, c.Frames, c.Metrics, c.Options.PwcEntries, Cache(c)));
        registry.AddPageTable<RadixPageTable<X86_32Format>, X86_32Options>(
            "x86-32",
            "32-bit x86 without PAE: 2 levels (10/10/12) of 4-byte entries, 4 KiB and 4 MiB PSE pages, no NX; user space below 3 GiB.",
            c => new(new X86_32Format(), c.Memory, c.Frames, c.Metrics, c.Options.PwcEntries, Cache(c)));
        registry.AddPageTable<RadixPageTable<X86PaeFormat>, X86PaeOptions>(
            "x86-32-pae",
            "32-bit x86 PAE: 3 levels (2/9/9/12) of 8-byte entries, 4 KiB and 2 MiB pages, NX; user space below 3 GiB.",
            c => new(new X86PaeFormat(), c.Memory, c.Frames, c.Metrics, c.Options.PwcEntries, Cache(c)));
        registry.AddPageTable<RadixPageTable<Arm64Format>, Arm64Options>(
            "arm64",
            "AArch64 4 KiB granule, 4 levels, 48-bit, TTBR0 user / TTBR1 kernel split, AP/UXN/PXN, hardware or software access flag and dirty state, 2 MiB and 1 GiB blocks.",
            c => new(new Arm64Format(c.Options), c.Memory, c.Frames, c.Metrics, c.Options.PwcEntries, Cache(c)));
        registry.AddPageTable<RadixPageTable<RiscVFormat>, RiscVOptions>(
            "riscv",
            "RISC-V Sv39/Sv48/Sv57, hardware (Svadu) or software (Svade) A/D bits, mega/giga/tera pages.",
            c => new(new RiscVFormat(c.Options), c.Memory, c.Frames, c.Metrics, c.Options.PwcEntries, Cache(c)));
        registry.AddPageTable<HashedPageTable, HashedOptions>(
            "hashed",
            "PowerPC-style hashed page table: VSID hash selects a group of 8 HPTEs, secondary hash, table doubles on overflow; memory references per slot probed; 4 KiB pages.",
            c => new HashedPageTable(new HashedTables(c.Options, c.Memory, c.Frames, c.Metrics)));
    }

    /// <summary>The machine's cache hierarchy (<c>machine:cache</c>) the walker's references go through, or null when none is configured.</summary>
    private static ICacheHierarchy? Cache(ComponentContext c) => c.Services.GetService(typeof(ICacheHierarchy)) as ICacheHierarchy;
}
