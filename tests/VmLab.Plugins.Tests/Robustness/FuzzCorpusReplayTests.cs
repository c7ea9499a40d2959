using VmLab.Fuzz;
using VmLab.Host.Plugins;

namespace VmLab.Plugins.Tests.Robustness;

/// <summary>
/// Replays every file of <c>fuzz/corpus/&lt;target&gt;/</c> (seeds, inputs the fuzzer found interesting, and regression
/// inputs for every parser bug it found) through the parser it was made for: each must end in a clean result or a clear
/// error (VmLabInputException / ConfigException, the CLI's exit 2), never another exception.
/// </summary>
public sealed class FuzzCorpusReplayTests
{
    private static readonly string Root = FindRoot();

    private static string FindRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "VmLab.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("VmLab.sln not found");
    }

    private static readonly Lazy<FuzzTargets> Targets = new(() =>
        new FuzzTargets(PluginCatalog.CreateDefault(), Path.Combine(Root, "configs", "sweeps")));

    public static TheoryData<string> TargetNames() => new(FuzzTargets.Names);

    [Theory]
    [MemberData(nameof(TargetNames))]
    public void EveryCorpusInputEndsCleanlyOrInAClearError(string target)
    {
        var files = Directory.GetFiles(Path.Combine(Root, "fuzz", "corpus", target)).Order(StringComparer.Ordinal).ToList();
        Assert.NotEmpty(files);
        var crashes = new List<string>();
        foreach (var file in files)
        {
            try
            {
                Targets.Value.Run(target, File.ReadAllBytes(file));
            }
            catch (Exception e)
            {
                crashes.Add($"{Path.GetFileName(file)}: {e.GetType().Name}: {e.Message}");
            }
        }
        Assert.True(crashes.Count == 0, string.Join("\n", crashes));
    }

    [Theory]
    [InlineData("config", "regress-invalid-utf8-key.json", "fuzz.json:2:6: invalid UTF-8 at byte offset 7")]
    [InlineData("sweep", "regress-invalid-utf8-value.json", "fuzz.sweep.json:3:49: invalid UTF-8 at byte offset 65")]
    public void RegressionInputsGiveTheirErrorWithAPosition(string target, string file, string expected)
    {
        var error = Targets.Value.Run(target, File.ReadAllBytes(Path.Combine(Root, "fuzz", "corpus", target, file)));
        Assert.NotNull(error);
        Assert.Contains(expected, error);
    }
}
