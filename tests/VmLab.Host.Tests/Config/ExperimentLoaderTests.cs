using VmLab.Host.Config;
using VmLab.Host.Plugins;

namespace VmLab.Host.Tests.Config;

public sealed class ExperimentLoaderTests : IDisposable
{
    private readonly TempDir _dir = new();
    private readonly string _trace;

    public ExperimentLoaderTests()
    {
        _trace = _dir.File("t.lackey", "I  00400000,4\n S 7fff0000,8\n");
    }

    public void Dispose() => _dir.Dispose();

    private static ExperimentLoader Loader() => new(PluginCatalog.CreateDefault());

    private string Config(string machine = "", string workloadOptions = "\"path\": \"t.lackey\"") => _dir.File("exp.json", $$"""
        {
          "name": "x",
          "machine": {
            {{machine}}
            "tlb": { "plugin": "fully-associative", "options": { "entries": 16 } }
          },
          "workload": { "plugin": "lackey", "options": { {{workloadOptions}} } }
        }
        """);

    private static System.Text.Json.Nodes.JsonNode Tlb(Experiment e) => e.ResolvedConfig["machine"]!["tlb"]!["options"]!;

    private static ConfigError SingleError(Action load)
    {
        var e = Assert.Throws<ConfigException>(load);
        return Assert.Single(e.Errors);
    }

    [Fact]
    public void ValidConfigResolvesPluginsAndFillsDefaults()
    {
        var e = Loader().Load(Config());
        Assert.Equal("fully-associative", e.Tlb.Plugin.Name);
        Assert.Equal(16, Tlb(e)["entries"]!.GetValue<int>());
        Assert.Equal("x86-64", e.PageTable.Plugin.Name);
        Assert.Equal(["cow", "demand-zero"], e.FaultHandlers.Select(h => h.Plugin.Name));
        Assert.Equal("lru", e.ResolvedConfig["machine"]!["tlb"]!["options"]!["policy"]!.GetValue<string>());
        Assert.Equal(262144, e.ResolvedConfig["machine"]!["memory"]!["frames"]!.GetValue<long>());
    }

    [Fact]
    public void SchemaKeyAtTheTopIsIgnoredAndAMisspellingOfItIsStillAnUnknownKey()
    {
        string config = File.ReadAllText(Config());
        string with = _dir.File("with-schema.json", config.Replace("\"name\": \"x\",", "\"$schema\": \"../schemas/experiment.schema.json\", \"name\": \"x\","));
        var e = Loader().Load(with);
        Assert.Equal("x", e.Name);
        Assert.Null(e.ResolvedConfig["$schema"]);

        string misspelled = _dir.File("schemas.json", config.Replace("\"name\": \"x\",", "\"$schemas\": \"x\", \"name\": \"x\","));
        Assert.Contains("$schemas: unknown key '$schemas'", SingleError(() => Loader().Load(misspelled)).Message);
        // Only at the top: inside the machine it is a key like any other.
        string nested = _dir.File("nested.json", config.Replace("\"machine\": {", "\"machine\": { \"$schema\": \"x\","));
        Assert.Contains("machine:$schema: unknown key '$schema'", SingleError(() => Loader().Load(nested)).Message);
    }

    [Fact]
    public void SetOverrideReplacesAFileValue()
    {
        var e = Loader().Load(Config(), ["machine:tlb:options:entries=128", "machine:tlb:options:policy=fifo"]);
        Assert.Equal(128, Tlb(e)["entries"]!.GetValue<int>());
        Assert.Equal("fifo", Tlb(e)["policy"]!.GetValue<string>());
    }

    [Theory]
    [InlineData("machine:tlb=garbage", "machine:tlb: expected an object ({ ... }), got the value \"garbage\"; set one of its keys instead, e.g. machine:tlb:plugin=...")]
    [InlineData("machine:tlb=", "machine:tlb: expected an object ({ ... }), got the value \"\"")]
    [InlineData("machine:memory=1", "machine:memory: expected an object ({ ... }), got the value \"1\"")]
    [InlineData("machine:tlb:options=big", "machine:tlb:options: expected an object ({ ... }), got the value \"big\"")]
    [InlineData("machine:faultHandlers=cow", "machine:faultHandlers: expected an array ([ ... ]), got the value \"cow\"")]
    public void AScalarSetOverAnObjectOfTheFileIsAnErrorNamingTheKey(string set, string expected)
    {
        // The file has the object (tlb, its options, memory defaults, fault handlers); the scalar used to be ignored.
        string config = Config(machine: "\"memory\": { \"frames\": 4096 }, \"faultHandlers\": [ { \"plugin\": \"demand-zero\" } ],");
        var e = Assert.Throws<ConfigException>(() => Loader().Load(config, [set]));
        Assert.Contains(e.Errors, err => err.Message.StartsWith(expected, StringComparison.Ordinal) && err.Where == "--set " + set[..set.IndexOf('=')]);
    }

    [Fact]
    public void MalformedJsonReportsFileLineAndColumn()
    {
        string path = _dir.File("bad.json", "{\n  \"name\": \"x\",\n  \"seed\": ,\n}");
        var error = SingleError(() => Loader().Load(path));
        Assert.Equal($"{path}:3:11", error.Where);
        Assert.Contains("malformed JSON", error.Message);
    }

