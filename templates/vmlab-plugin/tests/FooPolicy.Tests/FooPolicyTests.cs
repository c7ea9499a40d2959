using VmLab.Abstractions.Plugins;
using VmLab.Abstractions.Replacement;

namespace FooPolicy.Tests;

public sealed class FooPolicyTests
{
    /// <summary>A reclaim view over nothing: FIFO never looks at Accessed or Dirty bits.</summary>
    private sealed class NoBits : IReclaimView
    {
        public bool TestAndClearAccessed(ulong pfn, bool clear) => throw new InvalidOperationException("FIFO must not read Accessed bits");
        public bool IsDirty(ulong pfn) => throw new InvalidOperationException("FIFO must not read Dirty bits");
    }

    private static ulong Victim(FooPolicy policy)
    {
        Assert.True(policy.TrySelectVictim(new NoBits(), out ulong pfn));
        return pfn;
    }

    [Fact]
    public void EvictsInTheOrderFramesBecameResident()
    {
        var policy = new FooPolicy();
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
    public void AccessesDoNotChangeTheOrder()
    {
        var policy = new FooPolicy();
        policy.OnResident(1);
        policy.OnResident(2);
        for (int i = 0; i < 10; i++) policy.OnAccess(1);
        Assert.Equal(1UL, Victim(policy));
        Assert.Equal(ReplacementInput.AccessedBits, policy.Input);
    }

    [Fact]
    public void AFrameReleasedAndResidentAgainGoesToTheBack()
    {
        var policy = new FooPolicy();
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
    public void ASecondMappingOfAResidentFrameKeepsItsPlace()
    {
        var policy = new FooPolicy();
        policy.OnResident(5);
        policy.OnResident(6);
        policy.OnResident(5);
        Assert.Equal(5UL, Victim(policy));
        Assert.Equal(2, policy.Count);
    }

    [Fact]
    public void RegistersAsAReplacementPolicyUnderItsKebabCaseName()
    {
        var registry = new Registry();
        new FooPolicyModule().Register(registry);
        var registration = Assert.Single(registry.Items);
        Assert.Equal(PluginKind.Replacement, registration.Kind);
        Assert.Equal("foo-policy", registration.Name);
        Assert.Equal(typeof(NoOptions), registration.OptionsType);
    }

    private sealed class Registry : IPluginRegistry
    {
        public List<PluginRegistration> Items { get; } = [];
        public void Add(PluginRegistration registration) => Items.Add(registration);
    }
}
