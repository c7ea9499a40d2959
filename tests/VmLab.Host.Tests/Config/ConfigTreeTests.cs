using Microsoft.Extensions.Configuration;
using VmLab.Host.Config;

namespace VmLab.Host.Tests.Config;

public sealed class ConfigTreeTests
{
    /// <summary>
    /// Every section below <paramref name="s"/>: path, key and value, in the order GetChildren gives them. Paths and keys
    /// are compared without case: which spelling a configuration root shows when a file and an override spell a key
    /// differently depends on an unstable sort, and both spellings bind the same property.
    /// </summary>
    private static IEnumerable<string> Walk(IConfigurationSection s)
    {
        foreach (var child in s.GetChildren())
        {
            yield return $"{child.Path.ToLowerInvariant()} [{child.Key.ToLowerInvariant()}] = {child.Value ?? "(null)"}";
            foreach (var line in Walk(child)) yield return line;
        }
    }

    public static TheoryData<string> ShippedConfigs()
    {
        var data = new TheoryData<string>();
        foreach (var f in Directory.GetFiles(Repo.Path("configs"), "*.json", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
            data.Add(Path.GetRelativePath(Repo.Root, f));
        return data;
    }

    [Theory]
    [MemberData(nameof(ShippedConfigs))]
    public void TheTreeReadsAFileAndItsOverridesExactlyAsAConfigurationRootDoes(string file)
    {
        byte[] utf8 = File.ReadAllBytes(Repo.Path(file));
        var overrides = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase)
        {
            ["machine:tlb:options:entries"] = "7",
            ["MACHINE:Cpus"] = "2",
            ["machine:faultHandlers:5:plugin"] = "cow",
            ["workload"] = "scalar over an object",
            ["new:key"] = null,
        };
        var root = new ConfigurationBuilder().AddJsonStream(new MemoryStream(utf8)).AddInMemoryCollection(overrides).Build();
        var expected = root.GetChildren().Where(c => c.Key != "$schema")
            .SelectMany(c => new[] { $"{c.Path.ToLowerInvariant()} [{c.Key.ToLowerInvariant()}] = {c.Value ?? "(null)"}" }.Concat(Walk(c))).ToList();

        var tree = ConfigTree.Build(utf8, overrides, "$schema");

        Assert.Equal(expected, Walk(tree).ToList());
        Assert.Equal(root["machine:tlb:options:entries"], tree["machine:tlb:options:entries"]);
        Assert.Equal(root.GetSection("machine:nothing:here").Value, tree.GetSection("machine:nothing:here").Value);
        Assert.Empty(tree.GetSection("machine:nothing:here").GetChildren());
    }
}
