using System.Text.Json.Nodes;
using VmLab.Cli.Calibrate;

namespace VmLab.Cli.Tests.Calibrate;

/// <summary>How the profile's cycle costs follow from the microbenchmarks' nanoseconds (docs/calibrate.md).</summary>
public sealed class ProfileDerivationTests
{
    private static readonly HostDescription Host = new("Test CPU", "6.18", 2, 2.5);
    private static readonly CalibrationSettings Settings = CalibrationSettings.For(quick: true, repeat: null);

    /// <summary>A complete set of figures at a 2 GHz clock (ns).</summary>
    private static Dictionary<string, double> Figures() => new(StringComparer.Ordinal)
    {
        ["clock_ghz"] = 2, ["syscall_ns"] = 100,
        ["write_touch_ns"] = 1500, ["populate_write_ns"] = 1000, ["read_touch_ns"] = 900, ["populate_read_ns"] = 400,
        ["cow_copy_touch_ns"] = 2500, ["cow_reuse_touch_ns"] = 700,
        ["fork_big_ns"] = 100_000, ["fork_small_ns"] = 60_000, ["fork_big_pagetable_pages"] = 8,
        ["signal_deliver_ns"] = 1700, ["signal_return_ns"] = 600, ["signal_raise_ns"] = 600, ["signal_raise_return_ns"] = 400,
        // bench_flush_kinds: mprotect per page 8 ns read-only and 12 ns back above the flush ceiling (64 and 512 pages);
        // an invlpg 300 ns for a page made read-only, 100 ns for one made writable (1 and 8 pages); munmap 20 ns per page.
        ["mprotect_ro_1_ns"] = 1000, ["mprotect_ro_8_ns"] = 1000 + 7 * (8 + 300), ["mprotect_ro_64_ns"] = 1630, ["mprotect_ro_512_ns"] = 1630 + 448 * 8,
        ["mprotect_rw_1_ns"] = 800, ["mprotect_rw_8_ns"] = 800 + 7 * (12 + 100), ["mprotect_rw_64_ns"] = 1500, ["mprotect_rw_512_ns"] = 1500 + 448 * 12,
        ["munmap_1_ns"] = 2000, ["munmap_8_ns"] = 2000 + 7 * (20 + 200), ["munmap_64_ns"] = 3260, ["munmap_512_ns"] = 3260 + 448 * 20,
        // bench_unmap_protect: the split and merge, munmap after madvise(DONTNEED) (given in sources only).
        ["span_pages"] = 64, ["mprotect_span_ns"] = 1630, ["mprotect_one_ns"] = 1000, ["mprotect_split_ns"] = 1600, ["mprotect_merge_ns"] = 1400,
        ["munmap_span_ns"] = 3100, ["munmap_one_ns"] = 2000, ["dontneed_span_ns"] = 3000, ["dontneed_refault_ns"] = 1500,
        ["munmap_alone_ns"] = 2000, ["munmap_shootdown_ns"] = 3200, ["shootdown_targets"] = 1,
        ["stack_touch_ns"] = 1700, ["file_fault_ns"] = 800, ["pageout_ns"] = 300,
        ["chase_l1_ns"] = 2, ["chase_l2tlb_ns"] = 5, ["chase_walk_4k_ns"] = 30, ["chase_walk_2m_ns"] = 20, ["chase_walk_huge_fraction"] = 1,
        ["chase_dram_4k_ns"] = 120, ["chase_dram_2m_ns"] = 90, ["chase_dram_huge_fraction"] = 1,
    };

    private static JsonObject Cycles(Dictionary<string, double> figures) =>
        ProfileDerivation.Derive(figures, Host, Settings, "1.0", new DateTime(2026, 12, 6, 8, 0, 0, DateTimeKind.Utc))["cycles"]!.AsObject();

