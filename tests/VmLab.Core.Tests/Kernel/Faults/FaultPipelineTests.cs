using VmLab.Abstractions;
using VmLab.Abstractions.Faults;
using VmLab.Abstractions.Tlb;
using VmLab.Abstractions.Workloads;
using VmLab.Core.Kernel;
using VmLab.Core.Memory;
using VmLab.Core.Tests.Fakes;

namespace VmLab.Core.Tests.Kernel.Faults;

/// <summary>The staged fault pipeline: stages, built-in handlers in their places, the new outcomes, handler-owned VMA state.</summary>
public sealed class FaultPipelineTests
{
    private const ulong Page = 4096;

    /// <summary>Records every fault it is asked about and answers with <see cref="Answer"/> (declines by default).</summary>
    private sealed class Recorder(FaultStage stage, string name, List<string> log) : IFaultHandler
    {
        public FaultStage Stage => stage;
        public Func<PageFault, IMemoryManager, FaultResult> Answer { get; init; } = (_, _) => FaultResult.Declined;

        public FaultResult Handle(in PageFault fault, IMemoryManager mm)
        {
            log.Add($"{name}:{(fault.HasVma ? "vma" : "no-vma")}:{fault.Mode}");
            return Answer(fault, mm);
        }
    }

    private static Machine Build(params NamedFaultHandler[] handlers) => Build(handlers, cpus: 1);

    private static Machine Build(NamedFaultHandler[] handlers, int cpus)
    {
        var metrics = new MetricRegistry();
        var memory = new PhysicalMemory(4096);
        var frames = new FrameTable(memory, metrics);
        var pageTable = new FakePageTable(memory, frames, metrics);
        return Machine.Create(new MachineOptions { Cpus = cpus, Checks = new() { Tlb = true, Invariants = true } }, memory, frames, metrics, pageTable,
            _ => new FakeTlb(64), handlers, new FakeSignals(), null, null);
    }

    private static NamedFaultHandler Cow(Machine? _ = null) => new("cow", new FakeCowHandler(new MetricRegistry()));
    private static NamedFaultHandler DemandZero(MetricRegistry? m = null) => new("demand-zero", new FakeDemandZeroHandler(m ?? new MetricRegistry()));

    [Fact]
    public void BuiltInsNotNamedTakeTheirDefaultPlacesAtTheHeadOfTheirStages()
    {
        var m = Build(Cow(), DemandZero());
        Assert.Equal(["accessed-dirty", "device-trap", "dirty-log", "swap-in", "fault-around", "cow", "demand-zero"], m.Kernel.Faults.Chain.Select(h => h.Name));
    }

    [Fact]
    public void ANamedBuiltInRunsWhereItIsNamed()
    {
        var m = Build(Cow(), new NamedFaultHandler("swap-in", new SwapInHandler()), DemandZero());
        Assert.Equal(["accessed-dirty", "device-trap", "dirty-log", "fault-around", "cow", "swap-in", "demand-zero"], m.Kernel.Faults.Chain.Select(h => h.Name));
    }

    [Fact]
    public void HandlersAreAskedStageByStageWhateverTheirConfiguredOrder()
    {
        var log = new List<string>();
        var m = Build(DemandZero(), new NamedFaultHandler("late", new Recorder(FaultStage.Resolve, "resolve", log)),
            new NamedFaultHandler("access", new Recorder(FaultStage.BeforeAccessCheck, "access", log)),
            new NamedFaultHandler("vma", new Recorder(FaultStage.BeforeVmaCheck, "vma", log)));
        var api = m.KernelApi;
        int pid = api.Spawn();
        ulong a = (ulong)api.Mmap(pid, 0, 0, Page, Protection.ReadWrite, MapFlags.Anonymous, null, 0);
        Assert.Equal(AccessStatus.Ok, api.Access(pid, 0, a, AccessKind.Write, 8, 7).Status);
        // The resolve-stage recorder comes after demand-zero, which resolved the fault: it is never asked.
        Assert.Equal(["vma:no-vma:User", "access:vma:User"], log);
        Assert.Equal(1, m.Metrics[MetricNames.FaultsMinor]);
    }

    [Fact]
    public void AHandlerBeforeTheAccessCheckSeesAFaultTheVmaForbidsAndTheResolveStageDoesNot()
    {
        var log = new List<string>();
        var m = Build(new NamedFaultHandler("resolve", new Recorder(FaultStage.Resolve, "resolve", log)), DemandZero(),
            new NamedFaultHandler("access", new Recorder(FaultStage.BeforeAccessCheck, "access", log)));
        var api = m.KernelApi;
        int pid = api.Spawn();
        ulong a = (ulong)api.Mmap(pid, 0, 0, Page, Protection.Read, MapFlags.Anonymous, null, 0);
        var r = api.Access(pid, 0, a + 5, AccessKind.Write, 1, 1);
        Assert.Equal(AccessStatus.Terminated, r.Status);
        Assert.Equal(new SignalInfo(Signal.SIGSEGV, Signal.SEGV_ACCERR, a + 5), r.Signal);
        Assert.Equal(["access:vma:User"], log);
    }

