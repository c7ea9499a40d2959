namespace VmLab.Cli.Tests;

/// <summary>The Slurm scripts' checks of their arguments, which need no cluster: bad input exits 2 with what to pass, before anything runs.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class SlurmScriptArgumentTests : IDisposable
{
    private readonly Scratch _s = new();

    public void Dispose() => _s.Dispose();

    private (int Exit, string Err) Script(string script, Dictionary<string, string> env, params string[] args)
    {
        var psi = new System.Diagnostics.ProcessStartInfo("bash", [Cli.Repo("docs", "scaling", script), .. args])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = _s.Dir,
        };
        // A vmlab or sbatch that ran would leave this file: the checks come first.
        psi.Environment["VMLAB"] = $"touch {_s.PathOf("ran")}";
        psi.Environment["PATH"] = _s.Dir + ":" + Environment.GetEnvironmentVariable("PATH");
        _s.File("sbatch", $"#!/bin/sh\ntouch {_s.PathOf("ran")}\necho 1\n");
        File.SetUnixFileMode(_s.PathOf("sbatch"), (UnixFileMode)0b111_101_101);
        foreach (var (k, v) in env) psi.Environment[k] = v;
        using var p = System.Diagnostics.Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, err.Result);
    }

    [Theory]
    [InlineData("slurm-sweep.sh", "4", "3", "array task id '4' is not a shard of 3: submit with --array ids from 1 to 3")]
    [InlineData("slurm-sweep.sh", "0", "3", "array task id '0' is not a shard of 3")]
    [InlineData("slurm-sweep.sh", "", "3", "array task id '' is not a shard of 3")]
    [InlineData("slurm-sweep.sh", "1", "three", "<N> (the third argument) is the number of shards, a whole number >= 1; got 'three'")]
    [InlineData("slurm-submit.sh", "", "0", "<N> is the number of shards, a whole number >= 1; got '0'")]
    [InlineData("slurm-merge.sh", "", "x", "<N> is the number of shards, a whole number >= 1; got 'x'")]
    public void ABadShardOrCountExits2SayingWhatToPassAndRunsNothing(string script, string taskId, string n, string message)
    {
        var env = new Dictionary<string, string> { ["SLURM_ARRAY_TASK_ID"] = taskId };
        string[] args = script == "slurm-merge.sh" ? [_s.PathOf("results"), n] : [_s.PathOf("sweep.json"), _s.PathOf("results"), n];
        var r = Script(script, env, args);
        Assert.Equal(2, r.Exit);
        Assert.Contains(message, r.Err);
        Assert.False(File.Exists(_s.PathOf("ran")));
        Assert.False(Directory.Exists(_s.PathOf("results")));
    }

    [Fact]
    public void TooFewArgumentsPrintTheUsage()
    {
        var r = Script("slurm-sweep.sh", [], _s.PathOf("sweep.json"), _s.PathOf("results"));
        Assert.Equal(2, r.Exit);
        Assert.Contains("usage: sbatch --array=1-N [sbatch options] slurm-sweep.sh <sweep.json> <results-folder> <N> [vmlab sweep options]", r.Err);
    }
}
