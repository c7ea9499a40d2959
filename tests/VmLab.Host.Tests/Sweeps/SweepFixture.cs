using System.Text;
using VmLab.Host.Config;
using VmLab.Host.Plugins;
using VmLab.Host.Sweeps;

namespace VmLab.Host.Tests.Sweeps;

/// <summary>A temporary folder holding a base experiment on the tiny Lackey trace, and sweep files written by tests.</summary>
public sealed class SweepFixture : IDisposable
{
    public SweepFixture()
    {
        Directory.CreateDirectory(Folder);
        File.WriteAllText(Path.Combine(Folder, "base.json"), BaseJson);
    }

    public string Folder { get; } = Path.Combine(Path.GetTempPath(), "vmlab-sweep-" + Guid.NewGuid().ToString("N"));

    public static string RepoRoot
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "VmLab.sln"))) dir = dir.Parent;
            return dir?.FullName ?? throw new InvalidOperationException("VmLab.sln not found above the test folder");
        }
    }

    public static string TinyTrace => Path.Combine(RepoRoot, "configs", "traces", "tiny.lackey");

    public static string BaseJson => $$"""
        {
          "name": "base",
          "seed": 7,
          "machine": {
            "memory": { "frames": 4096 },
            "pageTable": { "plugin": "x86-64", "options": { "levels": 4 } },
            "tlb": { "plugin": "fully-associative", "options": { "entries": 64, "policy": "fifo" } }
          },
          "workload": { "plugin": "lackey", "options": { "path": "{{TinyTrace.Replace("\\", "\\\\")}}" } }
        }
        """;

    public string Write(string name, string text)
    {
        string path = Path.Combine(Folder, name);
        File.WriteAllText(path, text, new UTF8Encoding(false));
        return path;
    }

    public static SweepLoader NewLoader() => new(new ExperimentLoader(PluginCatalog.CreateDefault()));

    public Sweep Load(string sweepJson) => NewLoader().Load(Write("sweep.json", sweepJson));

    /// <summary>The 1-based line and column where <paramref name="needle"/> first occurs in <paramref name="text"/>.</summary>
    public static string PositionOf(string text, string needle)
    {
        int offset = text.IndexOf(needle, StringComparison.Ordinal);
        Assert.True(offset >= 0, $"'{needle}' not in the text");
        string before = text[..offset];
        int line = before.Count(c => c == '\n') + 1;
        int column = offset - (before.LastIndexOf('\n') + 1) + 1;
        return $"{line}:{column}";
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Folder, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
