using Microsoft.Extensions.DependencyInjection;
using VmLab.Abstractions;
using VmLab.Abstractions.Workloads;
using VmLab.Core;
using VmLab.Host.Config;
using VmLab.Host.Plugins;
using VmLab.Host.Running;

namespace VmLab.Host.Tests.Replacement;

/// <summary>
/// Many random runs of processes that write, read, fork, drop pages and exit under a tight user-frame limit, so pages
/// go to swap and come back all the time. Every read returns what that process last wrote (swap, the swap cache and
/// copy-on-write keep data), and when every process has exited no frame and no swap slot is left in use.
/// </summary>
public sealed class ReclaimInvariantTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData("fifo", 1)]
    [InlineData("lru", 2)]
    [InlineData("clock", 3)]
    [InlineData("nru", 4)]
    [InlineData("two-list", 5)]
    [InlineData("wsclock", 6)]
    [InlineData("arc", 7)]
    [InlineData("car", 8)]
    [InlineData("2q", 9)]
    [InlineData("lirs", 10)]
    [InlineData("random", 11)]
    [InlineData("sieve", 12)]
    [InlineData("s3-fifo", 13)]
    [InlineData("lfu-aging", 14)]
    [InlineData("clock-pro", 15)]
    [InlineData("mglru", 16)]
    [InlineData("clock-pro", 17, "{ \"variant\": \"paper\", \"adaptive\": true }")]
    public void DataSurvivesSwapAndNothingLeaksWhenEveryProcessExits(string policy, int seed, string options = "{}")
    {
        _dir.File("t.lackey", " L 1000,1\n");
        string config = _dir.File("c.json", $$"""
            { "seed": {{seed}},
              "machine": { "memory": { "frames": 1024, "swapSlots": 4096, "userFrames": 12 }, "replacement": { "plugin": "{{policy}}", "options": {{options}} } },
              "workload": { "plugin": "lackey", "options": { "path": "t.lackey" } } }
            """);
        var experiment = new ExperimentLoader(PluginCatalog.CreateDefault()).Load(config);
        using var services = ExperimentRunner.Compose(experiment);
        var machine = services.GetRequiredService<Machine>();
        var api = machine.KernelApi;
        var random = new Random(seed);
        const int Pages = 24;

        int first = api.Spawn();
        ulong start = (ulong)api.Mmap(first, 0, Pages * 4096, Protection.ReadWrite, MapFlags.Private | MapFlags.Anonymous);
        var shadow = new Dictionary<int, byte[]> { [first] = new byte[Pages] };

        for (int step = 0; step < 4000; step++)
        {
            var pids = shadow.Keys.Order().ToList();
            int pid = pids[random.Next(pids.Count)];
            int page = random.Next(Pages);
            ulong address = start + (ulong)page * 4096 + 40;
            int op = random.Next(100);
            if (op < 45)
            {
                byte value = (byte)random.Next(1, 256);
                var w = api.Access(pid, 0, address, AccessKind.Write, 1, value);
                Assert.True(w.Status == AccessStatus.Ok, $"step {step}: {w.Status}; {string.Join("; ", machine.Kernel.Events.Select(e => e.Message))}");
                shadow[pid][page] = value;
            }
            else if (op < 90)
            {
                var r = api.Access(pid, 0, address, AccessKind.Read, 1, 0);
                Assert.True(r.Status == AccessStatus.Ok, $"step {step}: {r.Status}; {string.Join("; ", machine.Kernel.Events.Select(e => e.Message))}");
                Assert.True(r.Value == shadow[pid][page], $"step {step}: pid {pid} page {page} read {r.Value}, wrote {shadow[pid][page]}");
            }
            else if (op < 94 && shadow.Count < 4)
            {
                int child = api.Fork(pid);
                shadow[child] = (byte[])shadow[pid].Clone();
            }
            else if (op < 97)
            {
                api.MadviseDontNeed(pid, start + (ulong)page * 4096, 4096);
                shadow[pid][page] = 0;
            }
            else if (shadow.Count > 1)
            {
                api.Exit(pid, 0);
                shadow.Remove(pid);
            }
        }
        foreach (var pid in shadow.Keys) api.Exit(pid, 0);

        Assert.Equal(0, machine.Frames.ResidentUserFrames);
        Assert.Equal(0, machine.Frames.PageTableFrames);
        Assert.Equal(0, machine.Kernel.Swap.SlotsInUse);
        Assert.Equal(machine.Frames.FrameCount - 1, machine.Frames.FreeFrames);
        Assert.True(machine.Metrics["swap.ins"] > 100, "the run swapped");
    }
}
