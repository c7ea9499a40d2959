using VmLab.Abstractions.Plugins;
using VmLab.Host.Config;
using VmLab.Host.Plugins;
using VmLab.Host.Running;

namespace VmLab.Plugins.Tests.Timing;

/// <summary>
/// The analytic model run through the host from JSON on scripted scenarios: every part of <c>time.cycles</c> is exactly
/// the profile's costs times the events the scenario makes, counted here from the script, not read back from the run.
/// The test profile's costs (<see cref="TimingProfileTests.ProfileJson"/>) are distinct, so a cost charged under the
/// wrong event shows.
/// </summary>
public sealed class AnalyticTimingModelTests : IDisposable
{
    private const long EntryExit = 800, DemandZero = 1201, CowCopy = 2003, CowReuse = 311, Delivery = 2503, Sigreturn = 1009;
    private const long Syscall = 151, Unmapped = 83, Protected = 41, Flush = 203, FlushPage = 17, Ipi = 3001, TablePage = 503, Memory = 211, WalkCache = 3, VmaChange = 47;

    private readonly string _dir = Path.Combine(Path.GetTempPath(), "vmlab-timing-" + Guid.NewGuid().ToString("N")[..12]);

    public AnalyticTimingModelTests()
    {
        Directory.CreateDirectory(_dir);
        File.WriteAllText(Path.Combine(_dir, "profile.json"), TimingProfileTests.ProfileJson());
    }

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private RunResult Run(string scenario, string machine = "", string timing = "\"timing\": { \"plugin\": \"analytic\", \"options\": { \"profile\": \"profile.json\" } }", params string[] overrides)
    {
        File.WriteAllText(Path.Combine(_dir, "s.vms"), scenario);
        string config = Path.Combine(_dir, "exp.json");
        File.WriteAllText(config, $$"""
            {
              "machine": {
                "pageTable": { "plugin": "x86-64" },
                "tlb": { "plugin": "fully-associative", "options": { "entries": 64 } },
                "faultHandlers": [ { "plugin": "cow" }, { "plugin": "demand-zero", "options": { "zeroPage": true } } ]
                {{(timing.Length > 0 ? "," + timing : "")}}{{(machine.Length > 0 ? "," + machine : "")}}
              },
              "workload": { "plugin": "scenario", "options": { "path": "s.vms" } }
            }
            """);
        var result = new ExperimentRunner().Run(new ExperimentLoader(PluginCatalog.CreateDefault()).Load(config, overrides));
        Assert.Equal(RunResult.Completed, result.Status);
        return result;
    }

    private static long M(RunResult r, string name) => r.Metrics.TryGetValue(name, out long v) ? v : 0;

    /// <summary>The syscall part: entry/exit per call plus the work and maintenance the run counted.</summary>
    private static long SyscallCycles(RunResult r, long calls, long vmaChanges, long unmapped = 0, long protectedPages = 0, long tablePages = 0) =>
        calls * Syscall + vmaChanges * VmaChange + unmapped * Unmapped + protectedPages * Protected + tablePages * TablePage
        + M(r, "tlb.flushes") * Flush + M(r, "tlb.flushed_pages") * FlushPage + M(r, "tlb.shootdowns") * Ipi;

    [Fact]
    public void TenDemandZeroFaultsCostTenTimesEntryExitPlusDemandZero()
    {
        var r = Run("process p\np mmap a 10p rw private\np write every page of a value 1\n");
        Assert.Equal(10, M(r, "faults.demand_zero"));
        Assert.Equal(10 * (EntryExit + DemandZero), M(r, "time.cycles.faults"));
        Assert.Equal(1, M(r, "syscalls.total")); // the mmap, which created a VMA
        Assert.Equal(SyscallCycles(r, calls: 1, vmaChanges: 1), M(r, "time.cycles.syscalls"));
        Assert.Equal(0, M(r, "time.cycles.signals"));
        Assert.Equal(0, M(r, "time.cycles.reclaim"));
    }

