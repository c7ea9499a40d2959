using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
using VmLab.Abstractions;
using VmLab.Abstractions.Cache;
using VmLab.Abstractions.Plugins;
using VmLab.Abstractions.Timing;

namespace VmLab.Plugins.Timing;

/// <summary>
/// The analytic model's options: the profile, and any single cost of it replaced. A cost left out keeps the profile's.
/// </summary>
public sealed record AnalyticTimingOptions : IValidatableObject
{
    private const double Max = 1e12;

    [Description("The timing profile (JSON; docs/timing.md): cycles per event, clock, swap device, sources. Relative to the config file's folder; shipped ones are in configs/timing/.")]
    [Required]
    [ExistingFile]
    public string Profile { get; init; } = "";

    [Description("Replaces the profile's clock (GHz) that turns cycles into time.seconds.")]
    [Range(0.001, 1000.0)]
    public double? ClockGHz { get; init; }

    [Description("Replaces the profile's swap device by a preset: zram (2/3 µs per page read/written), ssd (80/100 µs) or hdd (8000/8000 µs).")]
    public string? SwapDevice { get; init; }

    [Description("Replaces the cycles of a TLB hit per level, L1 first (a level past the list costs the last value).")]
    public double[]? TlbHit { get; init; }

    [Description("Cycles of a walk reference served by a page-walk (paging-structure) cache.")] [Range(0.0, Max)] public double? WalkCacheHit { get; init; }
    [Description("Cycles of a walk reference (or routed data access) no cache level held: DRAM.")] [Range(0.0, Max)] public double? MemoryAccess { get; init; }
    [Description("Cycles of exception entry and exit, once per page-fault exception (faults.total).")] [Range(0.0, Max)] public double? FaultEntryExit { get; init; }
    [Description("Cycles of a demand-zero fault beyond entry/exit: allocate, zero 4 KiB, map.")] [Range(0.0, Max)] public double? DemandZero { get; init; }
    [Description("Cycles of mapping the shared zero page on a read fault, beyond entry/exit.")] [Range(0.0, Max)] public double? ZeroPageMap { get; init; }
    [Description("Cycles of a COW copy beyond entry/exit: allocate and copy 4 KiB.")] [Range(0.0, Max)] public double? CowCopy { get; init; }
    [Description("Cycles of a COW reuse beyond entry/exit: make an exclusively owned page writable.")] [Range(0.0, Max)] public double? CowReuse { get; init; }
    [Description("Cycles of a swap-in's kernel work beyond entry/exit, without the device's latency.")] [Range(0.0, Max)] public double? SwapIn { get; init; }
    [Description("Cycles of mapping a file page found in the page cache (minor file fault).")] [Range(0.0, Max)] public double? FileCacheHit { get; init; }
    [Description("Cycles of a file page read from its file (major file fault), device included.")] [Range(0.0, Max)] public double? FileRead { get; init; }
    [Description("Cycles of growing the stack VMA, on top of the demand-zero it includes.")] [Range(0.0, Max)] public double? StackGrowth { get; init; }
    [Description("Cycles of building a signal frame and entering the handler.")] [Range(0.0, Max)] public double? SignalDelivery { get; init; }
    [Description("Cycles of rt_sigreturn back to the interrupted code.")] [Range(0.0, Max)] public double? Sigreturn { get; init; }
    [Description("Cycles of a local TLB flush's fixed part (one page, a range or all); each page invalidated by itself adds tlbFlushPage.")] [Range(0.0, Max)] public double? TlbFlush { get; init; }
    [Description("Cycles per page a page-granular flush invalidated on its CPU (x86 invlpg, one per page up to 33 pages; tlb.flushed_pages), on top of tlbFlush.")] [Range(0.0, Max)] public double? TlbFlushPage { get; init; }
    [Description("Cycles per target CPU of a TLB shootdown IPI.")] [Range(0.0, Max)] public double? ShootdownIpi { get; init; }
    [Description("Cycles of a system call's entry and exit.")] [Range(0.0, Max)] public double? SyscallEntryExit { get; init; }
    [Description("Cycles per page of page tables fork copied.")] [Range(0.0, Max)] public double? PageTablePageCopied { get; init; }
    [Description("Cycles per page munmap, madvise(DONTNEED), mremap or brk unmapped.")] [Range(0.0, Max)] public double? PageUnmapped { get; init; }
    [Description("Cycles per page-table page freed after an unmap because no VMA can use it any more (Linux free_pgtables; pagetable.pages_freed).")] [Range(0.0, Max)] public double? PageTableFreed { get; init; }
    [Description("Cycles per page whose protection mprotect changed.")] [Range(0.0, Max)] public double? PageProtected { get; init; }
    [Description("Cycles of the VMA work (split, merge, create, remove) of a system call that changed VMAs, once per call (syscalls.vma_changes).")] [Range(0.0, Max)] public double? VmaChange { get; init; }
    [Description("Cycles per page reclaim scanned (an Accessed-bit test).")] [Range(0.0, Max)] public double? ReclaimScan { get; init; }
    [Description("Cycles per page reclaim evicted, without the swap device's write.")] [Range(0.0, Max)] public double? ReclaimEvict { get; init; }

