using VmLab.Abstractions.Plugins;
using VmLab.Abstractions.Replacement;

namespace FooPlugin.Tests;

public sealed class FooPluginTests
{
    /// <summary>A reclaim view over nothing: FIFO never looks at Accessed or Dirty bits.</summary>
    private sealed class NoBits : IReclaimView
    {
        public bool TestAndClearAccessed(ulong pfn, bool clear) => throw new InvalidOperationException("FIFO must not read Accessed bits");
        public bool IsDirty(ulong pfn) => throw new InvalidOperationException("FIFO must not read Dirty bits");
    }

    private static ulong Victim(FooPlugin policy)
    {
        Assert.True(policy.TrySelectVictim(new NoBits(), out ulong pfn));
        return pfn;
    }

    [Fact]
    public void EvictsInTheOrderFramesBecameResident()
    {
        var policy = new FooPlugin();
        foreach (ulong pfn in new ulong[] { 7, 3, 9 }) policy.OnResident(pfn);
        var evicted = new List<ulong>();
        for (int i = 0; i < 3; i++)
        {
            ulong victim = Victim(policy);
            evicted.Add(victim);
            policy.OnReleased(victim); // what the reclaim path does once the frame is evicted
        }
        Assert.Equal(new ulong[] { 7, 3, 9 }, evicted);
        Assert.False(policy.TrySelectVictim(new NoBits(), out _));
    }

    [Fact]
    public void AFrameReleasedAndResidentAgainGoesToTheBack()
    {
        var policy = new FooPlugin();
        policy.OnResident(1);
        policy.OnResident(2);
        policy.OnReleased(1); // unmapped by the process
        policy.OnResident(1); // reused for a new page
        Assert.Equal(2UL, Victim(policy));
        policy.OnReleased(2);
        Assert.Equal(1UL, Victim(policy));
        Assert.Equal(1, policy.Count);
    }

    [Fact]
    public void OnTheClassicStringItTakesNineFaultsWithThreeFramesAndTenWithFour()
    {
        // Belady's anomaly, the textbook check of FIFO: 1 2 3 4 1 2 5 1 2 3 4 5.
        int[] pages = [1, 2, 3, 4, 1, 2, 5, 1, 2, 3, 4, 5];
        var three = new PolicyHarness(new FooPlugin(), frames: 3);
        three.Run(pages);
        var four = new PolicyHarness(new FooPlugin(), frames: 4);
        four.Run(pages);
        Assert.Equal((9L, 10L), (three.Misses, four.Misses));
    }

    [Fact]
    public void RegistersAsAReplacementPolicyUnderItsKebabCaseName()
    {
        var registry = TestRegistry.Of(new FooPluginModule());
        var registration = Assert.Single(registry.Items);
        Assert.Equal((PluginKind.Replacement, "foo-plugin", typeof(NoOptions)), (registration.Kind, registration.Name, registration.OptionsType));
        Assert.IsType<FooPlugin>(registry.Create<IReplacementPolicy>(PluginKind.Replacement, "foo-plugin"));
    }
}
