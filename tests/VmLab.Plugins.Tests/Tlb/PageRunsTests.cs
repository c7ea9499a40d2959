using CsCheck;
using VmLab.Abstractions;
using VmLab.Abstractions.Tlb;
using VmLab.Core;
using VmLab.Core.Kernel;
using VmLab.Core.Mmu;
using VmLab.Host.Config;
using VmLab.Host.Plugins;
using VmLab.Host.Running;
using VmLab.Plugins.Tlb;
using VmLab.Plugins.Tlb.Policies;
using Xunit;

namespace VmLab.Plugins.Tests.Tlb;

/// <summary>
/// A TLB seen through <see cref="ITlb"/> only: the MMU is closed over this class, which does not declare
/// <see cref="IRepeatHitTlb"/>, so it looks up every access (page runs off) while the TLB inside behaves as ever.
/// </summary>
public sealed class ForwardingTlb(ITlb inner) : ITlb
{
    public bool TryLookup(ulong vaddr, ushort asid, AccessKind kind, out TlbEntry entry) => inner.TryLookup(vaddr, asid, kind, out entry);
    public void Insert(ulong vaddr, ushort asid, AccessKind kind, in TlbEntry entry) => inner.Insert(vaddr, asid, kind, entry);
    public void Invalidate(ulong vaddr, ushort asid) => inner.Invalidate(vaddr, asid);
    public void InvalidateAsid(ushort asid) => inner.InvalidateAsid(asid);
    public void InvalidateAll(bool keepGlobal) => inner.InvalidateAll(keepGlobal);
}

/// <summary>
/// Page runs (the MMU counting a repeat of the last hit of a page and lookup class without a lookup) are exact: every
/// built-in TLB organisation and policy, hierarchies (split, inclusive or not, an L1 that does not hold the page size),
/// and page-replacement policies give every metric identical with runs on and with the TLB wrapped in
/// <see cref="ForwardingTlb"/> (runs off): on the quickstart config's trace through the host, and on random access
/// streams with repeats, kernel-mode accesses, writes to clean pages, context switches and flushes.
/// </summary>
public sealed class PageRunsTests
{
    private const string SmallLevels =
        "\"l1i\": { \"arrays\": [ { \"entries\": 8, \"ways\": 2 } ] }, \"l1d\": { \"arrays\": [ { \"entries\": 8, \"ways\": 4 } ] }, " +
        "\"l2\": { \"arrays\": [ { \"entries\": 32, \"ways\": 4 } ] }";