    /// <summary>The costs given here, by profile key.</summary>
    public IReadOnlyDictionary<string, double> Overrides()
    {
        var o = new Dictionary<string, double>(StringComparer.Ordinal);
        void Add(string key, double? v)
        {
            if (v is { } d) o[key] = d;
        }
        Add("walkCacheHit", WalkCacheHit);
        Add("memoryAccess", MemoryAccess);
        Add("faultEntryExit", FaultEntryExit);
        Add("demandZero", DemandZero);
        Add("zeroPageMap", ZeroPageMap);
        Add("cowCopy", CowCopy);
        Add("cowReuse", CowReuse);
        Add("swapIn", SwapIn);
        Add("fileCacheHit", FileCacheHit);
        Add("fileRead", FileRead);
        Add("stackGrowth", StackGrowth);
        Add("signalDelivery", SignalDelivery);
        Add("sigreturn", Sigreturn);
        Add("tlbFlush", TlbFlush);
        Add("tlbFlushPage", TlbFlushPage);
        Add("shootdownIpi", ShootdownIpi);
        Add("syscallEntryExit", SyscallEntryExit);
        Add("pageTablePageCopied", PageTablePageCopied);
        Add("pageUnmapped", PageUnmapped);
        Add("pageTableFreed", PageTableFreed);
        Add("pageProtected", PageProtected);
        Add("vmaChange", VmaChange);
        Add("reclaimScan", ReclaimScan);
        Add("reclaimEvict", ReclaimEvict);
        return o;
    }

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (SwapDevice is not null && !SwapDeviceProfile.Presets.ContainsKey(SwapDevice))
            yield return new ValidationResult($"unknown swap device '{SwapDevice}'; allowed: {string.Join(", ", SwapDeviceProfile.Presets.Keys)}", [nameof(SwapDevice)]);
        if (TlbHit is { } t)
        {
            if (t.Length == 0) yield return new ValidationResult("expected at least one level's cycles, L1 first (e.g. [1, 7])", [nameof(TlbHit)]);
            for (int i = 0; i < t.Length; i++)
                if (!(t[i] >= 0 && t[i] <= Max)) yield return new ValidationResult($"level {i + 1} is {t[i]}; allowed: 0 to {Max}", [nameof(TlbHit)]);
        }
    }
}

/// <summary>
/// The analytic timing model (docs/timing.md): every counted event costs the profile's cycles for it; the run's time
/// is the sum, split by cause. Linear in the counts, so it is exact, deterministic and costs nothing while the run goes.
/// </summary>
public sealed class AnalyticTimingModel(TimingProfile profile, ICacheHierarchy? cache) : ITimingModel
{
    public TimingProfile Profile => profile;

    /// <summary>Builds the model for a component: loads the profile, applies the options' replacements.</summary>
    public static AnalyticTimingModel Create(ComponentContext<AnalyticTimingOptions> c)
    {
        string path = c.ResolvePath(c.Options.Profile);
        TimingProfile profile;
        try
        {
            profile = TimingProfile.Load(path);
        }
        catch (TimingProfileException e)
        {
            throw new VmLabInputException($"{c.KeyPath}:options:profile", $"{e.Message} (a profile's keys: docs/timing.md)");
        }
        profile = profile.With(c.Options.Overrides(), c.Options.TlbHit, c.Options.ClockGHz, c.Options.SwapDevice);
        return new AnalyticTimingModel(profile, c.Services.GetService(typeof(ICacheHierarchy)) as ICacheHierarchy);
    }