    [Fact]
    public void EachCostIsItsBenchmarksNanosecondsLessWhatOtherCostsExplainTimesTheClock()
    {
        var c = Cycles(Figures());
        double C(string k) => c[k]!.GetValue<double>();
        Assert.Equal([4.0, 10.0], c["tlbHit"]!.AsArray().Select(n => n!.GetValue<double>()));
        Assert.Equal(20, C("walkCacheHit"));        // (30 - 20) ns
        Assert.Equal(180, C("memoryAccess"));       // the 2 MiB chase
        Assert.Equal(1000, C("faultEntryExit"));    // 1500 - 1000
        Assert.Equal(2000, C("demandZero"));
        Assert.Equal(800, C("zeroPageMap"));
        Assert.Equal(3400, C("cowCopy"));           // 2500 - 500 - the one-page flush (tlbFlush 100 ns + tlbFlushPage 200 ns)
        Assert.Equal(400, C("cowReuse"));           // 700 - 500
        Assert.Equal(2000, C("swapIn"));            // estimated as demandZero
        Assert.Equal(600, C("fileCacheHit"));       // 800 - 500
        Assert.Equal(600 + 80_000 * 2, C("fileRead"));
        Assert.Equal(400, C("stackGrowth"));        // 1700 - 1500
        Assert.Equal(1000, C("signalDelivery"));    // tgkill to the handler 600 - the call's entry/exit 100
        Assert.Equal(1200, C("sigreturn"));
        Assert.Equal(20, C("pageProtected"));       // the mean of 8 and 12 ns per page
        Assert.Equal(1200, C("vmaChange"));         // the split 1600 - the whole one-page VMA's 1000
        Assert.Equal(200, C("tlbFlush"));           // not measured: the default
        Assert.Equal(400, C("tlbFlushPage"));       // the mean of 308 and 112 ns per page flushed by itself, less pageProtected's 10
        Assert.Equal(40, C("pageUnmapped"));        // 20 ns per page
        Assert.Equal(200, C("syscallEntryExit"));
        Assert.Equal(10_000, C("pageTablePageCopied")); // 40 µs over 8 pages
        Assert.Equal(2400, C("shootdownIpi"));      // 1200 ns, one target
        Assert.Equal(50, C("reclaimScan"));         // not measured: the default
        Assert.Equal(600, C("reclaimEvict"));
    }

    [Fact]
    public void ABenchmarkTheHostCouldNotRunGivesADefaultMarkedNotMeasured()
    {
        var figures = Figures();
        figures.Remove("munmap_shootdown_ns");
        figures.Remove("munmap_alone_ns");
        figures.Remove("pageout_ns");
        var profile = ProfileDerivation.Derive(figures, Host, Settings, "1.0", DateTime.UnixEpoch);
        Assert.Equal(3000, profile["cycles"]!["shootdownIpi"]!.GetValue<double>());
        Assert.Equal(400, profile["cycles"]!["reclaimEvict"]!.GetValue<double>());
        var sources = profile["sources"]!.AsArray().Select(n => n!.GetValue<string>()).ToList();
        Assert.Contains(sources, s => s.StartsWith("shootdownIpi: not measured (it needs a second CPU", StringComparison.Ordinal));
        Assert.Contains(sources, s => s.StartsWith("reclaimEvict: not measured", StringComparison.Ordinal));
        Assert.Contains(sources, s => s.StartsWith("tlbFlush: not measured", StringComparison.Ordinal));
    }

    [Fact]
    public void ADifferenceBelowZeroIsZeroAndSaysSo()
    {
        var figures = Figures();
        figures["stack_touch_ns"] = 1400; // 100 ns faster than a plain first touch: noise
        var profile = ProfileDerivation.Derive(figures, Host, Settings, "1.0", DateTime.UnixEpoch);
        Assert.Equal(0, profile["cycles"]!["stackGrowth"]!.GetValue<double>());
        Assert.Contains(profile["sources"]!.AsArray(), s => s!.GetValue<string>().StartsWith("stackGrowth:", StringComparison.Ordinal)
                                                           && s.GetValue<string>().EndsWith("= -100 ns, below 0 within noise: 0", StringComparison.Ordinal));
    }