    [Fact]
    public void UnknownKeyNamesItsPathPositionAndTheNearestName()
    {
        var error = SingleError(() => Loader().Load(Config(workloadOptions: "\"path\": \"t.lackey\", \"pdi\": 3")));
        Assert.Equal($"{_dir.PathName}/exp.json:7:77", error.Where); // the value of "pdi"
        Assert.Contains("workload:options:pdi", error.Message);
        Assert.Contains("did you mean 'pid'?", error.Message);
    }

    [Fact]
    public void UnknownPluginListsTheKnownOnesAndSuggests()
    {
        var error = SingleError(() => Loader().Load(Config(), ["machine:tlb:plugin=fully-asociative"]));
        Assert.Equal("--set machine:tlb:plugin", error.Where);
        Assert.Contains("unknown tlb plugin 'fully-asociative'", error.Message);
        Assert.Contains("did you mean 'fully-associative'?", error.Message);
    }

    [Fact]
    public void WrongTypeSaysWhatIsExpected()
    {
        var error = SingleError(() => Loader().Load(Config(), ["machine:tlb:options:entries=many"]));
        Assert.Contains("machine:tlb:options:entries: expected an integer, got \"many\"", error.Message);
    }

    [Fact]
    public void AJsonBooleanWhereANumberBelongsIsShownAsWritten()
    {
        // The configuration tree holds a JSON true as the text "True"; the error shows what the file says.
        var error = SingleError(() => Loader().Load(Config(workloadOptions: "\"path\": \"t.lackey\", \"start\": true")));
        Assert.EndsWith("exp.json:7:79", error.Where);
        Assert.Contains("workload:options:start: expected an integer, got true", error.Message);
        Assert.DoesNotContain("True", error.Message);
        // Text given with --set is text, shown in quotes as given.
        var set = SingleError(() => Loader().Load(Config(), ["workload:options:start=True"]));
        Assert.Contains("workload:options:start: expected an integer, got \"True\"", set.Message);
    }

    [Fact]
    public void OutOfRangeSaysTheAllowedRange()
    {
        var error = SingleError(() => Loader().Load(Config(), ["machine:tlb:options:entries=0"]));
        Assert.Contains("machine:tlb:options:entries: 0 is out of range; allowed: 1 to 1048576", error.Message);
    }

    [Fact]
    public void BadEnumValueListsTheAllowedValues()
    {
        var error = SingleError(() => Loader().Load(Config(), ["machine:tlb:options:policy=lfu"]));
        Assert.Contains("'lfu' is not allowed", error.Message);
        Assert.Contains("lru, fifo", error.Message);
    }

    [Fact]
    public void MissingTraceFileNamesTheOptionPath()
    {
        var error = SingleError(() => Loader().Load(Config(workloadOptions: "\"path\": \"nope.lackey\"")));
        Assert.StartsWith("workload:options:path: file not found: ", error.Message);
        Assert.EndsWith("nope.lackey", error.Message);
    }

    [Fact]
    public void MissingConfigFileIsAnError()
    {
        var error = SingleError(() => Loader().Load(Path.Combine(_dir.PathName, "absent.json")));
        Assert.Contains("config file not found", error.Message);
    }

    [Fact]
    public void MissingWorkloadIsAnError()
    {
        string path = _dir.File("nowl.json", "{ \"name\": \"x\" }");
        var error = SingleError(() => Loader().Load(path));
        Assert.Contains("workload: is required", error.Message);
    }

    [Fact]
    public void DuplicateKeyIsAnErrorWithItsPosition()
    {
        string path = _dir.File("dup.json", "{\n \"seed\": 1,\n \"seed\": 2\n}");
        var error = SingleError(() => Loader().Load(path));
        Assert.Equal($"{path}:3:2", error.Where);
        Assert.Contains("duplicate key 'seed'", error.Message);
    }

    [Fact]
    public void EveryErrorIsReportedNotOnlyTheFirst()
    {
        var e = Assert.Throws<ConfigException>(() => Loader().Load(Config(), ["machine:tlb:options:entries=0", "machine:cpus=0"]));
        Assert.Equal(2, e.Errors.Count);
    }

    [Fact]
    public void TheMachineSettingsAreOneShapeThatRunsAndIsWrittenBackAsTheResolvedConfig()
    {
        var e = Loader().Load(Config(), ["machine:cpus=3", "machine:checks:invariants=true", "machine:memory:lowWatermark=40",
            "machine:smap=false", "machine:pcids=9"]);
        // What the machine runs with: the bound values, the unset high watermark raised to the low one, the TLB check implied.
        Assert.Equal(typeof(VmLab.Core.MachineOptions), e.Machine.GetType());
        Assert.Equal(3, e.Machine.Cpus);
        Assert.Equal(9, e.Machine.Pcids);
        Assert.Equal(40, e.Machine.Memory.HighWatermark);
        Assert.True(e.Machine.CheckTlb);
        Assert.False(e.Machine.CpuState.Smap);

        // The resolved config is the same record written out: loading it again gives an equal machine.
        string resolved = _dir.File("resolved.json", e.ResolvedConfig.ToJsonString());
        var again = Loader().Load(resolved);
        Assert.Equal(e.Machine, again.Machine);
        var machine = e.ResolvedConfig["machine"]!.AsObject();
        Assert.Equal(40, machine["memory"]!["highWatermark"]!.GetValue<long>());
        Assert.False(machine.ContainsKey("cpuState"));
        Assert.False(machine.ContainsKey("checkTlb"));
    }
}