    /// <summary>Each TLB organisation and policy, as the <c>machine:tlb</c> node of the quickstart config.</summary>
    public static TheoryData<string> Tlbs()
    {
        var data = new TheoryData<string>
        {
            """{ "plugin": "fully-associative", "options": { "entries": 64, "policy": "lru" } }""",
            """{ "plugin": "set-associative", "options": { "entries": 16, "ways": 1 } }""",
            // The L1D holds only 2 MiB pages: every data hit is an L2 hit (not repeatable), counting an L1D miss each time.
            """{ "plugin": "hierarchy", "options": { "l1i": { "arrays": [ { "entries": 8, "ways": 2 } ] }, "l1d": { "arrays": [ { "entries": 8, "ways": 4, "pageSizes": [ "2m" ] } ] }, "l2": { "arrays": [ { "entries": 64, "ways": 4 } ] } } }""",
            // No L2.
            """{ "plugin": "hierarchy", "options": { "policy": "srrip", "l1i": { "arrays": [ { "entries": 4, "ways": 2 } ] }, "l1d": { "arrays": [ { "entries": 8, "ways": 2 } ] } } }""",
        };
        foreach (var policy in new[] { "lru", "fifo", "random", "plru" })
            data.Add($$"""{ "plugin": "fully-associative", "options": { "entries": 8, "policy": "{{policy}}" } }""");
        foreach (var policy in new[] { "lru", "fifo", "random", "plru", "srrip" })
        {
            data.Add($$"""{ "plugin": "set-associative", "options": { "entries": 16, "ways": 4, "policy": "{{policy}}" } }""");
            data.Add($$"""{ "plugin": "hierarchy", "options": { "policy": "{{policy}}", {{SmallLevels}} } }""");
            data.Add($$"""{ "plugin": "hierarchy", "options": { "policy": "{{policy}}", "inclusive": true, {{SmallLevels}} } }""");
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Tlbs))]
    public void QuickstartTraceGivesTheSameMetricsWithPageRunsOnAndOff(string tlb)
    {
        var on = RunQuickstart(tlb, runsOff: false);
        var off = RunQuickstart(tlb, runsOff: true);
        Assert.Equal(RunResult.Completed, on.Status);
        Assert.Equal(off.Metrics, on.Metrics);
        Assert.Equal(1_020_499, on.Metrics[MetricNames.Accesses]);
    }

    /// <summary>Page replacement under a small resident set: reclaim (out of line) between runs of hits, with the policies
    /// that read Accessed bits (runs on) and one that sees every access (runs off either way).</summary>
    [Theory]
    [InlineData("fifo")]
    [InlineData("clock")]
    [InlineData("nru")]
    [InlineData("mglru")]
    [InlineData("lru")]
    public void QuickstartTraceUnderReplacementGivesTheSameMetrics(string policy)
    {
        const string Tlb = """{ "plugin": "hierarchy", "options": { "policy": "lru", "l1i": { "arrays": [ { "entries": 8, "ways": 2 } ] }, "l1d": { "arrays": [ { "entries": 8, "ways": 4 } ] }, "l2": { "arrays": [ { "entries": 32, "ways": 4 } ] } } }""";
        string[] sets = ["machine:memory:userFrames=48", "machine:faultHandlers:1:options:zeroPage=false", $"machine:replacement:plugin={policy}"];
        var on = RunQuickstart(Tlb, runsOff: false, sets);
        var off = RunQuickstart(Tlb, runsOff: true, sets);
        Assert.Equal(RunResult.Completed, on.Status);
        Assert.True(on.Metrics.GetValueOrDefault(MetricNames.SwapOuts) > 0,
            "the resident set should be small enough to swap: " + string.Join(", ", on.Metrics.Where(kv => kv.Key.StartsWith("swap") || kv.Key.StartsWith("reclaim") || kv.Key.StartsWith("faults")).Select(kv => $"{kv.Key}={kv.Value}")));
        Assert.Equal(off.Metrics, on.Metrics);
    }

    private static RunResult RunQuickstart(string tlbJson, bool runsOff, params string[] sets)
    {
        string trace = Path.Combine(Repo.Root, "configs", "traces", "ls.lackey.gz").Replace("\\", "/");
        string json = $$"""
            { "name": "page-runs", "seed": 1,
              "machine": { "cpus": 1, "memory": { "frames": 262144, "swapSlots": 1048576 },
                "pageTable": { "plugin": "x86-64", "options": { "levels": 4 } },
                "tlb": {{tlbJson}},
                "faultHandlers": [ { "plugin": "cow" }, { "plugin": "demand-zero", "options": { "zeroPage": true } } ],
                "signals": { "plugin": "posix" } },
              "workload": { "plugin": "lackey", "options": { "path": "{{trace}}" } } }
            """;
        string path = Path.Combine(Path.GetTempPath(), $"vmlab-page-runs-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, json);
        try
        {
            var experiment = new ExperimentLoader(PluginCatalog.CreateDefault()).Load(path, sets);
            if (runsOff)
            {
                var tlb = experiment.Tlb;
                var registration = tlb.Plugin.Registration;
                var wrapped = registration with { Factory = c => new ForwardingTlb((ITlb)registration.Factory(c)) };
                experiment = experiment with { Tlb = tlb with { Plugin = tlb.Plugin with { Registration = wrapped } } };
            }
            return new ExperimentRunner().Run(experiment);
        }
        finally
        {
            File.Delete(path);
        }
    }

    // ---- random streams ---------------------------------------------------------------------------------------------

    private static readonly string[] OrganisationNames =
    [
        "fa-lru", "fa-fifo", "fa-random", "fa-plru",
        "sa-lru", "sa-fifo", "sa-random", "sa-plru", "sa-srrip", "dm",
        "h-lru", "h-fifo", "h-random", "h-plru", "h-srrip", "h-lru-inclusive", "h-srrip-inclusive", "h-l1d-2m",
    ];

    public static TheoryData<string> Organisations() => new(OrganisationNames);

    private static ITlb Make(string org, int cpu, IMetrics metrics)
    {
        ulong seed = (ulong)cpu * 31 + 5;
        var small = new TlbLevelOptions { Arrays = [new TlbArrayOptions { Entries = 4, Ways = 2 }] };
        var l2 = new TlbLevelOptions { Arrays = [new TlbArrayOptions { Entries = 8, Ways = 4 }] };
        ITlb Fa(FullyAssociativePolicy p) => new FullyAssociativeTlb(new FullyAssociativeTlbState(new FullyAssociativeTlbOptions { Entries = 5, Policy = p }, seed));
        ITlb Sa(TlbPolicy p) => TlbModule.CreateSetAssociative(new SetAssociativeTlbOptions { Entries = 8, Ways = 4, Policy = p }, seed);
        ITlb H(TlbPolicy p, bool inclusive = false, TlbLevelOptions? l1d = null) =>
            Hierarchy(p, new HierarchicalTlbOptions { Policy = p, Inclusive = inclusive, L1i = small, L1d = l1d ?? small, L2 = l2 }, seed, metrics);
        return org switch
        {
            "fa-lru" => Fa(FullyAssociativePolicy.Lru),
            "fa-fifo" => Fa(FullyAssociativePolicy.Fifo),
            "fa-random" => Fa(FullyAssociativePolicy.Random),
            "fa-plru" => Fa(FullyAssociativePolicy.Plru),
            "sa-lru" => Sa(TlbPolicy.Lru),
            "sa-fifo" => Sa(TlbPolicy.Fifo),
            "sa-random" => Sa(TlbPolicy.Random),
            "sa-plru" => Sa(TlbPolicy.Plru),
            "sa-srrip" => Sa(TlbPolicy.Srrip),
            "dm" => TlbModule.CreateSetAssociative(new SetAssociativeTlbOptions { Entries = 4, Ways = 1 }, seed),
            "h-lru" => H(TlbPolicy.Lru),
            "h-fifo" => H(TlbPolicy.Fifo),
            "h-random" => H(TlbPolicy.Random),
            "h-plru" => H(TlbPolicy.Plru),
            "h-srrip" => H(TlbPolicy.Srrip),
            "h-lru-inclusive" => H(TlbPolicy.Lru, inclusive: true),
            "h-srrip-inclusive" => H(TlbPolicy.Srrip, inclusive: true),
            "h-l1d-2m" => H(TlbPolicy.Lru, l1d: new TlbLevelOptions { Arrays = [new TlbArrayOptions { Entries = 4, Ways = 2, PageSizes = ["2m"] }] }),
            _ => throw new ArgumentException(org),
        };
    }

    private static ITlb Hierarchy(TlbPolicy policy, HierarchicalTlbOptions o, ulong seed, IMetrics metrics) => policy switch
    {
        TlbPolicy.Lru => new HierarchicalTlb<LruPolicy>(new TlbHierarchy<LruPolicy>(o, seed, metrics)),
        TlbPolicy.Fifo => new HierarchicalTlb<FifoPolicy>(new TlbHierarchy<FifoPolicy>(o, seed, metrics)),
        TlbPolicy.Random => new HierarchicalTlb<RandomPolicy>(new TlbHierarchy<RandomPolicy>(o, seed, metrics)),
        TlbPolicy.Plru => new HierarchicalTlb<TreePlruPolicy>(new TlbHierarchy<TreePlruPolicy>(o, seed, metrics)),
        _ => new HierarchicalTlb<SrripPolicy>(new TlbHierarchy<SrripPolicy>(o, seed, metrics)),
    };

    /// <summary>
    /// One step of a random program: a run of accesses to one page (op 0–12; kinds mixed, fetches interleaved with data,
    /// some in kernel mode, some straddling into the next page), or between batches: write-protect a page and flush it,
    /// clean a page's Dirty bit and flush it, flush the address space, or end the batch.
    /// </summary>
    private readonly record struct Step(int Op, int Pid, int Page, int Offset, int Kind, int Length, int Mode);

    private static readonly Gen<Step> GenStep = Gen.Select(Gen.Int[0, 17], Gen.Int[1, 3], Gen.Int[0, 11], Gen.Int[0, 4095],
        Gen.Int[0, 5], Gen.Int[1, 12], Gen.Int[0, 15], (op, pid, page, offset, kind, length, mode) => new Step(op, pid, page, offset, kind, length, mode));

    private static readonly Gen<Step[]> GenProgram = GenStep.Array[1, 120];

    private static ulong Page(int i) => 0x7000_0000UL + ((ulong)i << 12);

    /// <summary>Runs <paramref name="program"/> on a fresh two-CPU machine; the metrics, and how the run ended.</summary>
    private static (MetricSnapshot Metrics, string Outcome) Run(string org, Step[] program, bool runsOff)
    {
        var (machine, pageTable) = TestMachine.CreateWithPageTable(2, (cpu, metrics) =>
        {
            var tlb = Make(org, cpu, metrics);
            return runsOff ? new ForwardingTlb(tlb) : tlb;
        }, pcids: 2);
        return Execute(machine, pageTable, program);
    }

    private static (MetricSnapshot, string) Execute(Machine machine, VmLab.Abstractions.PageTables.IPageTable pageTable, Step[] program)
    {
        var kernel = machine.Kernel;
        var batch = new List<MemoryAccess>();
        string outcome = "completed";
        try
        {
            void Flush(int cpu)
            {
                if (batch.Count == 0) return;
                machine.Cpus[cpu].Execute(batch.ToArray());
                batch.Clear();
            }
            foreach (var s in program)
            {
                int cpu = s.Pid & 1;
                if (s.Op <= 12)
                {
                    for (int j = 0; j < s.Length; j++)
                    {
                        // Kind 0–2: one kind throughout; 3: a fetch between data accesses; 4: all three in turn; 5: reads
                        // and writes alternating between two data pages (pair runs of one class in split L1s too).
                        var kind = s.Kind switch
                        {
                            <= 2 => (AccessKind)s.Kind,
                            3 => j % 2 == 0 ? AccessKind.Fetch : AccessKind.Read,
                            4 => (AccessKind)(j % 3),
                            _ => j % 2 == 0 ? AccessKind.Read : AccessKind.Write,
                        };
                        ulong page = s.Kind switch
                        {
                            3 when kind == AccessKind.Fetch => Page((s.Page + 1) % 12),
                            5 when j % 2 == 1 => Page((s.Page + 2) % 12),
                            _ => Page(s.Page),
                        };
                        ulong offset = (ulong)((s.Offset + j * 8) % 4096);
                        ushort size = (ushort)(offset > 4090 ? 16 : 8); // the last bytes of a page straddle into the next
                        var mode = s.Mode == 0 ? AccessMode.Kernel : AccessMode.User;
                        batch.Add(new MemoryAccess(page + offset, s.Pid, size, kind, mode));
                    }
                    continue;
                }
                Flush(cpu);
                var p = kernel.GetOrCreateImplicitProcess(s.Pid, cpu);
                ulong va = Page(s.Page);
                var leaf = pageTable.Read(p.PageTableRoot, va);
                switch (s.Op)
                {
                    case 13 when leaf.IsPresent:
                        kernel.AddressSpaces.UpdatePageFlags(p, va, leaf.Flags & ~(PageFlags.Writable | PageFlags.Present));
                        kernel.AddressSpaces.FlushTlbPage(p, va, cpu);
                        break;
                    case 14 when leaf.IsPresent:
                        // Clean: the next write through a cached clean entry sets Dirty again.
                        kernel.AddressSpaces.UpdatePageFlags(p, va, leaf.Flags & ~(PageFlags.Dirty | PageFlags.Present));
                        kernel.AddressSpaces.FlushTlbPage(p, va, cpu);
                        break;
                    case 15:
                        kernel.AddressSpaces.FlushTlbMm(p, cpu);
                        break;
                }
            }
            Flush(0);
        }
        catch (Exception e)
        {
            outcome = e.GetType().Name + ": " + e.Message;
        }
        foreach (var cpu in machine.Cpus) cpu.Publish();
        return (machine.Metrics.Snapshot(), outcome);
    }

    [Theory]
    [MemberData(nameof(Organisations))]
    public void RandomStreamsGiveTheSameMetricsWithPageRunsOnAndOff(string org)
    {
        long hits = 0;
        GenProgram.Sample(program =>
        {
            var on = Run(org, program, runsOff: false);
            var off = Run(org, program, runsOff: true);
            Assert.Equal(off.Outcome, on.Outcome);
            Assert.Equal(off.Metrics, on.Metrics);
            hits += on.Metrics.GetValueOrDefault(MetricNames.TlbHits);
        }, iter: 150, threads: 1);
        Assert.True(hits > 0);
    }

    [Fact]
    public void EveryBuiltInTlbDeclaresPairRunsForItsBuiltInPolicies()
    {
        foreach (string org in OrganisationNames)
        {
            var tlb = Make(org, 0, new MetricRegistry());
            Assert.True(Assert.IsAssignableFrom<IRepeatHitTlb>(tlb).RepeatsPairs, org);
        }
    }

    [Fact]
    public void TheMachineClosesTheMmuOverPageRunsOnlyForATlbThatDeclaresThem()
    {
        var plain = TestMachine.Create(1, _ => new FullyAssociativeTlb(new FullyAssociativeTlbState(new FullyAssociativeTlbOptions())));
        var wrapped = TestMachine.Create(1, _ => new ForwardingTlb(new FullyAssociativeTlb(new FullyAssociativeTlbState(new FullyAssociativeTlbOptions()))));
        Assert.Equal(typeof(PageRuns<FullyAssociativeTlb>), plain.Cpus[0].GetType().GetGenericArguments()[3]);
        Assert.Equal(typeof(NoPageRuns<ForwardingTlb>), wrapped.Cpus[0].GetType().GetGenericArguments()[3]);
    }
}