    [Fact]
    public void DeferredRunsThePipelineAgainWithinOneExceptionAndCountsOnlyTheResolution()
    {
        int asked = 0;
        var deferOnce = new NamedFaultHandler("defer-once", new Recorder(FaultStage.BeforeAccessCheck, "d", [])
        {
            Answer = (_, _) => ++asked == 1 ? FaultResult.Deferred : FaultResult.Declined,
        });
        var m = Build(deferOnce, DemandZero());
        var api = m.KernelApi;
        int pid = api.Spawn();
        ulong a = (ulong)api.Mmap(pid, 0, 0, Page, Protection.ReadWrite, MapFlags.Anonymous, null, 0);
        Assert.Equal(AccessStatus.Ok, api.Access(pid, 0, a, AccessKind.Write, 8, 7).Status);
        Assert.Equal(2, asked);
        Assert.Equal(1, m.Metrics[MetricNames.FaultsTotal]);
        Assert.Equal(1, m.Metrics[MetricNames.FaultsMinor]);
    }

    [Fact]
    public void AHandlerThatDefersForeverIsNamedInTheError()
    {
        var m = Build(new NamedFaultHandler("stuck", new Recorder(FaultStage.Resolve, "s", []) { Answer = (_, _) => FaultResult.Deferred }), DemandZero());
        var api = m.KernelApi;
        int pid = api.Spawn();
        ulong a = (ulong)api.Mmap(pid, 0, 0, Page, Protection.ReadWrite, MapFlags.Anonymous, null, 0);
        var e = Assert.Throws<InvalidOperationException>(() => api.Access(pid, 0, a, AccessKind.Read, 1, 0));
        Assert.Contains("fault handler stuck deferred", e.Message);
    }

    [Fact]
    public void AHandlerThatClaimsFixesItNeverMadeIsNamedInTheRetryLimitError()
    {
        var m = Build(new NamedFaultHandler("liar", new Recorder(FaultStage.Resolve, "l", []) { Answer = (_, _) => FaultResult.Minor }), DemandZero());
        var api = m.KernelApi;
        int pid = api.Spawn();
        ulong a = (ulong)api.Mmap(pid, 0, 0, Page, Protection.ReadWrite, MapFlags.Anonymous, null, 0);
        var e = Assert.Throws<InvalidOperationException>(() => api.Access(pid, 0, a, AccessKind.Read, 1, 0));
        Assert.Contains("fault handler liar claimed to fix the fault", e.Message);
    }

    [Fact]
    public void EmulatedCompletesTheAccessWithoutMappingAnything()
    {
        var m = Build(new NamedFaultHandler("emulate", new Recorder(FaultStage.Resolve, "e", []) { Answer = (_, _) => FaultResult.Emulated }), DemandZero());
        int pid = m.KernelApi.Spawn();
        ulong a = (ulong)m.KernelApi.Mmap(pid, 0, 0, Page, Protection.ReadWrite, MapFlags.Anonymous, null, 0);
        var p = m.Kernel.FindProcess(pid)!;
        var t = m.Cpus[0].Translate(p, a, AccessKind.Write, AccessMode.User);
        Assert.True(t.Emulated);
        Assert.True(m.Leaf(pid, a).IsEmpty);
        Assert.Equal(0, m.Metrics[MetricNames.FaultsMinor]);
    }

    [Fact]
    public void AKernelHalfFaultGoesThroughTheSameChainWithoutAVmaAndOopsesWhenNothingResolvesIt()
    {
        var log = new List<string>();
        var m = Build(new NamedFaultHandler("r", new Recorder(FaultStage.Resolve, "resolve", log)), DemandZero());
        var api = m.KernelApi;
        int pid = api.Spawn();
        ulong unmapped = m.Kernel.KernelHalf.Layout.VmallocStart + 0x1000;
        var r = api.KernelAccess(pid, 0, unmapped, AccessKind.Read, 8, 0);
        Assert.Equal(AccessStatus.Terminated, r.Status);
        Assert.Equal(["resolve:no-vma:Kernel"], log);
        Assert.Equal(1, m.Metrics[MetricNames.KernelOops]);
    }

