using System.Text.Json;
using System.Text.Json.Nodes;
using Json.Schema;
using VmLab.Abstractions.Plugins;
using VmLab.Host.Config;
using VmLab.Host.Plugins;

namespace VmLab.Cli.Tests;

/// <summary>
/// `vmlab schema experiment|sweep`: the committed schemas/ are what it generates, they are valid draft 2020-12 schemas,
/// every shipped config and sweep names its schema and passes a real validator (JsonSchema.Net), and a config the loader
/// refuses for a misspelled key, an out-of-range value, an unknown plugin or enum value fails the schema too.
/// </summary>
public sealed class SchemaCommandTests : IDisposable
{
    private readonly Scratch _s = new();

    public void Dispose() => _s.Dispose();

    private static readonly JsonDocumentOptions Lenient = new() { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true };

    private static string Committed(string kind) => Cli.Repo("schemas", $"{kind}.schema.json");

    private static JsonSchema Schema(string kind) => JsonSchema.FromText(File.ReadAllText(Committed(kind)));

    private static JsonNode Parse(string path) => JsonNode.Parse(File.ReadAllText(path), documentOptions: Lenient)!;

    /// <summary>Every failing location of an evaluation: "/machine/tlb/options/entries: minimum: ...".</summary>
    private static List<string> Errors(JsonSchema schema, JsonNode instance)
    {
        var results = schema.Evaluate(instance, new EvaluationOptions { OutputFormat = OutputFormat.List });
        if (results.IsValid) return [];
        var errors = results.Details.Where(d => d.HasErrors)
            .SelectMany(d => d.Errors!.Select(e => $"{d.InstanceLocation}: {e.Key}: {e.Value}"))
            .ToList();
        Assert.NotEmpty(errors);
        return errors;
    }

    [Theory]
    [InlineData("experiment")]
    [InlineData("sweep")]
    public void CommittedSchemaIsWhatVmlabSchemaGenerates(string kind)
    {
        var r = Cli.Run("schema", kind);
        Assert.Equal(0, r.ExitCode);
        Assert.True(File.Exists(Committed(kind)), $"schemas/{kind}.schema.json is missing: generate it with `./vmlab schema {kind} > schemas/{kind}.schema.json`");
        Assert.True(File.ReadAllText(Committed(kind)) == r.Stdout,
            $"schemas/{kind}.schema.json is out of date (a plugin or an option changed): regenerate it with `./vmlab schema {kind} > schemas/{kind}.schema.json` " +
            $"(or `dotnet run --project src/VmLab.Cli -- schema {kind} > schemas/{kind}.schema.json`)");
    }

    [Theory]
    [InlineData("experiment")]
    [InlineData("sweep")]
    public void GeneratedSchemaIsAValidDraft202012Schema(string kind)
    {
        var schema = JsonNode.Parse(Cli.Run("schema", kind).Stdout)!;
        Assert.Equal("https://json-schema.org/draft/2020-12/schema", schema["$schema"]!.GetValue<string>());
        Assert.Empty(Errors(MetaSchemas.Draft202012, schema));
    }

    [Fact]
    public void EveryShippedConfigAndSweepNamesItsSchemaAndIsValidAgainstIt()
    {
        // configs/timing/ holds timing profiles (docs/calibrate.md), not experiments or sweeps.
        var files = Directory.GetFiles(Cli.Repo("configs"), "*.json", SearchOption.AllDirectories).Order(StringComparer.Ordinal)
            .Where(f => Path.GetFileName(Path.GetDirectoryName(f)) != "timing").ToList();
        var sweeps = files.Where(f => SweepLoaderIsSweep(f)).ToList();
        Assert.True(files.Count >= 30, $"configs/ has {files.Count} JSON files");
        Assert.True(sweeps.Count >= 3, $"configs/ has {sweeps.Count} sweeps");
        var schemas = new Dictionary<string, JsonSchema> { ["experiment"] = Schema("experiment"), ["sweep"] = Schema("sweep") };
        var problems = new List<string>();
        foreach (var file in files)
        {
            string kind = sweeps.Contains(file) ? "sweep" : "experiment";
            string name = Path.GetRelativePath(Cli.RepoRoot, file);
            var node = Parse(file);
            string expected = Path.GetRelativePath(Path.GetDirectoryName(file)!, Committed(kind)).Replace('\\', '/');
            string? named = node["$schema"]?.GetValue<string>();
            if (named != expected) problems.Add($"{name}: \"$schema\" is {named ?? "missing"}, expected \"{expected}\"");
            else if (!File.Exists(Path.Combine(Path.GetDirectoryName(file)!, named))) problems.Add($"{name}: \"$schema\" names a file that does not exist");
            problems.AddRange(Errors(schemas[kind], node).Select(e => $"{name}{e}"));
        }
        Assert.True(problems.Count == 0, string.Join("\n", problems));
    }

