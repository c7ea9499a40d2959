using System.Text.Json;
using System.Text.Json.Nodes;
using VmLab.Core;
using VmLab.Host.Config;
using VmLab.Host.Plugins;
using VmLab.Host.Sweeps;

namespace VmLab.Host.Tests.Config;

/// <summary>
/// <see cref="OptionsWriter"/> writes what System.Text.Json writes with <see cref="ExperimentLoader.OptionsJson"/>: the
/// resolved config's options keep their shape whichever writes them.
/// </summary>
public sealed class OptionsWriterTests
{
    private static string Stj(object value, Type type) => JsonSerializer.SerializeToNode(value, type, ExperimentLoader.OptionsJson)!.ToJsonString();

    private static string Ours(object value, Type type) => OptionsWriter.ToNode(value, type)!.ToJsonString();

    [Fact]
    public void EveryBuiltInComponentsDefaultOptionsAreWrittenAsSystemTextJsonWritesThem()
    {
        int compared = 0;
        foreach (var plugin in PluginCatalog.CreateDefault().All)
        {
            var type = plugin.Registration.OptionsType;
            if (type.GetConstructor(Type.EmptyTypes) is null) continue;
            object options = Activator.CreateInstance(type)!;
            Assert.True(Stj(options, type) == Ours(options, type), $"{plugin.Kind} {plugin.Name}: {Ours(options, type)} against {Stj(options, type)}");
            compared++;
        }
        Assert.True(compared >= 40, $"only {compared} components' options compared");
    }

    [Fact]
    public void MachineOptionsAreWrittenAsSystemTextJsonWritesThem()
    {
        var options = new MachineOptions { Cpus = 4, Pcid = false };
        Assert.Equal(Stj(options, typeof(MachineOptions)), Ours(options, typeof(MachineOptions)));
        Assert.DoesNotContain("cpuState", Ours(options, typeof(MachineOptions))); // [JsonIgnore]
    }

