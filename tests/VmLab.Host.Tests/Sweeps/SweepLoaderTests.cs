using System.Text.Json.Nodes;
using VmLab.Host.Config;

namespace VmLab.Host.Tests.Sweeps;

public sealed class SweepLoaderTests : IDisposable
{
    private readonly SweepFixture _fx = new();

    public void Dispose() => _fx.Dispose();

    private static int Entries(VmLab.Host.Sweeps.SweepCase c) =>
        c.Experiment.ResolvedConfig["machine"]!["tlb"]!["options"]!["entries"]!.GetValue<int>();

    private static string Policy(VmLab.Host.Sweeps.SweepCase c) =>
        c.Experiment.ResolvedConfig["machine"]!["tlb"]!["options"]!["policy"]!.GetValue<string>();

    [Fact]
    public void MatrixExpandsToTheCrossProductWithIdsFromAxisNamesAndValues()
    {
        var sweep = _fx.Load("""
            {
              "name": "s",
              "base": "base.json",
              "matrix": {
                "machine:tlb:options:policy": ["lru", "fifo"],
                "machine:tlb:options:entries": [16, 32, 64]
              }
            }
            """);

        Assert.Equal("s", sweep.Name);
        Assert.Equal(["policy", "entries"], sweep.Axes.Select(a => a.Name));
        // File order of axes and values drives the expansion order; ids sort the axes by name.
        Assert.Equal(
            ["entries=16,policy=lru", "entries=32,policy=lru", "entries=64,policy=lru",
             "entries=16,policy=fifo", "entries=32,policy=fifo", "entries=64,policy=fifo"],
            sweep.Cases.Select(c => c.Id));
        Assert.Equal([0, 1, 2, 3, 4, 5], sweep.Cases.Select(c => c.Ordinal));
        foreach (var c in sweep.Cases)
        {
            Assert.Equal(c.Id, c.Experiment.Name);
            Assert.Equal($"entries={Entries(c)},policy={Policy(c)}", c.Id);
            Assert.Equal(7UL, c.Experiment.Seed);
            Assert.Equal(4, c.Experiment.ResolvedConfig["machine"]!["pageTable"]!["options"]!["levels"]!.GetValue<int>());
        }
        Assert.Equal("entries=16,policy=lru", sweep.BaselineId);
    }

