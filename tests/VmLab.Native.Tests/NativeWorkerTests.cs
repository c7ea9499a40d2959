using System.Diagnostics;
using VmLab.Cli;

namespace VmLab.Native.Tests;

/// <summary>Which command a sweep starts its workers with: the native one beside it when it is there and not switched off.</summary>
public sealed class NativeWorkerTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("vmlab-native-worker-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void AnExecutableNativeCommandBesideTheManagedOneRunsTheWorkersUnlessSwitchedOff()
    {
        string native = Path.Combine(_dir, "vmlab-native");
        Assert.Null(SweepCommand.NativeWorker(_dir, null)); // not there

        File.WriteAllText(native, "#!/bin/sh\n");
        Assert.Null(SweepCommand.NativeWorker(_dir, null)); // not executable

        Process.Start("chmod", ["+x", native])!.WaitForExit();
        Assert.Equal(native, SweepCommand.NativeWorker(_dir, null));
        Assert.Equal(native, SweepCommand.NativeWorker(_dir, "1"));
        Assert.Null(SweepCommand.NativeWorker(_dir, "0"));
    }
}