    /// <summary>Every shipped experiment's configured options: arrays, nested records, enums, nulls as configured.</summary>
    [Fact]
    public void EveryShippedConfigsOptionsAreWrittenAsSystemTextJsonWritesThem()
    {
        var loader = new ExperimentLoader(PluginCatalog.CreateDefault());
        var files = Directory.GetFiles(Repo.Path("configs"), "*.json", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}sweeps{Path.DirectorySeparatorChar}") && !SweepLoader.IsSweepFile(f)
                        && !Path.GetFileName(f).StartsWith("linux-", StringComparison.Ordinal) && JsonNode.Parse(File.ReadAllText(f), documentOptions: new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true }) is JsonObject { } o && o.ContainsKey("workload"))
            .Order(StringComparer.Ordinal).ToList();
        Assert.NotEmpty(files);
        foreach (var file in files)
        {
            var e = loader.Load(file);
            Assert.Equal(Stj(e.Machine, typeof(MachineOptions)), Ours(e.Machine, typeof(MachineOptions)));
            Component?[] components = [e.PageTable, e.Tlb, e.Replacement, e.Signals, e.Workload, e.Timing, e.Cache, .. e.FaultHandlers, .. e.Devices];
            foreach (var c in components.OfType<Component>())
                Assert.True(Stj(c.Options, c.Options.GetType()) == Ours(c.Options, c.Options.GetType()), $"{file} {c.KeyPath}: {Ours(c.Options, c.Options.GetType())} against {Stj(c.Options, c.Options.GetType())}");
        }
    }

    [Fact]
    public void ValuesOfEveryKindMatch()
    {
        var sample = new Sample();
        Assert.Equal(Stj(sample, typeof(Sample)), Ours(sample, typeof(Sample)));
        Assert.Equal(Stj(sample with { Kind = (SampleKind)7, Flags = SampleFlags.A | SampleFlags.B, Maybe = 3 }, typeof(Sample)),
            Ours(sample with { Kind = (SampleKind)7, Flags = SampleFlags.A | SampleFlags.B, Maybe = 3 }, typeof(Sample)));
    }

    [Fact]
    public void FrameworkTypesAttributesAndInterfacesMatch()
    {
        var more = new More();
        Assert.Equal(Stj(more, typeof(More)), Ours(more, typeof(More)));
        var unset = more with { Note = null, Count = 0 };
        Assert.Equal(Stj(unset, typeof(More)), Ours(unset, typeof(More)));
    }

    [Fact]
    public void ACycleIsAJsonExceptionNotAStackOverflow()
    {
        var node = new Node();
        node.Next = node;
        Assert.Throws<JsonException>(() => OptionsWriter.ToNode(node, typeof(Node)));
    }

    public sealed class Node
    {
        public Node? Next { get; set; }
    }

    public interface IShape
    {
        int Sides { get; }
    }

    public sealed record Square : IShape
    {
        public int Sides => 4;
        public double Edge { get; init; } = 1.5;
    }

    public enum Tone
    {
        Low,
        [System.Text.Json.Serialization.JsonStringEnumMemberName("very-high")] VeryHigh,
    }

    public sealed record More
    {
        public DateTime When { get; init; } = new(2026, 12, 6, 17, 0, 0, DateTimeKind.Utc);
        public DateTimeOffset Offset { get; init; } = new(2026, 12, 6, 17, 0, 0, TimeSpan.FromHours(1));
        public Guid Id { get; init; } = new("01234567-89ab-cdef-0123-456789abcdef");
        public TimeSpan Span { get; init; } = TimeSpan.FromMilliseconds(1500);
        public byte[] Bytes { get; init; } = [1, 2, 250];
        public char Letter { get; init; } = 'x';
        public Uri Link { get; init; } = new("https://example.org/a?b=c");
        public Version Release { get; init; } = new(1, 9, 0);
        [System.Text.Json.Serialization.JsonPropertyOrder(-1)] public int First { get; init; } = 1;
        [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)] public string? Note { get; init; } = "n";
        [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingDefault)] public int Count { get; init; } = 3;
        [System.Text.Json.Serialization.JsonPropertyName("renamed")] public int Named { get; init; } = 2;
        public Tone Pitch { get; init; } = Tone.VeryHigh;
        public Dictionary<Tone, int> ByTone { get; init; } = new() { [Tone.Low] = 1, [Tone.VeryHigh] = 2 };
        public IShape Shape { get; init; } = new Square();
        public object Anything { get; init; } = new Square();
        public IReadOnlyDictionary<string, long> Counts { get; init; } = new SortedDictionary<string, long> { ["a"] = 1 };
    }

    public enum SampleKind { FirstKind, SecondKind }

    [Flags]
    public enum SampleFlags { None = 0, A = 1, B = 2 }

    public record SampleBase
    {
        public string BaseName { get; init; } = "base";
    }

    public sealed record Sample : SampleBase
    {
        public int Int { get; init; } = -3;
        public ulong Big { get; init; } = ulong.MaxValue;
        public double Ratio { get; init; } = 0.1;
        public double Whole { get; init; } = 2;
        public bool Flag { get; init; } = true;
        public string? Missing { get; init; }
        public int? Maybe { get; init; }
        public SampleKind Kind { get; init; } = SampleKind.SecondKind;
        public SampleFlags Flags { get; init; } = SampleFlags.B;
        public int[] Numbers { get; init; } = [1, 2];
        public IReadOnlyList<string> Words { get; init; } = ["a", "b"];
        public Inner[] Nested { get; init; } = [new Inner()];
        public Dictionary<string, int> Map { get; init; } = new() { ["x"] = 1 };
        public int Computed => Int * 2;
        [System.Text.Json.Serialization.JsonIgnore] public int Hidden => 1;
    }

    public sealed record Inner
    {
        public long Size { get; init; } = 4096;
        public SampleKind Kind { get; init; }
    }
}
