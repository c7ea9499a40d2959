using VmLab.Abstractions.Plugins;
using VmLab.Host.Plugins;

namespace VmLab.Host.Tests.Plugins;

/// <summary>
/// A catalog with manifests (what <c>vmlab</c> uses) loads a plugin folder only when a component or extension point it
/// provides is asked for, once the folder's manifest is current; without one, or when the folder changed, it loads it
/// as before and writes the manifest.
/// </summary>
public sealed class PluginManifestTests
{
    /// <summary>A copy of the built-in plugin folders, so the manifests written are this test's own.</summary>
    private static string CopyBuiltIns(TempDir dir)
    {
        string target = Path.Combine(dir.PathName, "plugins");
        foreach (var file in Directory.GetFiles(PluginCatalog.BuiltInDirectory, "*", SearchOption.AllDirectories))
        {
            if (file.EndsWith(".vmlab-plugin.json", StringComparison.Ordinal)) continue;
            string copy = Path.Combine(target, Path.GetRelativePath(PluginCatalog.BuiltInDirectory, file));
            Directory.CreateDirectory(Path.GetDirectoryName(copy)!);
            File.Copy(file, copy);
        }
        return target;
    }

    private static PluginCatalog Catalog(string directory)
    {
        var catalog = new PluginCatalog(new McMasterPluginAssemblyLoader(), manifests: true);
        catalog.AddDirectory(directory);
        return catalog;
    }

    [Fact]
    public void WithCurrentManifestsOnlyTheFolderThatProvidesTheComponentAskedForIsLoaded()
    {
        using var dir = new TempDir();
        string plugins = CopyBuiltIns(dir);
        var first = Catalog(plugins);
        int folders = Directory.GetDirectories(plugins).Length;
        Assert.Equal(folders, first.LoadedFolders.Count);
        Assert.Equal(folders, Directory.GetFiles(plugins, "*.vmlab-plugin.json", SearchOption.AllDirectories).Length);

        var second = Catalog(plugins);
        Assert.Empty(second.LoadedFolders);
        var tlb = second.Find(PluginKind.Tlb, "fully-associative");
        Assert.NotNull(tlb);
        Assert.Equal(Path.Combine(plugins, "VmLab.Plugins.Tlb"), Assert.Single(second.LoadedFolders));
        Assert.Equal(tlb.Folder, first.Find(PluginKind.Tlb, "fully-associative")!.Folder);

        // Asking for a name no folder provides loads nothing more; listing everything loads every folder.
        Assert.Null(second.Find(PluginKind.Tlb, "no-such-tlb"));
        Assert.Single(second.LoadedFolders);
        Assert.Equal(first.All.Select(p => $"{p.Kind}/{p.Name}/{p.Folder}"), second.All.Select(p => $"{p.Kind}/{p.Name}/{p.Folder}"));
        Assert.Equal(folders, second.LoadedFolders.Count);
        Assert.Empty(second.Errors);
    }

    [Fact]
    public void TraceFormatsLoadOnlyTheFoldersThatRegisterFormats()
    {
        using var dir = new TempDir();
        string plugins = CopyBuiltIns(dir);
        var first = Catalog(plugins);
        var second = Catalog(plugins);
        Assert.Equal(first.TraceFormats.Formats.Select(f => f.Name), second.TraceFormats.Formats.Select(f => f.Name));
        Assert.Equal(Path.Combine(plugins, "VmLab.Plugins.Workloads"), Assert.Single(second.LoadedFolders));
    }

    [Fact]
    public void AChangedAssemblyMakesTheManifestStaleAndTheFolderIsLoadedAgain()
    {
        using var dir = new TempDir();
        string plugins = CopyBuiltIns(dir);
        Catalog(plugins);
        string tlbFolder = Path.Combine(plugins, "VmLab.Plugins.Tlb");
        File.SetLastWriteTimeUtc(Path.Combine(tlbFolder, "VmLab.Plugins.Tlb.dll"), DateTime.UtcNow.AddMinutes(-5));

        var catalog = Catalog(plugins);
        Assert.Equal(tlbFolder, Assert.Single(catalog.LoadedFolders));
        // ... and its manifest was written again: the next catalog trusts it.
        Assert.Empty(Catalog(plugins).LoadedFolders);
    }

    [Fact]
    public void AManifestThatCannotBeReadIsIgnored()
    {
        using var dir = new TempDir();
        string plugins = CopyBuiltIns(dir);
        Catalog(plugins);
        string manifest = Path.Combine(plugins, "VmLab.Plugins.Signals", "VmLab.Plugins.Signals.vmlab-plugin.json");
        File.WriteAllText(manifest, "{ not json");

        var catalog = Catalog(plugins);
        Assert.Equal(Path.Combine(plugins, "VmLab.Plugins.Signals"), Assert.Single(catalog.LoadedFolders));
        Assert.NotNull(catalog.Find(PluginKind.Signals, "posix"));
    }

    [Fact]
    public void WithoutManifestsEveryFolderIsLoadedWhenAdded()
    {
        using var dir = new TempDir();
        string plugins = CopyBuiltIns(dir);
        var catalog = new PluginCatalog(new McMasterPluginAssemblyLoader());
        catalog.AddDirectory(plugins);
        Assert.Equal(Directory.GetDirectories(plugins).Length, catalog.LoadedFolders.Count);
        Assert.Empty(Directory.GetFiles(plugins, "*.vmlab-plugin.json", SearchOption.AllDirectories));
    }
}
