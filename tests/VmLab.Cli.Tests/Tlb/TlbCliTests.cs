using System.Text.Json.Nodes;

namespace VmLab.Cli.Tests.Tlb;

/// <summary>The TLB configs through the <c>vmlab</c> command: results on stdout, bad options as exit code 2 naming the key.</summary>
public sealed class TlbCliTests
{
    private static string Config(string name)
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "VmLab.sln"))) dir = dir.Parent;
        return Path.Combine(dir!.FullName, "configs", name);
    }

    private static (int Code, string Out, string Err) Vmlab(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = new VmLabCommand(stdout, stderr).Run(args);
        return (code, stdout.ToString(), stderr.ToString());
    }

    [Fact]
    public void HierarchyRunWritesPerLevelMetricsAndTheResolvedMachineKeys()
    {
        var (code, output, err) = Vmlab("run", Config("tlb-golden-cove.json"), "--set", "machine:checks:tlb=true", "--json", "-");
        Assert.True(code == 0, err);
        var json = JsonNode.Parse(output)!;
        var metrics = json["metrics"]!;
        Assert.Equal(metrics["tlb.misses"]!.GetValue<long>(), metrics["tlb.l2.misses"]!.GetValue<long>());
        Assert.True(metrics["tlb.l1i.hits"]!.GetValue<long>() > 0);
        Assert.Equal(6, json["config"]!["machine"]!["pcids"]!.GetValue<int>());
        Assert.True(json["config"]!["machine"]!["checks"]!["tlb"]!.GetValue<bool>());
        Assert.Equal(16, json["config"]!["machine"]!["tlb"]!["options"]!["l2"]!["arrays"]![0]!["ways"]!.GetValue<int>());
    }

    [Fact]
    public void BadTlbShapeIsExitCodeTwoNamingTheKeyWithoutAStackTrace()
    {
        var (code, output, err) = Vmlab("run", Config("tlb-set-associative.json"), "--set", "machine:tlb:options:ways=3");
        Assert.Equal(2, code);
        Assert.Contains("machine:tlb:options:ways", err);
        Assert.Contains("power of two", err);
        Assert.DoesNotContain("   at ", err);
        Assert.Equal("", output);
    }

    [Fact]
    public void UnknownPolicySuggestsTheNearestName()
    {
        var (code, _, err) = Vmlab("check", Config("tlb-unified-fa.json"), "--set", "machine:tlb:options:policy=lur");
        Assert.Equal(2, code);
        Assert.Contains("machine:tlb:options:policy", err);
        Assert.Contains("did you mean 'lru'", err);
    }
}
