using System.Text.Json.Nodes;

namespace VmLab.Cli.Tests;

/// <summary>Every scenario under configs/scenarios runs through `vmlab run` and every expectation in it holds.</summary>
public sealed class ScenarioTests
{
    public static TheoryData<string> Scenarios()
    {
        var data = new TheoryData<string>();
        foreach (var f in Directory.GetFiles(Cli.Repo("configs", "scenarios"), "*.vms").Order(StringComparer.Ordinal))
            data.Add(Path.GetFileName(f));
        return data;
    }

    [Theory]
    [MemberData(nameof(Scenarios))]
    public void ScenarioRunsWithEveryExpectationHolding(string scenario)
    {
        // The TLB coherence checker is on: a stale translation anywhere fails the scenario.
        var r = Cli.Run("run", Cli.Repo("configs", "scenarios", scenario), "--json", "-", "--set", "machine:checks:tlb=true", "--set", "machine:checks:invariants=true", "--set", "machine:checks:every=64");
        Assert.True(r.ExitCode == 0, r.Stderr);
        var expectations = JsonNode.Parse(r.Stdout)!["expectations"]!;
        Assert.Equal(0, expectations["failed"]!.GetValue<int>());
        Assert.True(expectations["passed"]!.GetValue<int>() >= 2, "a scenario asserts what it shows");
    }

    [Fact]
    public void ThereAreAtLeastFifteenScenarios() => Assert.True(Scenarios().Count >= 15);

    [Fact]
    public void TheLinuxPersonalityConfigRunsAsItIs()
    {
        var r = Cli.Run("run", Cli.Repo("configs", "linux-x86-64.json"));
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Contains("expectations: 9 passed, 0 failed", r.Stdout);
    }

    [Fact]
    public void AFailedExpectationExitsOneAndSaysFileLineExpectedAndActual()
    {
        using var s = new Scratch();
        string path = s.File("wrong.vms", "process p\np mmap a 2p rw private\np write every page of a value 1\nexpect p minflt == 3\n");
        var r = Cli.Run("run", path);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains($"{path}:4: expectation failed: expected p minflt == 3, got 2", r.Stderr);
    }

    [Fact]
    public void AKernelAddressReturnedByKmallocIsShownInHexNotAsANegativeNumber()
    {
        using var s = new Scratch();
        string path = s.File("kmalloc.vms", "process p\np kmalloc buf 64\nexpect p ret == 0\n");
        var r = Cli.Run("run", path);
        Assert.Equal(1, r.ExitCode);
        Assert.Matches($@"{System.Text.RegularExpressions.Regex.Escape(path)}:3: expectation failed: expected p ret == 0, got 0xffff[0-9a-f]{{12}}\n", r.Stderr.Replace("\r", "", StringComparison.Ordinal));
        Assert.DoesNotContain("got -", r.Stderr);
    }

    [Fact]
    public void ACounterNothingOnThisMachineRegistersFailsItsExpectationInsteadOfReadingZero()
    {
        using var s = new Scratch();
        // x86-64 has no vmalloc-sync faults: no component registers the counter, so "== 0" must not pass by default.
        string path = s.File("vmalloc.vms", "process p\np mmap a 1p rw private\np write a 1\nexpect metric faults.vmalloc_sync == 0\nexpect metric my.plugin.counter == 0\nexpect metric faults.total == 1\n");
        var r = Cli.Run("run", path);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains($"{path}:4: expectation failed: expected metric faults.vmalloc_sync == 0, got nothing: metric faults.vmalloc_sync is not registered on this machine", r.Stderr);
        Assert.Contains($"{path}:5: expectation failed: expected metric my.plugin.counter == 0, got nothing: metric my.plugin.counter is not registered", r.Stderr);
        Assert.DoesNotContain($"{path}:6:", r.Stderr);
    }

    [Fact]
    public void AMisspelledMetricInAnExpectationSuggestsTheNearestName()
    {
        using var s = new Scratch();
        string path = s.File("typo.vms", "process p\np mmap a 1p rw private\np write a 1\nexpect metric tlb.miss == 1\n");
        var r = Cli.Run("run", path);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains($"{path}:4:", r.Stderr);
        Assert.Contains("unknown metric 'tlb.miss'; did you mean 'tlb.misses'?", r.Stderr);
    }