    /// <summary>State a handler keeps in a VMA: counts the faults it saw there; inherited at fork only when asked to be.</summary>
    private sealed class Marker(bool inherit) : IVmaState
    {
        public int Seen;
        public IVmaState? OnFork() => inherit ? new Marker(inherit) : null;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void VmaStateIsSharedBySplitPartsAndGoesToAForkedChildOnlyWhenTheStateSaysSo(bool inherit)
    {
        var m = Build(new NamedFaultHandler("marker", new Recorder(FaultStage.Resolve, "m", [])
        {
            Answer = (f, mm) =>
            {
                var marker = mm.GetVmaState<Marker>(f.Process, f.Address);
                if (marker is null) mm.SetVmaState(f.Process, f.Address, marker = new Marker(inherit));
                marker.Seen++;
                return FaultResult.Declined;
            },
        }), DemandZero());
        var api = m.KernelApi;
        int pid = api.Spawn();
        ulong a = (ulong)api.Mmap(pid, 0, 0, 4 * Page, Protection.ReadWrite, MapFlags.Anonymous, null, 0);
        api.Access(pid, 0, a, AccessKind.Write, 8, 1);
        Assert.Equal(0, api.Munmap(pid, 0, a + Page, Page)); // splits the VMA in two
        var p = m.Kernel.FindProcess(pid)!;
        var mm0 = m.Kernel.ForCpu(0);
        var low = mm0.GetVmaState<Marker>(p, a);
        Assert.NotNull(low);
        Assert.Same(low, mm0.GetVmaState<Marker>(p, a + 2 * Page)); // both parts share the one state
        api.Access(pid, 0, a + 2 * Page, AccessKind.Write, 8, 1);
        Assert.Equal(2, low.Seen);

        int child = api.Fork(pid, 0);
        var c = m.Kernel.FindProcess(child)!;
        var inherited = mm0.GetVmaState<Marker>(c, a);
        if (inherit) Assert.NotNull(inherited);
        else Assert.Null(inherited);
    }

    /// <summary>
    /// A one-entry TLB that keeps its entry inline in the struct (no reference to shared state): only the copy inside
    /// the CPU's MMU is live, so a flush that went to any other copy would leave it stale.
    /// </summary>
    private struct InlineTlb : ITlb
    {
        private bool _valid;
        private ulong _page;
        private ushort _asid;
        private TlbEntry _entry;

        public bool TryLookup(ulong vaddr, ushort asid, AccessKind kind, out TlbEntry entry)
        {
            bool hit = _valid && _page == vaddr >> 12 && (_asid == asid || (_entry.Flags & PageFlags.Global) != 0);
            entry = hit ? _entry : default;
            return hit;
        }

        public void Insert(ulong vaddr, ushort asid, AccessKind kind, in TlbEntry entry) => (_valid, _page, _asid, _entry) = (true, vaddr >> 12, asid, entry);

        public void Invalidate(ulong vaddr, ushort asid)
        {
            if (_valid && _page == vaddr >> 12) _valid = false;
        }

        public void InvalidateAsid(ushort asid)
        {
            if (_valid && _asid == asid && (_entry.Flags & PageFlags.Global) == 0) _valid = false;
        }

        public void InvalidateAll(bool keepGlobal)
        {
            if (!keepGlobal || (_entry.Flags & PageFlags.Global) == 0) _valid = false;
        }
    }

    [Fact]
    public void AStructTlbKeepingItsStateInlineReceivesTheKernelsFlushes()
    {
        var metrics = new MetricRegistry();
        var memory = new PhysicalMemory(4096);
        var frames = new FrameTable(memory, metrics);
        var pageTable = new FakePageTable(memory, frames, metrics);
        var m = Machine.Create(new MachineOptions { Cpus = 1, Checks = new() { Tlb = true } }, memory, frames, metrics, pageTable,
            _ => new InlineTlb(), [Cow().Handler, DemandZero(metrics).Handler], new FakeSignals());
        var api = m.KernelApi;
        int pid = api.Spawn();
        ulong a = (ulong)api.Mmap(pid, 0, 0, Page, Protection.ReadWrite, MapFlags.Anonymous, null, 0);
        Assert.Equal(AccessStatus.Ok, api.Access(pid, 0, a, AccessKind.Write, 8, 42).Status); // cached, writable
        api.SetSignalDisposition(pid, Signal.SIGSEGV, VmLab.Abstractions.Signals.SignalDisposition.Handler);
        Assert.Equal(0, api.Mprotect(pid, 0, a, Page, Protection.Read)); // must flush the inline entry
        // With the coherence check on, a stale writable entry would be served and fail the run; instead the write faults.
        var r = api.Access(pid, 0, a, AccessKind.Write, 8, 1);
        Assert.Equal(AccessStatus.Signal, r.Status);
        Assert.Equal(new SignalInfo(Signal.SIGSEGV, Signal.SEGV_ACCERR, a), r.Signal);
        Assert.Equal(42UL, api.Access(pid, 0, a, AccessKind.Read, 8, 0).Value);
    }
}