    private static bool SweepLoaderIsSweep(string path) => VmLab.Host.Sweeps.SweepLoader.IsSweepFile(path);

    /// <summary>The quickstart config with one change, and the trace path made absolute so the copy loads from the scratch folder.</summary>
    private string Quickstart(Action<JsonObject> change)
    {
        var config = (JsonObject)Parse(Cli.Repo("configs", "quickstart.json"));
        config["workload"]!["options"]!["path"] = Cli.Repo("configs", "traces", "ls.lackey.gz");
        config.Remove("$schema");
        change(config);
        return _s.File("config.json", config.ToJsonString());
    }

    private static JsonObject Obj(JsonNode? node) => (JsonObject)node!;

    [Fact]
    public void UnchangedQuickstartCopyPassesBothTheSchemaAndTheLoader()
    {
        string path = Quickstart(_ => { });
        Assert.Empty(Errors(Schema("experiment"), Parse(path)));
        Assert.Equal(0, Cli.Run("check", path).ExitCode);
    }

    public static TheoryData<string, string> BadConfigs => new()
    {
        { "misspelled option key", "/machine/tlb/options/entires" },
        { "out-of-range option", "/machine/tlb/options/entries" },
        { "out-of-range machine setting", "/machine/memory/frames" },
        { "misspelled machine key", "/machine/cpu" },
        { "misspelled top-level key", "/worklaod" },
        { "unknown plugin", "/machine/tlb/plugin" },
        { "unknown enum value", "/machine/tlb/options/policy" },
        { "option of another plugin", "/machine/pageTable/options/entries" },
        { "string where a number belongs", "/machine/cpus" },
    };

    [Theory]
    [MemberData(nameof(BadConfigs))]
    public void ConfigTheLoaderRefusesFailsSchemaValidationAtTheSameKey(string fault, string location)
    {
        string path = Quickstart(c =>
        {
            var machine = Obj(c["machine"]);
            var tlbOptions = Obj(machine["tlb"]!["options"]);
            switch (fault)
            {
                case "misspelled option key": tlbOptions.Remove("entries"); tlbOptions["entires"] = 64; break;
                case "out-of-range option": tlbOptions["entries"] = 0; break;
                case "out-of-range machine setting": Obj(machine["memory"])["frames"] = 8; break;
                case "misspelled machine key": machine.Remove("cpus"); machine["cpu"] = 1; break;
                case "misspelled top-level key": c["worklaod"] = c["workload"]!.DeepClone(); break;
                case "unknown plugin": machine["tlb"]!["plugin"] = "fully-asociative"; break;
                case "unknown enum value": tlbOptions["policy"] = "lru2"; break;
                case "option of another plugin": Obj(machine["pageTable"]!["options"])["entries"] = 64; break;
                case "string where a number belongs": machine["cpus"] = "two"; break;
            }
        });
        var errors = Errors(Schema("experiment"), Parse(path));
        Assert.True(errors.Any(e => e.StartsWith(location + ":", StringComparison.Ordinal)), $"{fault}: an error at {location}:\n{string.Join("\n", errors)}");
        // The loader refuses the same file, naming the same key.
        var check = Cli.Run("check", path);
        Assert.Equal(2, check.ExitCode);
        Assert.Contains(location.TrimStart('/').Replace('/', ':') + ":", check.Stderr);
    }

