using VmLab.Abstractions;
using VmLab.Abstractions.Plugins;
using VmLab.Abstractions.Workloads;
using VmLab.Plugins.Replacement;

[assembly: VmLabPlugin(typeof(ReplacementModule))]

namespace VmLab.Plugins.Replacement;

public sealed class ReplacementModule : IPluginModule
{
    public void Register(IPluginRegistry registry)
    {
        registry.AddReplacement<FifoPolicy, NoOptions>("fifo",
            "First in, first out: the page resident longest is evicted. Needs only arrivals.",
            c => new FifoPolicy(Links(c)));
        registry.AddReplacement<LruPolicy, NoOptions>("lru",
            "Exact LRU: sees every access (TLB hits included) and evicts the page unused longest.",
            c => new LruPolicy(Links(c)));
        registry.AddReplacement<ClockPolicy, ClockOptions>("clock",
            "CLOCK (second chance): on the Accessed bits (hardware) or on a bit every access sets (textbook).",
            c => new ClockPolicy(Links(c), c.Options));
        registry.AddReplacement<NruPolicy, NoOptions>("nru",
            "Not recently used: enhanced CLOCK over the (Accessed, Dirty) classes.",
            c => new NruPolicy(Links(c)));
        registry.AddReplacement<TwoListPolicy, TwoListOptions>("two-list",
            "Linux active/inactive lists: referenced twice is activated; aging clears Accessed bits without a TLB flush; workingset refault-distance activation.",
            c => new TwoListPolicy(Links(c), c.Options));
        registry.AddReplacement<WsClockPolicy, WsClockOptions>("wsclock",
            "WSClock: CLOCK with a working-set window tau; clean pages outside the working set first.",
            c => new WsClockPolicy(Links(c), c.Options));
        registry.AddReplacement<ArcPolicy, NoOptions>("arc",
            "ARC (Megiddo & Modha, FAST'03 Fig. 4): recency/frequency lists, ghost lists, real-valued p adapted before REPLACE for the arriving page. Sees every access.",
            c => new ArcPolicy(Links(c)));
        registry.AddReplacement<CarPolicy, NoOptions>("car",
            "CAR (Bansal & Modha): ARC's adaptation over two CLOCKs on Accessed bits.",
            c => new CarPolicy(Links(c)));
        registry.AddReplacement<TwoQueuePolicy, TwoQueueOptions>("2q",
            "Full 2Q (Johnson & Shasha, VLDB'94): A1in FIFO, A1out ghost keys, Am LRU; the arriving page is looked up in A1out before reclaimfor. Sees every access.",
            c => new TwoQueuePolicy(Links(c), c.Options));
        registry.AddReplacement<LirsPolicy, LirsOptions>("lirs",
            "LIRS (Jiang & Zhang): inter-reference recency, LIRS stack and resident-HIR queue. Sees every access.",
            c => new LirsPolicy(c.Memory.FrameCount, c.Options));
        registry.AddReplacement<ClockProPolicy, ClockProOptions>("clock-pro",
            "CLOCK-Pro (Jiang, Chen & Zhang, USENIX ATC'05): hot and cold pages, test periods, non-resident cold pages, three hands, fixed or adaptive cold allocation; as the authors' simulator clock-pro.c runs it (variant authors) or as §4's text states it (variant paper). Sees every access.",
            c => new ClockProPolicy(c.Memory.FrameCount, c.Options));
        registry.AddReplacement<MglruPolicy, NoOptions>("mglru",
            "Linux multi-gen LRU (lru_gen): generations aged by walks of the Accessed bits, eviction from the oldest, PG_referenced/PG_workingset, tiers by refault (PID controller).",
            c => new MglruPolicy(Links(c)));
        registry.AddReplacement<SievePolicy, NoOptions>("sieve",
            "SIEVE (Zhang et al., NSDI'24): one FIFO, visited bits, a hand that evicts the first unvisited page and never moves survivors. Sees every access.",
            c => new SievePolicy(Links(c)));
        registry.AddReplacement<S3FifoPolicy, S3FifoOptions>("s3-fifo",
            "S3-FIFO (Yang et al., SOSP'23): small FIFO, main FIFO with reinsertion, ghost FIFO of keys; frequencies capped at 3. Sees every access.",
            c => new S3FifoPolicy(Links(c), c.Options));
        registry.AddReplacement<AgingPolicy, AgingOptions>("lfu-aging",
            "LFU with aging (Tanenbaum's Aging): per-page counters shifted right each tick with the R bit entering at the top; the lowest counter goes. Sees every access.",
            c => new AgingPolicy(c.Memory.FrameCount, c.Options));
        registry.AddReplacement<RandomPolicy, NoOptions>("random",
            "A uniformly random resident page, seeded from the experiment seed.",
            c => new RandomPolicy(c.Memory.FrameCount, c.Seed));
        registry.AddReplacement<OptPolicy, NoOptions>("opt",
            "Belady's OPT: evicts the page used furthest in the future; needs a workload that can be read in advance (a trace).",
            c => new OptPolicy(c.Memory.FrameCount, ReplayableWorkload(c)));
    }

    /// <summary>The machine's per-frame links (shared with the buddy allocator), or links of the policy's own outside a machine.</summary>
    private static FrameLinks Links(ComponentContext c) =>
        c.Services.GetService(typeof(FrameLinks)) as FrameLinks ?? new FrameLinks(c.Memory.FrameCount);

    private static ITraceWorkload ReplayableWorkload(ComponentContext c)
    {
        var workload = c.Services.GetService(typeof(IWorkload));
        if (workload is ITraceWorkload replayable) return replayable;
        string what = workload is null ? "no workload" : $"the workload ({workload.GetType().Name})";
        throw new VmLabInputException($"{c.KeyPath}:plugin",
            $"opt (Belady) needs the whole access stream in advance, but {what} configured at workload:plugin cannot be read twice " +
            "(its accesses depend on the simulation, as a scenario's do); use a trace workload such as lackey, or another policy");
    }
}
