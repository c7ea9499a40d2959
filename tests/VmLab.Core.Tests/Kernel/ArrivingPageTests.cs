using VmLab.Abstractions;
using VmLab.Abstractions.Replacement;
using VmLab.Abstractions.Workloads;

namespace VmLab.Core.Tests.Kernel;

/// <summary>
/// IReclaimView.TryGetArrivingPage: direct reclaim on the fault path names the page about to arrive (its swap key on a
/// swap-in, 0 for a new page), and background reclaim (kswapd) names none.
/// </summary>
public sealed class ArrivingPageTests
{
    /// <summary>FIFO that records what the kernel told it at every selection.</summary>
    private sealed class RecordingPolicy : IReplacementPolicy
    {
        private readonly List<ulong> _order = [];
        public readonly List<(bool Known, ulong Key)> Selections = [];
        public readonly List<ulong> Evicted = [];
        public readonly List<ulong> Arrived = [];

        public ReplacementInput Input => ReplacementInput.AccessedBits;
        public void OnResident(ulong pfn) => OnResident(pfn, 0);

        public void OnResident(ulong pfn, ulong key)
        {
            _order.Add(pfn);
            Arrived.Add(key);
        }

        public void OnReleased(ulong pfn) => _order.Remove(pfn);

        public void OnEvicted(ulong pfn, ulong key)
        {
            _order.Remove(pfn);
            Evicted.Add(key);
        }

        public void OnAccess(ulong pfn) { }

        public bool TrySelectVictim(IReclaimView view, out ulong pfn)
        {
            bool known = view.TryGetArrivingPage(out ulong key);
            Selections.Add((known, key));
            pfn = _order.Count > 0 ? _order[0] : 0;
            return _order.Count > 0;
        }
    }

    private static void Write(IKernelApi api, int pid, ulong address) =>
        Assert.Equal(AccessStatus.Ok, api.Access(pid, 0, address, AccessKind.Write, 8, 1).Status);

    [Fact]
    public void DirectReclaimNamesTheNewPageAndThenTheSwappedOutPageComingBack()
    {
        var policy = new RecordingPolicy();
        var m = TestMachine.Create(replacement: policy, swapSlots: 64, userFrames: 2);
        var api = m.KernelApi;
        int pid = api.Spawn();
        ulong a = (ulong)api.Mmap(pid, 0, 3 * 4096, Protection.ReadWrite, MapFlags.Private | MapFlags.Anonymous);

        Write(api, pid, a);
        Write(api, pid, a + 4096);
        Write(api, pid, a + 8192); // a new page: reclaim evicts the first one
        Assert.Equal([(true, 0UL)], policy.Selections);
        ulong firstKey = Assert.Single(policy.Evicted);
        Assert.NotEqual(0UL, firstKey);

        Assert.Equal(AccessStatus.Ok, api.Access(pid, 0, a, AccessKind.Read, 8, 0).Status); // swap-in of the first page
        Assert.Equal((true, firstKey), policy.Selections[1]);
        Assert.Equal(firstKey, policy.Arrived[^1]); // the key named at selection is the one it arrives with
    }

    [Fact]
    public void BackgroundReclaimNamesNoArrivingPage()
    {
        var policy = new RecordingPolicy();
        var m = TestMachine.Create(replacement: policy, swapSlots: 64, userFrames: 8, lowWatermark: 2, highWatermark: 4);
        var api = m.KernelApi;
        int pid = api.Spawn();
        ulong a = (ulong)api.Mmap(pid, 0, 8 * 4096, Protection.ReadWrite, MapFlags.Private | MapFlags.Anonymous);

        for (ulong i = 0; i < 8; i++) Write(api, pid, a + i * 4096);

        Assert.True(m.M("reclaim.kswapd") > 0);
        Assert.Equal(m.M("reclaim.kswapd"), policy.Selections.Count(s => !s.Known));
        Assert.Equal(m.M("reclaim.direct"), policy.Selections.Count(s => s.Known));
    }
}