    [Fact]
    public void TheConfigHashIsTheSha256OfThePortableConfigsJsonText()
    {
        // Databases written before store this hash; a resumed sweep must compute the same one.
        var sweep = _fx.Load("""
            { "name": "h", "base": "base.json", "matrix": { "machine:tlb:options:entries": [4, 8] } }
            """);
        Assert.All(sweep.Cases, c => Assert.Equal(
            Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(VmLab.Host.Sweeps.SweepLoader.PortableConfig(c.Experiment).ToJsonString()))),
            VmLab.Host.Sweeps.SweepLoader.ConfigHash(c.Experiment)));
        Assert.NotEqual(VmLab.Host.Sweeps.SweepLoader.ConfigHash(sweep.Cases[0].Experiment), VmLab.Host.Sweeps.SweepLoader.ConfigHash(sweep.Cases[1].Experiment));
        Assert.True(sweep.Cases[0].Experiment.ResolvedConfig.ContainsKey("pluginPaths"));
    }

    [Fact]
    public void CaseIdsDoNotDependOnTheOrderOfAxesOrValues()
    {
        var a = _fx.Load("""
            { "base": "base.json", "matrix": { "machine:tlb:options:entries": [16, 32], "machine:tlb:options:policy": ["lru", "fifo"] } }
            """);
        var b = _fx.Load("""
            { "base": "base.json", "matrix": { "machine:tlb:options:policy": ["fifo", "lru"], "machine:tlb:options:entries": [32, 16] } }
            """);

        Assert.Equal(a.Cases.Select(c => c.Id).Order(), b.Cases.Select(c => c.Id).Order());
        foreach (var c in a.Cases)
        {
            var same = b.Cases.Single(x => x.Id == c.Id);
            Assert.Equal(c.Experiment.ResolvedConfig.ToJsonString(), same.Experiment.ResolvedConfig.ToJsonString());
        }
        Assert.NotEqual(a.DefinitionHash, b.DefinitionHash); // the expansion order differs, so the definitions differ
    }

    [Fact]
    public void ExcludeDropsMatchingCombinationsAndIncludeAddsCases()
    {
        var sweep = _fx.Load("""
            {
              "base": "base.json",
              "matrix": {
                "machine:tlb:options:entries": [16, 32, 64],
                "machine:tlb:options:policy": ["lru", "fifo"]
              },
              "exclude": [ { "policy": "fifo", "entries": [16, 32] } ],
              "include": [ { "entries": 1024, "machine:tlb:options:policy": "lru" } ],
              "baseline": { "entries": 64, "policy": "fifo" }
            }
            """);

        Assert.Equal(
            ["entries=16,policy=lru", "entries=32,policy=lru", "entries=64,policy=lru", "entries=64,policy=fifo", "entries=1024,policy=lru"],
            sweep.Cases.Select(c => c.Id));
        Assert.Equal(1024, Entries(sweep.Cases[^1]));
        Assert.Equal("entries=64,policy=fifo", sweep.BaselineId);
    }

    [Fact]
    public void ObjectValuesReplaceTheWholeSubtreeOfTheBase()
    {
        // The base TLB says policy fifo; a value for machine:tlb that names no policy gets the plugin default (lru),
        // not the base's fifo merged in.
        var sweep = _fx.Load("""
            {
              "base": "base.json",
              "matrix": {
                "machine:tlb": { "name": "tlb", "values": {
                  "small": { "plugin": "fully-associative", "options": { "entries": 8 } },
                  "big": { "plugin": "fully-associative", "options": { "entries": 512, "policy": "fifo" } } } },
                "machine:pageTable:options:levels": [4, 5]
              }
            }
            """);

        var small = sweep.Cases.Single(c => c.Id == "levels=5,tlb=small");
        Assert.Equal(8, Entries(small));
        Assert.Equal("lru", Policy(small));
        Assert.Equal(5, small.Experiment.ResolvedConfig["machine"]!["pageTable"]!["options"]!["levels"]!.GetValue<int>());
        var big = sweep.Cases.Single(c => c.Id == "levels=4,tlb=big");
        Assert.Equal(512, Entries(big));
        Assert.Equal("fifo", Policy(big));
        Assert.Equal(4, sweep.Cases.Count);
    }

    [Fact]
    public void AnInlineBaseWorksLikeABaseFile()
    {
        string inline = $$"""
            { "base": {{SweepFixture.BaseJson}}, "matrix": { "machine:tlb:options:entries": [8, 16] } }
            """;
        var fromInline = _fx.Load(inline);
        var fromFile = _fx.Load("""{ "base": "base.json", "matrix": { "machine:tlb:options:entries": [8, 16] } }""");
        Assert.Equal(fromFile.Cases.Select(c => c.Experiment.ResolvedConfig.ToJsonString()),
                     fromInline.Cases.Select(c => c.Experiment.ResolvedConfig.ToJsonString()));
    }

    [Fact]
    public void AnOutOfRangeMatrixValueIsReportedAtItsLineAndColumnInTheSweepFile()
    {
        string text = """
            {
              "base": "base.json",
              "matrix": {
                "machine:tlb:options:entries": [16, 0],
                "machine:tlb:options:policy": ["lru", "fifo"]
              }
            }
            """;
        var e = Assert.Throws<ConfigException>(() => _fx.Load(text));
        var error = Assert.Single(e.Errors);
        Assert.EndsWith($"sweep.json:{SweepFixture.PositionOf(text, "0]")}", error.Where);
        Assert.StartsWith("machine:tlb:options:entries:", error.Message);
        Assert.Contains("(in 2 of 4 cases: entries=0,policy=lru, entries=0,policy=fifo)", error.Message);
    }

    [Fact]
    public void AMisspelledAxisKeyIsReportedWithASuggestionAtTheAxis()
    {
        string text = """
            {
              "base": "base.json",
              "matrix": { "machine:tlb:options:entires": [16, 32] }
            }
            """;
        var e = Assert.Throws<ConfigException>(() => _fx.Load(text));
        Assert.Contains(e.Errors, err => err.Message.Contains("unknown key 'entires'") && err.Message.Contains("did you mean 'entries'"));
        Assert.All(e.Errors, err => Assert.Contains("sweep.json:3:", err.Where));
    }

    [Fact]
    public void ATypoInAnAxisKeyAboveTheOptionsIsReportedAtTheAxisValueInTheSweepFile()
    {
        // "option" for "options": the loader reports machine:tlb:option, a prefix of the axis key, not a key below it.
        string text = """
            {
              "base": "base.json",
              "matrix": { "machine:tlb:option:entries": [16, 32] }
            }
            """;
        var e = Assert.Throws<ConfigException>(() => _fx.Load(text));
        Assert.Contains(e.Errors, err => err.Message.StartsWith("machine:tlb:option: unknown key 'option'; did you mean 'options'?", StringComparison.Ordinal));
        Assert.All(e.Errors, err => Assert.Contains("sweep.json:3:", err.Where));
    }

    [Fact]
    public void AnAxisOfScalarsAtAComponentKeyIsAnErrorNotIdenticalCases()
    {
        string text = """
            {
              "base": "base.json",
              "matrix": { "machine:tlb": ["lru", "fifo"] }
            }
            """;
        var e = Assert.Throws<ConfigException>(() => _fx.Load(text));
        Assert.Contains(e.Errors, err => err.Message.StartsWith("machine:tlb: expected an object ({ ... }), got the value \"lru\"", StringComparison.Ordinal)
                                         && err.Where.EndsWith($"sweep.json:{SweepFixture.PositionOf(text, "\"lru\"")}", StringComparison.Ordinal));
        Assert.Contains(e.Errors, err => err.Message.Contains("got the value \"fifo\"", StringComparison.Ordinal));
    }

    [Fact]
    public void ASweepOverTheCaseLimitIsRefusedBeforeItIsExpanded()
    {
        // 10^10 combinations: expanding them would take hundreds of GiB; the refusal is immediate.
        string axes = string.Join(", ", Enumerable.Range(0, 10).Select(i => $"\"machine:tlb:options:x{i}\": [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]"));
        var e = Assert.Throws<ConfigException>(() => _fx.Load($$"""{ "base": "base.json", "matrix": { {{axes}} } }"""));
        var error = Assert.Single(e.Errors);
        Assert.Contains("sweep.json:1:", error.Where);
        Assert.StartsWith("matrix: expands to 10,000,000,000 cases (10 x 10 x 10 x 10 x 10 x 10 x 10 x 10 x 10 x 10, before exclude), more than the limit of 100,000", error.Message);
    }

    [Fact]
    public void TheCaseLimitCountsIncludesAndCanBeRaised()
    {
        string text = """
            { "base": "base.json", "matrix": { "machine:tlb:options:entries": [8, 16, 32] },
              "include": [ { "entries": 64 } ] }
            """;
        string path = _fx.Write("sweep.json", text);
        var loader = new VmLab.Host.Sweeps.SweepLoader(new ExperimentLoader(VmLab.Host.Plugins.PluginCatalog.CreateDefault())) { MaxCases = 3 };
        var e = Assert.Throws<ConfigException>(() => loader.Load(path));
        Assert.Contains("expands to 4 cases (3 + 1 included, before exclude), more than the limit of 3", Assert.Single(e.Errors).Message);

        var raised = new VmLab.Host.Sweeps.SweepLoader(new ExperimentLoader(VmLab.Host.Plugins.PluginCatalog.CreateDefault())) { MaxCases = 4 }.Load(path);
        Assert.Equal(4, raised.Cases.Count);
    }

    [Fact]
    public void AnErrorInTheBaseFilePointsIntoTheBaseFile()
    {
        string bad = SweepFixture.BaseJson.Replace("\"levels\": 4", "\"levels\": 9");
        _fx.Write("bad-base.json", bad);
        var e = Assert.Throws<ConfigException>(() => _fx.Load("""{ "base": "bad-base.json", "matrix": { "machine:tlb:options:entries": [8, 16] } }"""));
        var error = Assert.Single(e.Errors);
        Assert.EndsWith($"bad-base.json:{SweepFixture.PositionOf(bad, "9 }")}", error.Where);
        Assert.StartsWith("machine:pageTable:options:levels:", error.Message);
    }

    [Theory]
    [InlineData("""{ "base": "base.json", "matrix": { "machine:tlb:options:entries": [8] }, "baselines": "x" }""", "unknown key 'baselines'; did you mean 'baseline'?")]
    [InlineData("""{ "matrix": { "machine:tlb:options:entries": [8] } }""", "base: is required")]
    [InlineData("""{ "base": "nowhere.json" }""", "base experiment not found")]
    [InlineData("""{ "base": "base.json", "matrix": { "machine:tlb:options:entries": [] } }""", "has no values")]
    [InlineData("""{ "base": "base.json", "matrix": { "machine:tlb:options:entries": [8, 8] } }""", "value '8' appears twice")]
    [InlineData("""{ "base": "base.json", "matrix": { "machine:tlb:options:entries": [8, 16] }, "exclude": [ { "entries": 32 } ] }""", "32 is not a value of axis entries; values: 8, 16")]
    [InlineData("""{ "base": "base.json", "matrix": { "machine:tlb:options:entries": [8, 16] }, "exclude": [ { "size": 8 } ] }""", "'size' is not an axis of the matrix")]
    [InlineData("""{ "base": "base.json", "matrix": { "machine:tlb:options:entries": [8, 16] }, "exclude": [ { "entries": [8, 16] } ] }""", "excludes every combination")]
    [InlineData("""{ "base": "base.json", "matrix": { "machine:tlb:options:entries": [8, 16] }, "baseline": "entries=32" }""", "no case has the id 'entries=32'")]
    [InlineData("""{ "base": "base.json", "matrix": { "machine:tlb:options:entries": [8, 16], "machine:tlb:options:policy": ["lru", "fifo"] }, "baseline": { "entries": 8 } }""", "2 cases match")]
    [InlineData("""{ "base": "base.json", "matrix": { "machine:tlb:options:entries": [8, 16] }, "include": [ { "policy": "lru" } ] }""", "'policy' is not an axis")]
    [InlineData("""{ "base": "base.json", "matrix": { "name": ["a", "b"] } }""", "it cannot be swept")]
    [InlineData("""{ "base": "base.json", "matrix": { "workload:options:path": ["a b"] } }""", "may not contain ',', '=' or spaces")]
    [InlineData("""{ "base": "base.json", "matrix": { "machine:tlb:options:entries": [8, 16] }, }x""", "malformed JSON")]
    public void InvalidSweepFilesAreRejectedWithAMessageThatSaysWhatIsAllowed(string text, string expected)
    {
        var e = Assert.Throws<ConfigException>(() => _fx.Load(text));
        Assert.Contains(e.Errors, err => (err.Where + ": " + err.Message).Contains(expected));
        Assert.All(e.Errors, err => Assert.Contains("sweep.json", err.Where));
    }

    [Fact]
    public void SchemaKeyOfASweepAndOfItsInlineBaseIsIgnored()
    {
        var sweep = _fx.Load("""
            {
              "$schema": "../../schemas/sweep.schema.json",
              "base": "base.json",
              "matrix": { "machine:tlb:options:entries": [8, 16] }
            }
            """);
        Assert.Equal(["entries=8", "entries=16"], sweep.Cases.Select(c => c.Id));
        string inlineBase = SweepFixture.BaseJson.Replace("\"name\": \"base\",", "\"$schema\": \"../../schemas/experiment.schema.json\", \"name\": \"base\",");
        Assert.Contains("$schema", inlineBase);
        var inline = _fx.Load($$"""{ "base": {{inlineBase}}, "matrix": { "machine:tlb:options:entries": [8, 16] } }""");
        Assert.Equal(8, Entries(inline.Cases[0]));
        var e = Assert.Throws<ConfigException>(() => _fx.Load("""{ "$schemas": "x", "base": "base.json", "matrix": { "machine:tlb:options:entries": [8] } }"""));
        Assert.Contains(e.Errors, err => err.Message.StartsWith("$schemas: unknown key '$schemas'", StringComparison.Ordinal));
    }

    [Fact]
    public void ComponentValuesAreLabelledByPluginNameOrByAHashOfTheValue()
    {
        var sweep = _fx.Load("""
            {
              "base": "base.json",
              "matrix": {
                "machine:tlb": [
                  { "plugin": "fully-associative", "options": { "entries": 8 } },
                  { "plugin": "fully-associative", "options": { "entries": 16 } }
                ]
              }
            }
            """);
        var labels = sweep.Axes[0].Values.Select(v => v.Label).ToList();
        Assert.All(labels, l => Assert.Matches("^fully-associative-[0-9a-f]{8}$", l));
        Assert.NotEqual(labels[0], labels[1]);
        // The label depends on the value only: loading the same values reversed gives the same labels.
        var reversed = _fx.Load("""
            {
              "base": "base.json",
              "matrix": {
                "machine:tlb": [
                  { "plugin": "fully-associative", "options": { "entries": 16 } },
                  { "plugin": "fully-associative", "options": { "entries": 8 } }
                ]
              }
            }
            """);
        Assert.Equal(labels, reversed.Axes[0].Values.Select(v => v.Label).Reverse());
    }

    [Fact]
    public void PortableConfigLeavesOutMachineLocalPluginPaths()
    {
        var sweep = _fx.Load("""{ "base": "base.json", "matrix": { "machine:tlb:options:entries": [8] } }""");
        var config = VmLab.Host.Sweeps.SweepLoader.PortableConfig(sweep.Cases[0].Experiment);
        Assert.False(config.ContainsKey("pluginPaths"));
        Assert.True(sweep.Cases[0].Experiment.ResolvedConfig.ContainsKey("pluginPaths"));
        Assert.IsType<JsonObject>(config["machine"]);
    }
}