    [Fact]
    public void CopyOnWriteAfterForkChargesEachCopyAndEachReuseAndTheTablePagesForkCopied()
    {
        var r = Run("""
            process parent
            parent mmap a 4p rw private
            parent write every page of a value 5
            parent fork child
            child write every page of a value 6
            parent write every page of a value 7
            """);
        Assert.Equal(4, M(r, "faults.cow_copy"));  // the child copies: the parent still maps every page
        Assert.Equal(4, M(r, "faults.cow_reuse")); // then the parent holds the only reference
        Assert.Equal(12 * EntryExit + 4 * DemandZero + 4 * CowCopy + 4 * CowReuse, M(r, "time.cycles.faults"));
        // The child's tables for one small region: PML4, PDPT, PD and one PT.
        Assert.Equal(4, M(r, "syscalls.pagetable_pages_copied"));
        Assert.Equal(SyscallCycles(r, calls: 2, vmaChanges: 1, tablePages: 4), M(r, "time.cycles.syscalls"));
    }

    [Fact]
    public void ASignalHandlerRoundTripChargesOneDeliveryAndOneSigreturn()
    {
        var r = Run("""
            process p
            p mmap page 1p r private
            p read page
            p sigaction SIGSEGV handler mprotect page rw ; return
            p write page+8 0x5a
            expect p handled == 1
            """);
        Assert.Equal(1, M(r, "signals.delivered"));
        Assert.Equal(1, M(r, "signals.sigreturns"));
        Assert.Equal(Delivery + Sigreturn, M(r, "time.cycles.signals"));
        // mmap and the handler's mprotect; the read mapped the zero page, whose protection the mprotect changed. The
        // mprotect covers its one-page VMA whole, so it changes the VMA's flags in place: no VMA change, only the mmap's.
        Assert.Equal(2, M(r, "syscalls.total"));
        Assert.Equal(1, M(r, "syscalls.pages_protected"));
        Assert.Equal(1, M(r, "syscalls.vma_changes"));
        // Two pages invalidated on their own: the mprotect's, and the retried write's copy of the zero page (a COW copy
        // clears and flushes the old entry, as Linux's wp_page_copy does).
        Assert.Equal(2, M(r, "tlb.flushed_pages"));
        Assert.Equal(SyscallCycles(r, calls: 2, vmaChanges: 1, protectedPages: 1), M(r, "time.cycles.syscalls"));
    }

    [Fact]
    public void ARangeFlushedPageByPageChargesEachPageAndOneFlushedWholeChargesNone()
    {
        var r = Run("""
            process p
            p mmap a 8p rw private
            p write every page of a value 1
            p mprotect a 8p r
            p mmap gap 1p none private
            p mmap b 64p rw private
            p write every page of b value 1
            p mprotect b 64p r
            """);
        // 8 pages are within Linux's single-page flush ceiling (33): one invlpg each; 64 are flushed whole.
        Assert.Equal(8, M(r, "tlb.flushed_pages"));
        Assert.Equal(8 + 64, M(r, "syscalls.pages_protected"));
        long flushes = M(r, "tlb.flushes");
        Assert.True(flushes >= 2, $"the two mprotects flush; counted {flushes}");
        // Three mmaps create VMAs (the PROT_NONE one between keeps a and b from sitting side by side); each mprotect
        // covers its VMA whole and changes it in place.
        Assert.Equal(3, M(r, "syscalls.vma_changes"));
        Assert.Equal(5 * Syscall + 3 * VmaChange + 72 * Protected + flushes * Flush + 8 * FlushPage + M(r, "tlb.shootdowns") * Ipi,
            M(r, "time.cycles.syscalls"));
    }

    [Fact]
    public void AnMprotectThatSplitsOrMergesIsAVmaChangeAndOneThatRewritesAWholeVmaInPlaceIsNot()
    {
        var r = Run("""
            process p
            p mmap a 4p rw private
            p mprotect a 4p r
            p mprotect a+1p 4k rw
            p mprotect a 4p rw
            """);
        // mmap; the whole VMA made read-only in place (none); one page in the middle made writable (a split); the
        // whole range back to rw: the middle page's VMA is rw already, the other two change and then sit beside a VMA
        // of the same attributes, which Linux merges (one).
        Assert.Equal(4, M(r, "syscalls.total"));
        Assert.Equal(3, M(r, "syscalls.vma_changes"));
    }

