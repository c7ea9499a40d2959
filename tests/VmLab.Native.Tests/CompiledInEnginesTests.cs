using VmLab.Abstractions.Plugins;
using VmLab.Core.Mmu;
using VmLab.Host.Config;
using VmLab.Host.Plugins;
using VmLab.Host.Running;

namespace VmLab.Native.Tests;

/// <summary>
/// The native command's MMU, closed at compile time (<see cref="CompiledInEngines"/>), knows every built-in TLB, TLB
/// policy, page-table format and cache, and runs each exactly as the managed command's reflection-closed MMU does. Run
/// here in process, over the compiled-in plugins: one experiment per built-in component, the other dimensions fixed.
/// </summary>
public sealed class CompiledInEnginesTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "vmlab-native-test-" + Guid.NewGuid().ToString("N")[..12]);

    public CompiledInEnginesTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static PluginCatalog Catalog() => PluginCatalog.CreateDefault(loader: new CompiledInPluginLoader());

    private Experiment Load(string machine)
    {
        string path = Path.Combine(_dir, "exp.json");
        File.WriteAllText(path, $$"""
            {
              "name": "combination",
              "seed": 7,
              "machine": {
                "cpus": 2,
                "memory": { "frames": 4096, "swapSlots": 4096 },
                "faultHandlers": [ { "plugin": "cow" }, { "plugin": "demand-zero" } ],
                "signals": { "plugin": "posix" },
                {{machine}}
              },
              "workload": { "plugin": "synthetic", "options": { "pattern": "uniform", "accesses": 20000, "footprintPages": 96, "writeRatio": 0.3 } }
            }
            """);
        return new ExperimentLoader(Catalog()).Load(path);
    }

    /// <summary>The same experiment through both factories: the compiled one must know the types and count the same.</summary>
    private void SameAsReflection(string machine)
    {
        var experiment = Load(machine);
        var compiled = new ExperimentRunner { Engines = CompiledInEngines.Instance }.Run(experiment);
        Assert.True(compiled.Error is null, $"{machine}: {compiled.Error}");
        var reflected = new ExperimentRunner { Engines = ReflectionMmuEngineFactory.Instance }.Run(experiment);
        Assert.Null(reflected.Error);
        Assert.True(compiled.Metrics.Count > 20, machine);
        Assert.Equal(reflected.Metrics, compiled.Metrics);
        Assert.True(compiled.Metrics["tlb.misses"] > 0, machine);
    }

    private const string X86 = "\"pageTable\": { \"plugin\": \"x86-64\" }";
    private const string FullyAssociative = "\"tlb\": { \"plugin\": \"fully-associative\", \"options\": { \"entries\": 16 } }";

    public static TheoryData<string> PageTables() => [.. Catalog().All.Where(p => p.Kind == ExtensionPoints.PageTable).Select(p => p.Name)];

    [Theory]
    [MemberData(nameof(PageTables))]
    public void EveryBuiltInPageTableRunsAsTheManagedCommandRunsIt(string pageTable) =>
        SameAsReflection($"\"pageTable\": {{ \"plugin\": \"{pageTable}\" }}, {FullyAssociative}");

    /// <summary>Every TLB plugin with every policy it takes (the policy closes the TLB's type).</summary>
    public static TheoryData<string, string> Tlbs()
    {
        var data = new TheoryData<string, string>();
        foreach (var tlb in Catalog().All.Where(p => p.Kind == ExtensionPoints.Tlb))
        {
            var policy = tlb.Registration.OptionsType.GetProperty("Policy")?.PropertyType;
            foreach (var name in policy is { IsEnum: true } ? Enum.GetNames(policy).Select(StrictBinder.KebabCase) : [""])
                data.Add(tlb.Name, name);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Tlbs))]
    public void EveryBuiltInTlbAndPolicyRunsAsTheManagedCommandRunsIt(string tlb, string policy) =>
        SameAsReflection($"{X86}, \"tlb\": {{ \"plugin\": \"{tlb}\", \"options\": {{ {(policy == "" ? "" : $"\"policy\": \"{policy}\"")} }} }}");

    [Fact]
    public void TheTlbDimensionCoversEveryPolicyOfTheSetAssociativeAndHierarchyTlbs()
    {
        var pairs = Tlbs().Select(row => ((string)row[0], (string)row[1])).ToList();
        Assert.Contains(("set-associative", "srrip"), pairs);
        Assert.Contains(("hierarchy", "plru"), pairs);
        Assert.True(pairs.Count >= 11, $"{pairs.Count} TLB combinations");
    }

    /// <summary>The observers: a policy that sees every access, a cache that sees the data, both, and neither.</summary>
    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    [InlineData(true, true)]
    public void EveryObserverRunsAsTheManagedCommandRunsIt(bool everyAccessPolicy, bool dataCache)
    {
        string machine = $"{X86}, {FullyAssociative}"
            + (everyAccessPolicy ? ", \"replacement\": { \"plugin\": \"lru\" }" : ", \"replacement\": { \"plugin\": \"fifo\" }")
            + (dataCache ? ", \"cache\": { \"plugin\": \"set-associative\", \"options\": { \"data\": true } }" : "");
        SameAsReflection(machine);
    }

    [Fact]
    public void CheckComposesTheMachineThroughTheRunnersFactory()
    {
        var experiment = Load($"{X86}, {FullyAssociative}");
        var refusing = new RefusingFactory();
        Assert.Throws<InvalidOperationException>(() => new ExperimentRunner { Engines = refusing }.Validate(experiment));
        Assert.Equal(1, refusing.Asked);
    }

    private sealed class RefusingFactory : IMmuEngineFactory
    {
        public int Asked { get; private set; }

        public ICpu Create(MmuParts parts)
        {
            Asked++;
            throw new InvalidOperationException("not compiled in");
        }
    }

    [Fact]
    public void EveryBuiltInCacheHierarchyIsCompiledIn()
    {
        foreach (var cache in Catalog().All.Where(p => p.Kind == ExtensionPoints.Cache))
            SameAsReflection($"{X86}, {FullyAssociative}, \"cache\": {{ \"plugin\": \"{cache.Name}\", \"options\": {{ \"data\": true }} }}");
    }
}