    [Theory]
    [InlineData("process p\np mmap a 2p rw private\np frobnicate a\n", 3, 3, "unknown verb 'frobnicate'")]
    [InlineData("process p\nq write 0x10 1\n", 2, 1, "unknown process 'q'")]
    [InlineData("process p\np write b+4 1\n", 2, 9, "unknown region 'b'")]
    [InlineData("process p\np mmap a 2p rwz private\n", 2, 13, "expected a protection")]
    [InlineData("process p\np mmap a lots rw\n", 2, 10, "a positive size")]
    [InlineData("process p\nexpect p minflt = 3\n", 2, 17, "expected a comparison")]
    [InlineData("process p\np sigaction SIGKILL handler skip\n", 2, 13, "SIGKILL cannot be caught")]
    [InlineData("process p\np write 0x10 0x1234\n", 2, 14, "does not fit in 1 byte")]
    [InlineData("banana\n", 1, 1, "unknown statement 'banana'")]
    [InlineData("process p\np mmap a 4p rw private\np kfree a\n", 3, 9, "region 'a' was not made by kmalloc")]
    [InlineData("process p\np kfree b\n", 2, 9, "unknown region 'b': kmalloc it first")]
    [InlineData("process p\nexpect metric faults.totl == 0\n", 2, 15, "unknown metric 'faults.totl'; did you mean 'faults.total'?")]
    [InlineData("process p\nexpect metric tlb.mises == 0\n", 2, 15, "unknown metric 'tlb.mises'; did you mean 'tlb.misses'?")]
    [InlineData("process p\nexpect metric Faults.Total == 0\n", 2, 15, "'Faults.Total' is not a metric name")]
    public void SyntaxErrorsExitTwoWithFileLineAndColumn(string text, int line, int column, string message)
    {
        using var s = new Scratch();
        string path = s.File("bad.vms", text);
        var r = Cli.Run("run", path);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains($"{path}:{line}:{column}: ", r.Stderr);
        Assert.Contains(message, r.Stderr);
        Assert.DoesNotContain("   at ", r.Stderr);
    }

    [Fact]
    public void ADoubleKfreeExitsTwoAtItsLine()
    {
        using var s = new Scratch();
        string path = s.File("df.vms", "process p\np kmalloc a 8p\np kfree a\np kfree a\n");
        var r = Cli.Run("run", path);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains($"{path}:4: region 'a' was freed already (a double kfree)", r.Stderr);
        Assert.DoesNotContain("   at ", r.Stderr);
    }

    [Fact]
    public void AMemcpyWhoseRangesOverlapExitsTwoAtItsLine()
    {
        using var s = new Scratch();
        string path = s.File("mc.vms", "process p\np mmap a 2p rw private\np memcpy a+8 a 100\n");
        var r = Cli.Run("run", path);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains($"{path}:3: memcpy's source", r.Stderr);
        Assert.Contains("overlap, which C leaves undefined", r.Stderr);
        Assert.DoesNotContain("   at ", r.Stderr);
    }

    [Fact]
    public void NamingAChildWhoseForkFailedExitsTwoAndSaysWhichStatementFailed()
    {
        // 15 free frames: the top-level table, 11 pages and their 3 tables leave none for the child's top level.
        using var s = new Scratch();
        string path = s.File("sb.vms", "#! --set machine:memory:frames=16\nprocess p\np mmap a 11p rw private\np write every page of a value 1\np fork c\nexpect p ret == -ENOMEM\nc write a 2\n");
        var r = Cli.Run("run", path);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains($"{path}:7: process 'c' does not exist: the statement at line 5 that would have created it failed (ENOMEM)", r.Stderr);
        Assert.DoesNotContain("   at ", r.Stderr);
    }

    [Fact]
    public void CheckFindsScenarioErrorsWithoutRunning()
    {
        using var s = new Scratch();
        string path = s.File("bad.vms", "process p\np mmap a 2p rw private\np write a\n");
        var r = Cli.Run("check", path);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains($"{path}:3:", r.Stderr);
        Assert.Contains("the value to write", r.Stderr);
    }

