using System.Diagnostics;
using VmLab.Host.Sweeps;

namespace VmLab.Host.Tests.Sweeps;

public sealed class WorkerPoolTests
{
    private static readonly WorkerCommand Sleep = new("sleep", ["30"]);

    private static bool Running(int pid)
    {
        try
        {
            using var p = Process.GetProcessById(pid);
            return !p.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    [Fact]
    public void TakeHandsOutTheWorkerPrestartedForAnEqualCommand()
    {
        using var pool = new WorkerPool();
        pool.Prestart(Sleep, 1);
        int prestarted = Assert.Single(pool.WaitingProcessIds);

        var worker = pool.Take(new WorkerCommand("sleep", ["30"]));

        Assert.Equal(prestarted, worker.ProcessId);
        Assert.Equal(0, pool.Waiting);
        Assert.True(worker.Alive);
        worker.Discard();
        Assert.False(Running(prestarted));
    }

    [Fact]
    public void AWorkerPrestartedForAnotherCommandIsKilledAndANewOneStarted()
    {
        using var pool = new WorkerPool();
        pool.Prestart(new WorkerCommand("sleep", ["31"]), 1);
        int stale = Assert.Single(pool.WaitingProcessIds);

        var worker = pool.Take(Sleep);

        Assert.NotEqual(stale, worker.ProcessId);
        Assert.False(Running(stale));
        Assert.True(worker.Alive);
        worker.Discard();
    }

    [Fact]
    public void DisposingThePoolKillsTheWorkersNeverTakenAtOnce()
    {
        var pool = new WorkerPool();
        pool.Prestart(Sleep, 2);
        var pids = pool.WaitingProcessIds;
        Assert.Equal(2, pids.Count);
        Assert.All(pids, pid => Assert.True(Running(pid)));

        var clock = Stopwatch.StartNew();
        pool.Dispose();

        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"took {clock.Elapsed}"); // killed, not waited out (sleep 30)
        Assert.All(pids, pid => Assert.False(Running(pid)));
        Assert.Equal(0, pool.Waiting);
    }

    [Fact]
    public void AWorkerThatCannotStartIsReportedWhenTakenNotWhenPrestarted()
    {
        var missing = new WorkerCommand(Path.Combine(Path.GetTempPath(), "no-such-vmlab-" + Guid.NewGuid().ToString("N")), []);
        using var pool = new WorkerPool();
        pool.Prestart(missing, 2);
        Assert.Equal(0, pool.Waiting);
        Assert.Throws<System.ComponentModel.Win32Exception>(() => pool.Take(missing));
    }
}