    [Fact]
    public void MunmapChargesEveryPageItUnmapped()
    {
        var r = Run("process p\np mmap a 8p rw private\np write every page of a value 1\np munmap a\n");
        Assert.Equal(8, M(r, "syscalls.pages_unmapped"));
        Assert.Equal(SyscallCycles(r, calls: 2, vmaChanges: 2, unmapped: 8), M(r, "time.cycles.syscalls"));
    }

    [Fact]
    public void EveryCallThatChangesVmasIsChargedOneVmaChangeAndACallThatChangesNoneIsNot()
    {
        var r = Run("""
            process p
            p mmap a 8p rw private
            p write every page of a value 1
            p mprotect a+2p 4k r
            p mprotect a+2p 4k r
            p mprotect a+2p 4k rw
            p mprotect a 8p rw
            p munmap a+7p 4k
            p munmap a+7p 4k
            """);
        // mmap; the split; the same protection again (no change, as mprotect_fixup returns early); the merge back;
        // rw over rw (no change); the munmap of the last page; munmap of nothing.
        Assert.Equal(7, M(r, "syscalls.total"));
        Assert.Equal(4, M(r, "syscalls.vma_changes"));
        Assert.Equal(SyscallCycles(r, calls: 7, vmaChanges: 4, unmapped: 1, protectedPages: M(r, "syscalls.pages_protected")), M(r, "time.cycles.syscalls"));
    }

    [Fact]
    public void TheTotalIsTheSumOfItsPartsAndSecondsAreAtTheProfilesClock()
    {
        var r = Run("process p\np mmap a 10p rw private\np write every page of a value 1\np fork c\nc write a 2\n");
        long parts = M(r, "time.cycles.translation") + M(r, "time.cycles.faults") + M(r, "time.cycles.signals") + M(r, "time.cycles.syscalls") + M(r, "time.cycles.reclaim");
        Assert.Equal(parts, M(r, "time.cycles"));
        Assert.Equal(2_000_000, M(r, "time.clock_khz"));
        Assert.Equal(M(r, "time.cycles") / 2e9, r.ToJson()["metrics"]!["time.seconds"]!.GetValue<double>(), 12);
    }

    [Fact]
    public void WithoutACacheEveryWalkReferenceCostsAMemoryAccess()
    {
        var r = Run("process p\np mmap a 100p rw private\np write every page of a value 1\np read every page of a\np read every page of a\n");
        Assert.True(M(r, "walk.memrefs") > 0);
        // One TLB level: a hit and a miss's lookup both cost tlbHit[0] = 1.
        Assert.Equal(M(r, "tlb.hits") + M(r, "tlb.misses") + M(r, "walk.memrefs") * Memory, M(r, "time.cycles.translation"));
    }

    [Fact]
    public void WithACacheEachWalkReferenceCostsTheLatencyOfTheLevelThatServedIt()
    {
        const string cache = """
            "cache": { "plugin": "set-associative", "options": { "levels": [
              { "name": "l1d", "sets": 4, "ways": 2, "latency": 5 },
              { "name": "l2", "sets": 64, "ways": 4, "latency": 17 } ] } }
            """;
        var r = Run("process p\np mmap a 600p rw private\np write every page of a value 1\np read every page of a\np read every page of a\n", machine: cache,
            overrides: "machine:pageTable:options:pwcEntries=8");
        long l1 = M(r, "cache.walk.l1d.hits"), l2 = M(r, "cache.walk.l2.hits"), memory = M(r, "cache.walk.memory");
        Assert.Equal(M(r, "walk.memrefs"), l1 + l2 + memory); // every entry the walker read went through the hierarchy
        Assert.True(l1 > 0 && l2 > 0 && memory > 0, $"each level serves some references here: {l1} {l2} {memory}");
        Assert.True(M(r, "pwc.hits") > 0);
        Assert.Equal(M(r, "tlb.hits") + M(r, "tlb.misses") + M(r, "pwc.hits") * WalkCache + l1 * 5 + l2 * 17 + memory * Memory,
            M(r, "time.cycles.translation"));
    }

