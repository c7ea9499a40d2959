using VmLab.Abstractions.Plugins;
using VmLab.Host.Config;
using VmLab.Host.Plugins;

namespace VmLab.Host.Tests.Plugins;

public sealed class PluginContractTests
{
    [Theory]
    [InlineData("1.0.0.0", "1.0.0.0", true)]
    [InlineData("1.0.0.0", "1.3.0.0", true)]   // built against an older minor: the contract only grew since
    [InlineData("1.2.5.0", "1.2.0.0", true)]   // build and revision numbers never matter
    [InlineData("1.4.0.0", "1.3.0.0", false)]  // may use members this host does not have
    [InlineData("2.0.0.0", "1.0.0.0", false)]
    [InlineData("0.9.0.0", "1.0.0.0", false)]
    public void SameMajorAndNoNewerMinorIsCompatible(string plugin, string host, bool compatible) =>
        Assert.Equal(compatible, PluginCatalog.IsCompatible(Version.Parse(plugin), Version.Parse(host)));

    [Fact]
    public void TheHostOffersTheAbstractionsAssemblyVersion() =>
        Assert.Equal(typeof(IPluginModule).Assembly.GetName().Version, PluginCatalog.ContractVersion);

    [Fact]
    public void BuiltInPluginsRecordTheContractVersionTheyWereBuiltAgainst()
    {
        var catalog = PluginCatalog.CreateDefault();
        Assert.NotEmpty(catalog.All);
        Assert.All(catalog.All, p => Assert.Equal(PluginCatalog.ContractVersion, p.ContractVersion));
    }

    [Fact]
    public void APluginBuiltAgainstAnotherMajorVersionIsRefusedNamingPluginFolderAndBothVersions()
    {
        var catalog = PluginCatalog.CreateDefault();
        string folder = TestPlugins.Folder("FutureContract");
        catalog.AddDirectory(folder);

        Assert.Null(catalog.Find(PluginKind.Tlb, "future-tlb"));
        var error = Assert.Single(catalog.Errors);
        Assert.Equal(folder, error.Folder);
        Assert.Contains("plugin VmLab.TestPlugins.FutureContract", error.Message);
        Assert.Contains(folder, error.Message);
        Assert.Contains("VmLab.Abstractions 2.0.0.0", error.Message);
        Assert.Contains($"this vmlab has {PluginCatalog.ContractVersion}", error.Message);
        Assert.NotNull(catalog.Find(PluginKind.Tlb, "fully-associative")); // the built-ins are unaffected
    }

    [Fact]
    public void AConfigUsingARefusedPluginSaysWhyItIsUnavailable()
    {
        using var dir = new TempDir();
        dir.File("t.lackey", " L 1000,8\n");
        string config = dir.File("exp.json", $$"""
            {
              "pluginPaths": [ {{System.Text.Json.JsonSerializer.Serialize(TestPlugins.Folder("FutureContract"))}} ],
              "machine": { "tlb": { "plugin": "future-tlb" } },
              "workload": { "plugin": "lackey", "options": { "path": "t.lackey" } }
            }
            """);
        var e = Assert.Throws<ConfigException>(() => new ExperimentLoader(PluginCatalog.CreateDefault()).Load(config));
        var error = Assert.Single(e.Errors);
        Assert.StartsWith("machine:tlb:plugin: tlb plugin 'future-tlb' is unavailable", error.Message, StringComparison.Ordinal);
        Assert.Contains("built against VmLab.Abstractions 2.0.0.0", error.Message);
        Assert.Contains(TestPlugins.Folder("FutureContract"), error.Message);
    }
}
