using Xunit.Abstractions;

namespace VmLab.Cli.Tests;

/// <summary>
/// A theory that runs only where the Linux oracle can: on Linux with gcc. Elsewhere it is skipped, and the skip
/// states why (xUnit 2 decides skips when it discovers tests, so the reason is set here rather than thrown).
/// </summary>
public sealed class LinuxOracleTheoryAttribute : TheoryAttribute
{
    public LinuxOracleTheoryAttribute()
    {
        if (LinuxOracle.Unavailable is { } reason) Skip = reason;
    }
}

/// <summary>
/// Every figure a probe in tests/linux-oracle/ measures on the real kernel equals the figure VmLab reports for the
/// expectation of the paired scenario tagged with the same key (docs/linux-fidelity.md).
/// </summary>
public sealed class LinuxOracleTests(LinuxOracle oracle, ITestOutputHelper output) : IClassFixture<LinuxOracle>
{
    public static TheoryData<string> Probes()
    {
        var data = new TheoryData<string>();
        foreach (var p in LinuxOracle.Probes()) data.Add(p);
        return data;
    }

    [LinuxOracleTheory]
    [MemberData(nameof(Probes))]
    public void LinuxAndVmLabReportTheSameFigures(string probe)
    {
        var vmlab = oracle.RunScenario(probe);
        output.WriteLine($"{probe} (linked {oracle.Linking}; kernel: {string.Join(", ", oracle.Kernel.Select(k => $"{k.Key} {k.Value}"))})");
        // Linux's counts carry an occasional fault no probe asked for: oracle-fork-parent-writes measured 1,001 instead
        // of 1,000 faults in 2 of 30 runs on an idle machine, from a cause not found. A probe is therefore run again when
        // a run disagrees, up to MeasuredRuns times; the figures must equal VmLab's exactly in one whole run, and every
        // run's disagreements are reported when none does, so a real difference still fails every time.
        const int MeasuredRuns = 3;
        var failures = new List<string>();
        for (int run = 1; run <= MeasuredRuns; run++)
        {
            var linux = oracle.RunProbe(probe);
            output.WriteLine($" run {run}:");
            foreach (var (key, value) in linux.OrderBy(k => k.Key, StringComparer.Ordinal))
                output.WriteLine($"  {key}: Linux {value}, VmLab {vmlab.FirstOrDefault(f => f.Key == key)?.Shown ?? "-"}");
            var disagreements = LinuxOracle.Compare(probe, linux, vmlab);
            if (disagreements.Count == 0) return;
            failures.AddRange(disagreements.Select(d => $"run {run}: {d}"));
        }
        Assert.Fail(string.Join("\n", failures));
    }

    [Fact]
    public void EveryProbeHasItsScenarioAndEveryScenarioWithLinuxTagsHasItsProbe()
    {
        var probes = LinuxOracle.Probes().ToList();
        Assert.True(probes.Count >= 14, "the oracle covers at least every row of the semantics' oracle table");
        foreach (var p in probes)
        {
            Assert.True(File.Exists(LinuxOracle.ScenarioOf(p)), $"probe {p}.c has no scenario configs/scenarios/{p}.vms");
            Assert.NotEmpty(LinuxOracle.Tags(LinuxOracle.ScenarioOf(p)));
        }
        foreach (var vms in Directory.GetFiles(Cli.Repo("configs", "scenarios"), "*.vms"))
            if (LinuxOracle.Tags(vms).Count > 0)
                Assert.Contains(Path.GetFileNameWithoutExtension(vms), probes);
    }

    [Fact]
    public void AFigureThatDiffersFailsNamingTheProbeTheFigureLinuxsValueAndVmLabs()
    {
        var vmlab = LinuxOracle.Derive("child.minflt", "child minflt == 1000", true, "999", "x.vms:7").ToList();
        var failures = LinuxOracle.Compare("fork-probe", new Dictionary<string, string> { ["child.minflt"] = "1000" }, vmlab);
        Assert.Equal(["fork-probe: figure 'child.minflt': Linux 1000, VmLab 999 (x.vms:7)"], failures);
    }

    [Fact]
    public void AProbeFigureNoExpectationReportsAndATagThatMatchesNoProbeFigureBothFail()
    {
        var vmlab = LinuxOracle.Derive("ret", "p ret == -EFAULT", true, "-EFAULT (-14)", "x.vms:3").ToList();
        var failures = LinuxOracle.Compare("pipe-probe", new Dictionary<string, string> { ["queued"] = "0" }, vmlab);
        Assert.Contains("pipe-probe: figure 'queued': Linux 0, VmLab reports nothing (tag an expectation with '# linux: queued')", failures);
        Assert.Contains("pipe-probe: x.vms:3 is tagged 'ret' but the probe reports none of them", failures);
    }

