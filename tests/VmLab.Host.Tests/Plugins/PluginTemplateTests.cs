using VmLab.Abstractions.Plugins;
using VmLab.Host.Plugins;

namespace VmLab.Host.Tests.Plugins;

[Collection(DotnetBuildCollection.Name)]
public sealed class PluginTemplateTests
{
    [Fact]
    public void TheTemplateMakesAPluginOutsideTheCheckoutThatBuildsAndRegistersItsKebabCaseName()
    {
        using var dir = new TempDir();
        string hive = Path.Combine(dir.PathName, "hive"); // a private template store: the user's is left alone
        string output = Path.Combine(dir.PathName, "work", "queue-policy");
        DotnetCli.Run(dir.PathName, "new", "install", Repo.Path("templates", "vmlab-plugin"), "--debug:custom-hive", hive);
        DotnetCli.Run(dir.PathName, "new", "vmlab-plugin", "-n", "QueuePolicy", "-o", output, "--debug:custom-hive", hive);
        Assert.True(File.Exists(Path.Combine(output, "tests", "QueuePolicy.Tests", "QueuePolicyTests.cs")), "the template brings a test project");

        DotnetCli.Run(dir.PathName, "build", Path.Combine(output, "src", "QueuePolicy"), "-c", "Debug", "-v", "q", "-nologo", $"-p:VmLabRoot={Repo.Root}");

        string folder = Path.Combine(output, "src", "QueuePolicy", "bin", "Debug", "net10.0");
        Assert.False(File.Exists(Path.Combine(folder, "VmLab.Abstractions.dll")), "the plugin must share the host's Abstractions");
        var catalog = PluginCatalog.CreateDefault();
        catalog.AddDirectory(folder);
        Assert.Empty(catalog.Errors);
        var policy = catalog.Find(PluginKind.Replacement, "queue-policy");
        Assert.NotNull(policy);
        Assert.Equal("QueuePolicy", policy.AssemblyName);
        Assert.Equal(PluginCatalog.ContractVersion, policy.ContractVersion);
    }
}