    public IReadOnlyDictionary<string, long> Estimate(IReadOnlyDictionary<string, long> m)
    {
        double Count(string name) => m.TryGetValue(name, out long v) ? v : 0;
        double Cost(string key) => profile[key];

        // Translation: TLB lookups by the level that hit (a miss pays the last level's lookup), page-walk cache hits,
        // and each entry the walker read, at the latency of the cache level that held it or of memory.
        double translation = 0;
        int lastLevel = 1;
        bool perLevel = false;
        foreach (var (name, value) in m)
        {
            if (!name.StartsWith("tlb.l", StringComparison.Ordinal) || !name.EndsWith(".hits", StringComparison.Ordinal)) continue;
            int level = TlbLevel(name);
            if (level == 0) continue;
            perLevel = true;
            lastLevel = Math.Max(lastLevel, level);
            translation += value * profile.TlbHitAt(level);
        }
        if (!perLevel) translation += Count(MetricNames.TlbHits) * profile.TlbHitAt(1);
        translation += Count(MetricNames.TlbMisses) * profile.TlbHitAt(lastLevel);
        translation += Count(MetricNames.PwcHits) * Cost("walkCacheHit");
        translation += cache is null ? Count(MetricNames.WalkMemrefs) * Cost("memoryAccess") : Through(cache, "walk", m);
        double data = cache is { SeesData: true } ? Through(cache, "data", m) : 0;

        double faults = Count(MetricNames.FaultsTotal) * Cost("faultEntryExit")
            + Count(MetricNames.FaultsDemandZero) * Cost("demandZero")
            + Count(MetricNames.FaultsZeroPage) * Cost("zeroPageMap")
            + Count(MetricNames.FaultsCowCopy) * Cost("cowCopy")
            + Count(MetricNames.FaultsCowReuse) * Cost("cowReuse")
            + Count(MetricNames.FaultsSwapIn) * Cost("swapIn")
            + Count(MetricNames.SwapIns) * profile.SwapReadCycles
            + (Count(MetricNames.FaultsFile) - Count(MetricNames.FaultsFileMajor)) * Cost("fileCacheHit")
            + Count(MetricNames.FaultsFileMajor) * Cost("fileRead")
            + Count(MetricNames.FaultsStackGrowth) * (Cost("stackGrowth") + Cost("demandZero"));

        double signals = Count(MetricNames.SignalsDelivered) * Cost("signalDelivery")
            + Count(MetricNames.SignalsSigreturns) * Cost("sigreturn");

        double syscalls = Count(MetricNames.SyscallsTotal) * Cost("syscallEntryExit")
            + Count(MetricNames.SyscallsPageTablePagesCopied) * Cost("pageTablePageCopied")
            + Count(MetricNames.SyscallsPagesUnmapped) * Cost("pageUnmapped")
            + Count(MetricNames.PageTablePagesFreed) * Cost("pageTableFreed")
            + Count(MetricNames.SyscallsPagesProtected) * Cost("pageProtected")
            + Count(MetricNames.SyscallsVmaChanges) * Cost("vmaChange")
            + Count(MetricNames.TlbFlushes) * Cost("tlbFlush")
            + Count(MetricNames.TlbFlushedPages) * Cost("tlbFlushPage")
            + Count(MetricNames.TlbShootdowns) * Cost("shootdownIpi");

        double reclaim = Count(MetricNames.ReclaimScanned) * Cost("reclaimScan")
            + (Count(MetricNames.ReclaimDirect) + Count(MetricNames.ReclaimKswapd)) * Cost("reclaimEvict")
            + Count(MetricNames.SwapOuts) * profile.SwapWriteCycles;

        var result = new SortedDictionary<string, long>(StringComparer.Ordinal)
        {
            [TimeMetrics.Translation] = Round(translation),
            [TimeMetrics.Faults] = Round(faults),
            [TimeMetrics.Signals] = Round(signals),
            [TimeMetrics.Syscalls] = Round(syscalls),
            [TimeMetrics.Reclaim] = Round(reclaim),
        };
        if (cache is { SeesData: true }) result[TimeMetrics.Data] = Round(data);
        long total = 0;
        foreach (var v in result.Values) total += v;
        result[TimeMetrics.Cycles] = total;
        result[TimeMetrics.ClockKhz] = Round(profile.ClockGHz * 1e6);
        return result;
    }

    /// <summary>The cycles of the references <paramref name="source"/> made to the hierarchy: each at its level's latency, or memory's.</summary>
    private double Through(ICacheHierarchy hierarchy, string source, IReadOnlyDictionary<string, long> m)
    {
        double cycles = 0;
        foreach (var level in hierarchy.Levels)
            if (m.TryGetValue($"cache.{source}.{level.Name}.hits", out long hits)) cycles += hits * level.LatencyCycles;
        if (m.TryGetValue($"cache.{source}.memory", out long memory)) cycles += memory * profile["memoryAccess"];
        return cycles;
    }

    /// <summary>The level of a per-level TLB counter (<c>tlb.l1d.hits</c> → 1, <c>tlb.l2.hits</c> → 2), 0 for any other name.</summary>
    private static int TlbLevel(string name)
    {
        // "tlb.l" then digits, then anything up to ".hits".
        int i = 5, level = 0;
        while (i < name.Length && char.IsAsciiDigit(name[i])) level = level * 10 + (name[i++] - '0');
        return i == 5 || name.IndexOf('.', i) != name.Length - 5 ? 0 : level;
    }

    private static long Round(double v) => (long)Math.Round(v, MidpointRounding.AwayFromZero);
}