    [Theory]
    [InlineData("""{ "base": "b.json", "matrix": { "machine:tlb:options:entries": [8] }, "baselines": "x" }""", "/baselines")]
    [InlineData("""{ "base": "b.json", "matrix": { "machine:tlb:options:entries": [] } }""", "/matrix/machine:tlb:options:entries")]
    [InlineData("""{ "base": "b.json", "matrix": { "machine:tlb:options:entries": { "name": "a b", "values": [8] } } }""", "/matrix/machine:tlb:options:entries/name")]
    [InlineData("""{ "base": "b.json", "matrix": { "Name": ["a", "b"] } }""", "/matrix/Name")]
    [InlineData("""{ "matrix": { "machine:tlb:options:entries": [8] } }""", "")]
    [InlineData("""{ "base": { "machine": { "tlb": { "plugin": "fully-associative", "options": { "entries": -1 } } }, "workload": { "plugin": "lackey", "options": { "path": "TRACE" } } } }""", "/base/machine/tlb/options/entries")]
    [InlineData("""{ "base": "b.json", "matrix": { "machine:tlb": ["lru", "fifo"] } }""", "/matrix/machine:tlb/0")]
    [InlineData("""{ "base": "b.json", "matrix": { "machine:cpus": [1, 0] } }""", "/matrix/machine:cpus/1")]
    [InlineData("""{ "base": "b.json", "matrix": { "machine:replacement:plugin": ["lru", "lru2"] } }""", "/matrix/machine:replacement:plugin/1")]
    [InlineData("""{ "base": "b.json", "matrix": { "machine:tlb:options:entries": { "values": { "none": 0, "some": 8 } } } }""", "/matrix/machine:tlb:options:entries/values/none")]
    public void SweepTheLoaderRefusesFailsSchemaValidation(string text, string location)
    {
        File.Copy(Quickstart(_ => { }), _s.PathOf("b.json"));
        string sweep = _s.File("sweep.json", text.Replace("TRACE", Cli.Repo("configs", "traces", "ls.lackey.gz").Replace("\\", "\\\\")));
        var errors = Errors(Schema("sweep"), Parse(sweep));
        Assert.True(errors.Any(e => e.StartsWith(location + ":", StringComparison.Ordinal)), $"an error at '{location}':\n{string.Join("\n", errors)}");
        var check = Cli.Run("check", sweep);
        Assert.Equal(2, check.ExitCode);
    }

    [Fact]
    public void SweepAxesOfKnownKeysAreTypedAndOtherKeyPathsTakeAnyValues()
    {
        var schema = JsonNode.Parse(Cli.Run("schema", "sweep").Stdout)!;
        var axes = schema["properties"]!["matrix"]!["properties"]!;
        JsonNode Value(string key)
        {
            string reference = axes[key]!["oneOf"]![0]!["items"]!["$ref"]!.GetValue<string>();
            return schema["$defs"]![reference["#/$defs/".Length..]]!;
        }
        Assert.Equal("integer", Value("machine:memory:userFrames")["type"]!.GetValue<string>());
        Assert.Equal(1, Value("machine:cpus")["minimum"]!.GetValue<int>());
        Assert.NotNull(Value("machine:tlb:options:entries"));
        Assert.Equal(PluginCatalog.CreateDefault().NamesOf(ExtensionPoints.Replacement).Order(StringComparer.Ordinal),
            Value("machine:replacement:plugin")["enum"]!.AsArray().Select(n => n!.GetValue<string>()).Order(StringComparer.Ordinal));
        Assert.Null(axes["name"]);
        var sweep = JsonNode.Parse("""{ "base": "b.json", "matrix": { "workload:options:somethingNew": ["x", 1, { "a": [] }] } }""")!;
        Assert.Empty(Errors(Schema("sweep"), sweep));
    }