    [Fact]
    public void WithoutAMeasuredClockTheCpuinfoClockIsUsedAndNamed()
    {
        var figures = Figures();
        figures.Remove("clock_ghz");
        var profile = ProfileDerivation.Derive(figures, Host, Settings, "1.0", DateTime.UnixEpoch);
        Assert.Equal(2.5, profile["clockGHz"]!.GetValue<double>());
        Assert.Equal(250, profile["cycles"]!["syscallEntryExit"]!.GetValue<double>());
        Assert.Contains(profile["sources"]!.AsArray(), s => s!.GetValue<string>().StartsWith("clockGHz: 2.5 GHz from /proc/cpuinfo", StringComparison.Ordinal));
    }

    [Fact]
    public void TheFlushAndProtectionCostsFollowTheDocumentedFormulaForAnyFigures()
    {
        // Figures unlike the fixed set (no round numbers), the expected keys computed here by docs/calibrate.md's formulas.
        var f = Figures();
        f["clock_ghz"] = 3.1;
        f["mprotect_ro_1_ns"] = 19_210; f["mprotect_rw_1_ns"] = 4_630; f["mprotect_ro_8_ns"] = 139_870; f["mprotect_rw_8_ns"] = 23_590;
        f["mprotect_ro_64_ns"] = 44_800; f["mprotect_rw_64_ns"] = 40_900; f["mprotect_ro_512_ns"] = 137_000; f["mprotect_rw_512_ns"] = 483_100;
        f["munmap_64_ns"] = 53_400; f["munmap_512_ns"] = 251_900; f["cow_copy_touch_ns"] = 31_500; f["write_touch_ns"] = 11_700;
        f["populate_write_ns"] = 830; f["signal_raise_ns"] = 1_940; f["syscall_ns"] = 990;
        var c = Cycles(f);
        double clock = f["clock_ghz"], spanPages = ProfileDerivation.SpanPages, bigPages = ProfileDerivation.BigPages, pagedPages = ProfileDerivation.PagedPages;
        Assert.Equal((8, 64, 512), (ProfileDerivation.PagedPages, ProfileDerivation.SpanPages, ProfileDerivation.BigPages)); // calibrate.c's sizes
        double pageProtected = ((f["mprotect_ro_512_ns"] - f["mprotect_ro_64_ns"]) / (bigPages - spanPages)
                                + (f["mprotect_rw_512_ns"] - f["mprotect_rw_64_ns"]) / (bigPages - spanPages)) / 2;
        double flushPage = ((f["mprotect_ro_8_ns"] - f["mprotect_ro_1_ns"]) / (pagedPages - 1)
                            + (f["mprotect_rw_8_ns"] - f["mprotect_rw_1_ns"]) / (pagedPages - 1)) / 2 - pageProtected;
        double entry = f["write_touch_ns"] - f["populate_write_ns"];
        double cowCopy = f["cow_copy_touch_ns"] - entry - (ProfileDerivation.TlbFlushCycles / clock + flushPage);
        Assert.Equal(Math.Round(pageProtected * clock, 1), c["pageProtected"]!.GetValue<double>());
        Assert.Equal(Math.Round(flushPage * clock, 1), c["tlbFlushPage"]!.GetValue<double>());
        Assert.Equal(Math.Round((f["munmap_512_ns"] - f["munmap_64_ns"]) / (bigPages - spanPages) * clock, 1), c["pageUnmapped"]!.GetValue<double>());
        Assert.Equal(Math.Round(cowCopy * clock, 1), c["cowCopy"]!.GetValue<double>());
        Assert.Equal(Math.Round((f["signal_raise_ns"] - f["syscall_ns"]) * clock, 1), c["signalDelivery"]!.GetValue<double>());
        Assert.True(c["tlbFlushPage"]!.GetValue<double>() > 10 * c["pageProtected"]!.GetValue<double>(), "these figures make an invalidation dominate");
    }

    [Fact]
    public void AFigureEveryProfileNeedsMissingFailsNamingIt()
    {
        var figures = Figures();
        figures.Remove("cow_copy_touch_ns");
        var e = Assert.Throws<InvalidOperationException>(() => ProfileDerivation.Derive(figures, Host, Settings, "1.0", DateTime.UnixEpoch));
        Assert.Equal("the microbenchmarks reported no 'cow_copy_touch_ns'", e.Message);
    }
}
