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