    [Fact]
    public void AHeaderLineSetsTheScenariosOwnOptionsAndTheCommandLineWins()
    {
        using var s = new Scratch();
        string path = s.File("h.vms", "#! --set machine:tlb:options:entries=8\nprocess p\np write 0x10 1\nexpect p killed SIGSEGV\n");
        var r = Cli.Run("run", path, "--json", "-");
        Assert.Equal(0, r.ExitCode);
        Assert.Equal(8, System.Text.Json.Nodes.JsonNode.Parse(r.Stdout)!["config"]!["machine"]!["tlb"]!["options"]!["entries"]!.GetValue<int>());
        r = Cli.Run("run", path, "--json", "-", "--set", "machine:tlb:options:entries=4");
        Assert.Equal(4, System.Text.Json.Nodes.JsonNode.Parse(r.Stdout)!["config"]!["machine"]!["tlb"]!["options"]!["entries"]!.GetValue<int>());
    }

    [Fact]
    public void ABadHeaderLineIsBadInputAtItsLine()
    {
        using var s = new Scratch();
        string path = s.File("h.vms", "#! --set machine:cpus=1\n#! --frobnicate\nprocess p\n");
        var r = Cli.Run("run", path);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains($"{path}:2: a '#!' header line takes --machine", r.Stderr);
    }

    [Fact]
    public void MissingScenarioFileIsBadInput()
    {
        var r = Cli.Run("run", "/nonexistent/x.vms");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("scenario file not found", r.Stderr);
    }

    [Fact]
    public void AScenarioNeedsAnExistingCpu()
    {
        using var s = new Scratch();
        string path = s.File("cpu.vms", "process p cpu 5\n");
        var r = Cli.Run("run", path);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("cpu 5 does not exist", r.Stderr);
    }

    [Theory]
    [InlineData("check")]
    [InlineData("run")]
    public void KernelMemoryOnAFormatWithoutAKernelHalfIsRefusedAtItsLineByCheckAndRunAlike(string command)
    {
        using var s = new Scratch();
        string path = s.File("k.vms", "process p\np mmap a 1p rw private\np write a 1\np kmalloc k 1p\n");
        var r = Cli.Run(command, path, "--machine", Cli.Repo("configs", "pt-hashed.json"));
        Assert.Equal(2, r.ExitCode);
        Assert.Contains($"{path}:4: kernel memory (kmalloc, vmalloc, kernel accesses, kernel threads) is not modelled for the hashed page-table format", r.Stderr);
        Assert.DoesNotContain("   at ", r.Stderr);
    }

    [Fact]
    public void ScenarioEventsReachTheRunsEventsInOrderWithTheKernels()
    {
        using var s = new Scratch();
        string path = s.File("e.vms", "process p\np mmap a 4p rw private\np write every page of a value 1\np track a\np write a+1p 2\np dirtylog\np write 0x10 1\n");
        var r = Cli.Run("run", path, "--json", "-");
        Assert.Equal(0, r.ExitCode);
        using var json = System.Text.Json.JsonDocument.Parse(r.Stdout);
        var events = json.RootElement.GetProperty("events").EnumerateArray().Select(e => e.GetString()!).ToList();
        int dirty = events.FindIndex(e => e.StartsWith($"{path}:6: p dirty pages: 0x", StringComparison.Ordinal));
        int signal = events.FindIndex(e => e.StartsWith("signal pid", StringComparison.Ordinal));
        Assert.True(dirty >= 0, string.Join("\n", events));
        Assert.True(signal > dirty, string.Join("\n", events)); // the kernel's SIGSEGV came after the dirty log
    }

    [Fact]
    public void AStatementMadeByAProcessThatWasKilledIsAnErrorAtItsLine()
    {
        using var s = new Scratch();
        string path = s.File("dead.vms", "process p\np write 0x10 1\nexpect p killed SIGSEGV\np mmap a 1p rw private\n");
        var r = Cli.Run("run", path);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains($"{path}:4: process 'p' was killed by SIGSEGV: a process that no longer runs makes no system calls and no accesses", r.Stderr);
    }

    [Fact]
    public void MadviseOnAKmallocAddressIsEnomemAndLeavesKernelMemoryAlone()
    {
        using var s = new Scratch();
        string path = s.File("m.vms", "#! --set machine:checks:invariants=true\nprocess p\np kmalloc k 1p\np kwrite k 0x55\np madvise k dontneed\nexpect p ret == -ENOMEM\np kread k\nexpect p value == 0x55\n");
        var r = Cli.Run("run", path);
        Assert.True(r.ExitCode == 0, r.Stdout + r.Stderr);
        Assert.Contains("expectations: 2 passed, 0 failed", r.Stdout);
    }
}
