using VmLab.Abstractions;
using VmLab.Abstractions.Plugins;

namespace FooPlugin.Tests;

public sealed class FooPluginTests
{
    [Fact]
    public void AStrideOfThreeOverEightPagesVisitsEveryPageOncePerPass()
    {
        var options = new FooPluginOptions { Base = 0x10000, Pages = 8, Stride = 3, Passes = 2, WritePercent = 0 };
        var run = RecordingSimulation.Run(new FooPlugin(options, seed: 1), preferredBatchSize: 5);

        ulong[] pass = [0, 3, 6, 1, 4, 7, 2, 5];
        Assert.Equal(pass.Concat(pass).Select(p => 0x10000 + p * 4096), run.Accesses.Select(a => a.Address));
        Assert.All(run.Accesses, a => Assert.Equal(AccessKind.Read, a.Kind));
        Assert.Equal([5, 5, 5, 1], run.Batches); // batches of the machine's preferred size
    }

    [Fact]
    public void TheShareOfWritesFollowsTheOptionAndTheSeedDecidesWhichAccessesWrite()
    {
        var options = new FooPluginOptions { Pages = 1000, Passes = 10, WritePercent = 25 };
        var first = RecordingSimulation.Run(new FooPlugin(options, seed: 7));
        var again = RecordingSimulation.Run(new FooPlugin(options, seed: 7));
        var other = RecordingSimulation.Run(new FooPlugin(options, seed: 8));

        int writes = first.Accesses.Count(a => a.Kind == AccessKind.Write);
        Assert.InRange(writes, 2300, 2700); // 25% of 10,000, within about 4 standard deviations
        Assert.Equal(first.Accesses, again.Accesses);
        Assert.NotEqual(first.Accesses, other.Accesses);
    }

    [Fact]
    public void ProgressReachesOneAtTheEnd()
    {
        var workload = new FooPlugin(new FooPluginOptions { Pages = 10, Passes = 3 }, seed: 1);
        RecordingSimulation.Run(workload, preferredBatchSize: 4);
        Assert.Equal(1.0, workload.Progress);
    }

    [Fact]
    public void RegistersAsAWorkloadThatTakesItsSeedFromTheRun()
    {
        var registry = TestRegistry.Of(new FooPluginModule());
        var registration = Assert.Single(registry.Items);
        Assert.Equal((PluginKind.Workload, "foo-plugin", typeof(FooPluginOptions)), (registration.Kind, registration.Name, registration.OptionsType));
        var a = RecordingSimulation.Run(registry.Create<FooPlugin>(PluginKind.Workload, "foo-plugin", seed: 3));
        var b = RecordingSimulation.Run(new FooPlugin(new FooPluginOptions(), seed: 3));
        Assert.Equal(b.Accesses, a.Accesses);
    }
}
