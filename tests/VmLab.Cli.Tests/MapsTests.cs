using System.Text.Json.Nodes;

namespace VmLab.Cli.Tests;

/// <summary>Raw traces in an address space read from /proc/PID/maps instead of the implicit one.</summary>
public sealed class MapsTests
{
    private static JsonNode Metrics(CliResult r) => JsonNode.Parse(r.Stdout)!["metrics"]!;

    [Fact]
    public void TheRecordedCatTraceStaysInsideItsRecordedMaps()
    {
        var r = Cli.Run("run", Cli.Repo("configs", "lackey-with-maps.json"), "--json", "-");
        Assert.Equal(0, r.ExitCode);
        var m = Metrics(r);
        Assert.Equal(0, m["signals.sigsegv"]!.GetValue<long>());
        Assert.Equal(0, m["signals.sigbus"]!.GetValue<long>());
        Assert.Equal(0, m["accesses.dropped"]!.GetValue<long>());
        var implicitRun = Metrics(Cli.Run("run", Cli.Repo("configs", "lackey-with-maps.json"), "--json", "-", "--set", "workload:options:maps="));
        Assert.Equal(implicitRun["accesses"]!.GetValue<long>(), m["accesses"]!.GetValue<long>());
    }

    [Fact]
    public void RecordedPermissionsRefuseAWriteMadeBeforeALaterMprotect()
    {
        // ld.so writes its RELRO data, then mprotects it read-only; the maps snapshot shows r--p there.
        var r = Cli.Run("run", Cli.Repo("configs", "lackey-with-maps.json"), "--json", "-", "--set", "workload:options:mapsProtections=recorded");
        Assert.Equal(0, r.ExitCode);
        Assert.Equal(1, Metrics(r)["signals.sigsegv"]!.GetValue<long>());
        Assert.Contains("SIGSEGV si_code=SEGV_ACCERR si_addr=0x4032a80", r.Stdout);
    }

    [Fact]
    public void AnAccessOutsideEveryVmaFaultsAsItWouldForReal()
    {
        using var s = new Scratch();
        s.File("t.lackey", " S 00401000,8\n L 00900000,8\n L 00401008,8\n");
        s.File("t.maps", "00400000-00402000 rw-p 00000000 00:00 0 \n");
        string config = s.File("exp.json", """{ "workload": { "plugin": "lackey", "options": { "path": "t.lackey", "maps": "t.maps" } } }""");
        var r = Cli.Run("run", config, "--json", "-");
        Assert.Equal(0, r.ExitCode);
        var m = Metrics(r);
        Assert.Equal(1, m["signals.sigsegv"]!.GetValue<long>());
        Assert.Equal(1, m["accesses.dropped"]!.GetValue<long>());
        Assert.Contains("SIGSEGV si_code=SEGV_MAPERR si_addr=0x900000", r.Stdout);
    }

    [Fact]
    public void AMalformedMapsLineIsBadInputAtItsLine()
    {
        using var s = new Scratch();
        s.File("t.lackey", " L 00401000,8\n");
        string maps = s.File("t.maps", "00400000-00402000 rw-p 00000000 00:00 0\n00402000-junk r--p 0 00:00 0\n");
        string config = s.File("exp.json", """{ "workload": { "plugin": "lackey", "options": { "path": "t.lackey", "maps": "t.maps" } } }""");
        var r = Cli.Run("run", config);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains($"{maps}:2: malformed maps line", r.Stderr);
    }
}