    [Fact]
    public void EachComponentKeyOffersOneBranchPerPluginOfItsKindWithThatPluginsOptions()
    {
        var catalog = PluginCatalog.CreateDefault();
        var schema = JsonNode.Parse(Cli.Run("schema", "experiment").Stdout)!;
        var machine = schema["properties"]!["machine"]!["properties"]!;
        var keys = new (JsonNode? Node, string Kind)[]
        {
            (machine["pageTable"], ExtensionPoints.PageTable), (machine["tlb"], ExtensionPoints.Tlb), (machine["replacement"], ExtensionPoints.Replacement),
            (machine["faultHandlers"]!["items"], ExtensionPoints.FaultHandler), (machine["signals"], ExtensionPoints.Signals),
            (machine["devices"]!["items"], ExtensionPoints.Device), (schema["properties"]!["workload"], ExtensionPoints.Workload),
        };
        foreach (var (node, kind) in keys)
        {
            string reference = node!["$ref"]!.GetValue<string>();
            Assert.Equal($"#/$defs/{kind}", reference);
            var branches = schema["$defs"]![kind]!["oneOf"]!.AsArray();
            Assert.Equal(catalog.NamesOf(kind).Order(StringComparer.Ordinal), branches.Select(b => b!["properties"]!["plugin"]!["const"]!.GetValue<string>()).Order(StringComparer.Ordinal));
            foreach (var branch in branches)
            {
                var plugin = catalog.Find(kind, branch!["properties"]!["plugin"]!["const"]!.GetValue<string>())!;
                Assert.False(branch["additionalProperties"]!.GetValue<bool>());
                var options = branch["properties"]!["options"]!;
                Assert.False(options["additionalProperties"]!.GetValue<bool>());
                Assert.Equal(StrictBinder.WritableProperties(plugin.Registration.OptionsType).Select(p => StrictBinder.CamelCase(p.Name)),
                    options["properties"]!.AsObject().Select(p => p.Key));
            }
        }
        Assert.Contains("workload", schema["required"]!.AsArray().Select(n => n!.GetValue<string>()));
    }

    [Fact]
    public void RangesEnumsDefaultsAndDescriptionsComeFromTheOptionTypes()
    {
        var schema = JsonNode.Parse(Cli.Run("schema", "experiment").Stdout)!;
        var memory = schema["properties"]!["machine"]!["properties"]!["memory"]!["properties"]!;
        // MemoryOptions.Frames: [Range(16, 1 << 28)], default 262144, [Description].
        Assert.Equal(16, memory["frames"]!["minimum"]!.GetValue<long>());
        Assert.Equal(1L << 28, memory["frames"]!["maximum"]!.GetValue<long>());
        Assert.Equal(new VmLab.Core.MemoryOptions().Frames, memory["frames"]!["default"]!.GetValue<long>());
        Assert.Contains("4 KiB", memory["frames"]!["description"]!.GetValue<string>());
        var branch = schema["$defs"]![ExtensionPoints.Tlb]!["oneOf"]!.AsArray().Single(b => b!["title"]!.GetValue<string>() == "fully-associative")!;
        var policy = branch["properties"]!["options"]!["properties"]!["policy"]!;
        Assert.Equal(["lru", "fifo", "random", "plru"], policy["enum"]!.AsArray().Select(n => n!.GetValue<string>()));
        Assert.Equal("string", policy["type"]!.GetValue<string>());
    }

    [Fact]
    public void PluginsOfAFolderGivenWithPluginPathAppearAsBranches()
    {
        string folder = Path.Combine(AppContext.BaseDirectory, "testplugins", "VmLab.TestPlugins.ThrowingHandler");
        var without = Cli.Run("schema", "experiment");
        Assert.DoesNotContain("\"throwing-handler\"", without.Stdout);
        var r = Cli.Run("schema", "experiment", "--plugin-path", folder);
        Assert.Equal(0, r.ExitCode);
        var branches = JsonNode.Parse(r.Stdout)!["$defs"]![ExtensionPoints.FaultHandler]!["oneOf"]!.AsArray();
        var throwing = branches.Single(b => b!["title"]!.GetValue<string>() == "throwing-handler")!;
        Assert.Equal("integer", throwing["properties"]!["options"]!["properties"]!["throwOnFault"]!["type"]!.GetValue<string>());
    }

    [Theory]
    [InlineData("bogus", "allowed: experiment, sweep")]
    [InlineData("experimnt", "did you mean 'experiment'?")]
    public void UnknownFileKindIsExit2NamingTheAllowedValues(string kind, string expected)
    {
        var r = Cli.Run("schema", kind);
        Assert.Equal(2, r.ExitCode);
        Assert.Equal("", r.Stdout);
        Assert.Contains($"no schema for '{kind}'", r.Stderr);
        Assert.Contains(expected, r.Stderr);
    }

    [Fact]
    public void MissingFileKindOrPluginFolderIsExit2()
    {
        var none = Cli.Run("schema");
        Assert.Equal(2, none.ExitCode);
        Assert.Contains("experiment, sweep", none.Stderr);
        var missing = Cli.Run("schema", "experiment", "--plugin-path", _s.PathOf("nowhere"));
        Assert.Equal(2, missing.ExitCode);
        Assert.Contains("--plugin-path", missing.Stderr);
        Assert.Equal("", missing.Stdout);
    }
}