    [Fact]
    public void WithDataOnEveryTranslatedAccessAlsoGoesThroughTheHierarchyAndCostsItsLevelsLatency()
    {
        const string cache = """
            "cache": { "plugin": "set-associative", "options": { "data": true, "levels": [
              { "name": "l1d", "sets": 2, "ways": 2, "latency": 4 },
              { "name": "l2", "sets": 16, "ways": 4, "latency": 13 } ] } }
            """;
        // Page-aligned lines all fall in set 0: the three first touches miss everywhere; page 0's line then has left the
        // 2-way L1 set but not the 4-way L2 set; read again, it is in L1.
        var r = Run("process p\np mmap a 3p rw private\np write every page of a value 1\np read a\np read a\n", machine: cache);
        long l1 = M(r, "cache.data.l1d.hits"), l2 = M(r, "cache.data.l2.hits"), memory = M(r, "cache.data.memory");
        Assert.Equal(M(r, "accesses"), l1 + l2 + memory); // one data reference per translated access (no access failed here)
        Assert.True(l1 > 0 && l2 > 0 && memory > 0, $"each level serves some data references here: {l1} {l2} {memory}");
        Assert.Equal(l1 * 4 + l2 * 13 + memory * Memory, M(r, "time.cycles.data"));
        Assert.Equal(M(r, "time.cycles.translation") + M(r, "time.cycles.faults") + M(r, "time.cycles.signals") + M(r, "time.cycles.syscalls")
            + M(r, "time.cycles.reclaim") + M(r, "time.cycles.data"), M(r, "time.cycles"));
    }

    [Fact]
    public void WithDataOnATracesFastPathHitsGoThroughTheHierarchyToo()
    {
        var r = VmLab.Plugins.Tests.Tlb.Repo.Run("timing-x86-64.json", "machine:cache:options:data=true");
        Assert.Equal(RunResult.Completed, r.Status);
        long data = M(r, "cache.data.l1d.hits") + M(r, "cache.data.l2.hits") + M(r, "cache.data.llc.hits") + M(r, "cache.data.memory");
        Assert.Equal(M(r, "accesses") - M(r, "accesses.dropped"), data);
        Assert.True(M(r, "time.cycles.data") > 0);
    }

    [Fact]
    public void AnOptionReplacesOneCostOfTheProfile()
    {
        const string script = "process parent\nparent mmap a 4p rw private\nparent write every page of a value 5\nparent fork child\nchild write every page of a value 6\n";
        var r = Run(script, overrides: "machine:timing:options:cowCopy=3000");
        var baseline = Run(script);
        Assert.Equal(4 * (3000 - CowCopy), M(r, "time.cycles.faults") - M(baseline, "time.cycles.faults"));
    }

    [Fact]
    public void TheSameRunTwiceGivesTheSameTimeMetrics()
    {
        const string script = "process p\np mmap a 50p rw private\np write every page of a value 1\np fork c\nc write every page of a value 2\np munmap a\n";
        Assert.Equal(Run(script).Metrics, Run(script).Metrics);
    }

    [Fact]
    public void WithoutATimingModelARunHasNoTimeMetrics()
    {
        var r = Run("process p\np mmap a 2p rw private\np write every page of a value 1\n", timing: "");
        Assert.DoesNotContain(r.Metrics.Keys, k => k.StartsWith("time.", StringComparison.Ordinal));
        Assert.False(r.ToJson()["metrics"]!.AsObject().ContainsKey("time.seconds"));
    }

    [Fact]
    public void ABadProfileStopsTheRunBeforeAnythingRunsNamingTheOptionTheFileAndTheKey()
    {
        File.WriteAllText(Path.Combine(_dir, "bad.json"), TimingProfileTests.ProfileJson().Replace("\"demandZero\": 1201", "\"demandZero\": -1", StringComparison.Ordinal));
        var e = Assert.Throws<VmLabInputException>(() => Run("process p\n", timing: "\"timing\": { \"plugin\": \"analytic\", \"options\": { \"profile\": \"bad.json\" } }"));
        Assert.Equal("machine:timing:options:profile", e.Where);
        Assert.Contains("bad.json: cycles:demandZero", e.Message);
    }
}
