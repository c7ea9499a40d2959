using VmLab.Plugins.Timing;
using VmLab.Plugins.Tests.Tlb;

namespace VmLab.Plugins.Tests.Timing;

/// <summary>The timing profile file: the shipped ones load, every malformed one is refused naming the file and the key path.</summary>
public sealed class TimingProfileTests
{
    /// <summary>A complete profile whose costs are distinct, so a cost read under the wrong key shows.</summary>
    internal static string ProfileJson(string cycles = "", string swap = "\"swapDevice\": { \"kind\": \"ssd\" }", string extra = "") => $$"""
        {
          "name": "test",
          "clockGHz": 2.0,
          "sources": ["test figures"],
          "cycles": {
            "tlbHit": [1, 7],
            "walkCacheHit": 3, "memoryAccess": 211, "faultEntryExit": 800, "demandZero": 1201, "zeroPageMap": 307,
            "cowCopy": 2003, "cowReuse": 311, "swapIn": 1511, "fileCacheHit": 601, "fileRead": 50021, "stackGrowth": 401,
            "signalDelivery": 2503, "sigreturn": 1009, "tlbFlush": 203, "tlbFlushPage": 17, "shootdownIpi": 3001, "syscallEntryExit": 151,
            "pageTablePageCopied": 503, "pageUnmapped": 83, "pageProtected": 41, "vmaChange": 47, "reclaimScan": 53, "reclaimEvict": 409{{cycles}}
          },
          {{swap}}{{extra}}
        }
        """;

    [Theory]
    [InlineData("x86-64-golden-cove.json")]
    [InlineData("arm64-neoverse-n2.json")]
    public void EveryShippedProfileLoadsWithEveryCostAndCitesItsSources(string file)
    {
        var p = TimingProfile.Load(Path.Combine(Repo.Root, "configs", "timing", file));
        Assert.Equal(TimingProfile.CycleKeys.Count, p.Cycles.Count);
        Assert.True(p.ClockGHz > 0);
        Assert.True(p.Sources.Count >= 5, "a shipped profile cites where each group of figures comes from");
        Assert.True(p.TlbHit.Count >= 2);
    }

    [Fact]
    public void ACompleteProfileReadsEveryCostUnderItsKey()
    {
        var p = TimingProfile.Parse(ProfileJson(), "p.json");
        Assert.Equal(1201, p["demandZero"]);
        Assert.Equal(3001, p["shootdownIpi"]);
        Assert.Equal(7, p.TlbHitAt(2));
        Assert.Equal(7, p.TlbHitAt(3)); // a level past the list costs the last value
        Assert.Equal(1, p.TlbHitAt(1));
    }

    [Theory]
    [InlineData("zram", 2.0, 3.0)]
    [InlineData("ssd", 80.0, 100.0)]
    [InlineData("hdd", 8000.0, 8000.0)]
    public void ASwapDeviceWithoutLatenciesTakesItsKindsPreset(string kind, double read, double write)
    {
        var p = TimingProfile.Parse(ProfileJson(swap: $"\"swapDevice\": {{ \"kind\": \"{kind}\" }}"), "p.json");
        Assert.Equal(read, p.SwapDevice.ReadMicros);
        Assert.Equal(write, p.SwapDevice.WriteMicros);
        Assert.Equal(read * 1000 * 2.0, p.SwapReadCycles); // µs at the profile's 2 GHz
    }

    [Fact]
    public void ASwapDevicesOwnLatenciesWinOverThePreset()
    {
        var p = TimingProfile.Parse(ProfileJson(swap: "\"swapDevice\": { \"kind\": \"zram\", \"readMicros\": 5.5, \"writeMicros\": 7 }"), "p.json");
        Assert.Equal(5.5, p.SwapDevice.ReadMicros);
        Assert.Equal(7, p.SwapDevice.WriteMicros);
    }

    [Fact]
    public void AMissingCostIsRefusedNamingItsKeyPathAndTheFile()
    {
        string json = ProfileJson().Replace("\"cowCopy\": 2003, ", "", StringComparison.Ordinal);
        var e = Assert.Throws<TimingProfileException>(() => TimingProfile.Parse(json, "host.json"));
        Assert.Equal("cycles:cowCopy", e.KeyPath);
        Assert.Equal("host.json", e.File);
        Assert.Contains("is required", e.Message);
    }

    [Fact]
    public void AProfileWithoutTlbFlushPageIsRefusedNamingTheKeyRatherThanChargingZero()
    {
        // Profiles written before the key existed: a page-granular flush must not silently cost nothing.
        string json = ProfileJson().Replace("\"tlbFlushPage\": 17, ", "", StringComparison.Ordinal);
        Assert.DoesNotContain("tlbFlushPage", json);
        var e = Assert.Throws<TimingProfileException>(() => TimingProfile.Parse(json, "old.json"));
        Assert.Equal("cycles:tlbFlushPage", e.KeyPath);
        Assert.Equal("old.json", e.File);
        Assert.Contains("is required", e.Message);
    }

    [Fact]
    public void ANegativeCostIsRefusedNamingItsKeyPath()
    {
        string json = ProfileJson().Replace("\"sigreturn\": 1009", "\"sigreturn\": -4", StringComparison.Ordinal);
        var e = Assert.Throws<TimingProfileException>(() => TimingProfile.Parse(json, "host.json"));
        Assert.Equal("cycles:sigreturn", e.KeyPath);
        Assert.Contains("-4", e.Message);
        Assert.Contains("at least 0", e.Message);
    }

    [Fact]
    public void AnUnknownKeyIsRefusedWithTheNearestName()
    {
        var e = Assert.Throws<TimingProfileException>(() => TimingProfile.Parse(ProfileJson(cycles: ", \"cowCopi\": 5"), "host.json"));
        Assert.Equal("cycles:cowCopi", e.KeyPath);
        Assert.Contains("did you mean 'cowCopy'", e.Message);
    }

    [Fact]
    public void AnUnknownTopLevelKeyAndAnUnknownSwapDeviceAreRefused()
    {
        var e = Assert.Throws<TimingProfileException>(() => TimingProfile.Parse(ProfileJson(extra: ", \"clock\": 3"), "h.json"));
        Assert.Equal("clock", e.KeyPath);
        e = Assert.Throws<TimingProfileException>(() => TimingProfile.Parse(ProfileJson(swap: "\"swapDevice\": { \"kind\": \"tape\" }"), "h.json"));
        Assert.Equal("swapDevice:kind", e.KeyPath);
        Assert.Contains("zram, ssd, hdd", e.Message);
    }

    [Fact]
    public void AZeroClockAndAnEmptyTlbListAreRefused()
    {
        var e = Assert.Throws<TimingProfileException>(() => TimingProfile.Parse(ProfileJson().Replace("\"clockGHz\": 2.0", "\"clockGHz\": 0", StringComparison.Ordinal), "h.json"));
        Assert.Equal("clockGHz", e.KeyPath);
        e = Assert.Throws<TimingProfileException>(() => TimingProfile.Parse(ProfileJson().Replace("[1, 7]", "[]", StringComparison.Ordinal), "h.json"));
        Assert.Equal("cycles:tlbHit", e.KeyPath);
    }

    [Fact]
    public void MalformedJsonNamesTheFileLineAndColumn()
    {
        var e = Assert.Throws<TimingProfileException>(() => TimingProfile.Parse("{\n  \"name\": \"x\",\n  \"clockGHz\": ,\n}", "bad.json"));
        Assert.StartsWith("bad.json:3:", e.File);
    }
}