    [Fact]
    public void ASignalExpectationGivesSignalCodeAddressOffsetAndWhetherSiAddrWasTheFaultingAddress()
    {
        var figures = LinuxOracle.Derive("signal", "p signal SIGSEGV code SEGV_ACCERR addr ro+5", true, "SIGSEGV code 2 addr 0x7ffff7fff005", "x.vms:5")
            .ToDictionary(f => f.Key, f => f.Value);
        Assert.Equal(11, figures["signal.signo"]);
        Assert.Equal(2, figures["signal.code"]);
        Assert.Equal(5, figures["signal.addr_in_page"]);
        Assert.Equal(1, figures["signal.addr_is_fault"]);
        // The same signal at another address: the expectation failed, so si_addr was not the faulting address.
        var other = LinuxOracle.Derive("signal", "p signal SIGSEGV code SEGV_ACCERR addr ro+5", false, "SIGSEGV code 2 addr 0x7ffff7fff006", "x.vms:5")
            .ToDictionary(f => f.Key, f => f.Value);
        Assert.Equal(0, other["signal.addr_is_fault"]);
        Assert.Equal(0, LinuxOracle.Derive("signal", "p no signal", true, "no signal", "x.vms:6").Single().Value);
    }

    [Fact]
    public void AnEndGivesTheTerminatingSignalOrTheExitCode()
    {
        Assert.Equal(11, LinuxOracle.Derive("killed", "p killed SIGSEGV core", true, "killed by SIGSEGV (core dumped)", "x.vms:1").Single().Value);
        var exited = LinuxOracle.Derive("child", "child exited 0", true, "exited with 3", "x.vms:2").ToDictionary(f => f.Key, f => f.Value);
        Assert.Equal(0, exited["child.signo"]);
        Assert.Equal(3, exited["child.exit"]);
    }

    [Fact]
    public void APageExpectationGivesWhetherThePageHasTheStateAndAFrameComparisonWhetherTheFramesAreTheSame()
    {
        Assert.Equal(1, LinuxOracle.Derive("w", "p page a exclusive", true, "present, exclusive, frame 0x12", "x.vms:1").Single().Value);
        // "not exclusive" that held: the page is not exclusive, figure 0 (the probe prints the bit, not the expectation).
        Assert.Equal(0, LinuxOracle.Derive("c", "c page a not exclusive", true, "present, frame 0x12", "x.vms:2").Single().Value);
        Assert.Equal(0, LinuxOracle.Derive("u", "p page a+2p not present", true, "not present", "x.vms:3").Single().Value);
        Assert.Equal(1, LinuxOracle.Derive("s", "p page a swapped", true, "swapped, slot 3", "x.vms:4").Single().Value);
        Assert.Equal(1, LinuxOracle.Derive("f", "c page a frame == p page a frame", true, "frame 0x12; frame 0x12", "x.vms:5").Single().Value);
        Assert.Equal(0, LinuxOracle.Derive("f", "c page a frame == p page a frame", false, "frame 0x12; frame 0x13", "x.vms:6").Single().Value);
    }

    [Fact]
    public void AReturnComparedWithARegionGivesWhetherTheComparisonHeld()
    {
        Assert.Equal(1, LinuxOracle.Derive("moved", "p ret != g", true, "0x7ffff7fd0000", "x.vms:1").Single().Value);
        Assert.Equal(0, LinuxOracle.Derive("same", "p ret == a", false, "0x7ffff7fd0000", "x.vms:2").Single().Value);
        Assert.Equal(-22, LinuxOracle.Derive("bad", "p ret == -EINVAL", true, "-EINVAL (-22)", "x.vms:3").Single().Value);
    }

    [Fact]
    public void AProbeLineThatIsNotKeyAndNumberIsRefused()
    {
        var e = Assert.Throws<InvalidOperationException>(() => LinuxOracle.ParseFigures("p", "minflt 3\nsomething odd here\n"));
        Assert.Contains("probe p printed 'something odd here'", e.Message);
        Assert.Equal("18446744071578845184", LinuxOracle.ParseFigures("p", "signal.addr 18446744071578845184\n")["signal.addr"]);
    }
}
