using VmLab.Host.Plugins;

namespace VmLab.Native.Tests;

public sealed class CompiledInPluginLoaderTests
{
    private static string RepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "VmLab.sln"))) dir = dir.Parent;
        return dir!.FullName;
    }

    [Fact]
    public void EveryProjectUnderPluginsIsCompiledIn()
    {
        var projects = Directory.GetDirectories(Path.Combine(RepoRoot(), "plugins")).Select(Path.GetFileName).Order(StringComparer.Ordinal);
        var compiledIn = CompiledInPluginLoader.Assemblies.Select(a => a.GetName().Name).Order(StringComparer.Ordinal);
        Assert.Equal(projects, compiledIn);
    }

    [Fact]
    public void TheBuiltInFoldersComeFromTheCompiledInAssemblies()
    {
        var catalog = PluginCatalog.CreateDefault(loader: new CompiledInPluginLoader());
        var tlb = Assert.Single(catalog.All, p => p.Name == "fully-associative");
        Assert.Same(typeof(Plugins.Tlb.TlbModule).Assembly, tlb.Registration.ImplementationType.Assembly);
        Assert.Empty(catalog.Errors);
    }

    [Fact]
    public void AnyOtherPluginDirectoryIsRefusedBeforeItIsRead()
    {
        string other = Path.Combine(Path.GetTempPath(), "vmlab-no-such-plugins-" + Guid.NewGuid().ToString("N")[..8]);
        var loader = new CompiledInPluginLoader();
        Assert.False(loader.CanLoadFrom(other));
        Assert.True(loader.CanLoadFrom(PluginCatalog.BuiltInDirectory + "/"));
        var e = Assert.Throws<PluginDirectoryNotLoadableException>(() => PluginCatalog.CreateDefault([other], loader));
        Assert.Equal(Path.GetFullPath(other), e.Directory);
        // The managed loader reads it (and reports it missing as a warning, as before).
        var managed = PluginCatalog.CreateDefault([other]);
        Assert.Contains(managed.Errors, err => err.Folder == Path.GetFullPath(other));
    }

    [Fact]
    public void AFolderInTheBuiltInDirectoryThatIsNotCompiledInGoesToTheManagedCommand()
    {
        string builtIn = Directory.CreateTempSubdirectory("vmlab-builtin-").FullName;
        try
        {
            foreach (var assembly in CompiledInPluginLoader.Assemblies) Directory.CreateDirectory(Path.Combine(builtIn, assembly.GetName().Name!));
            var loader = new CompiledInPluginLoader(builtIn);
            Assert.True(loader.CanLoadFrom(builtIn));
            Directory.CreateDirectory(Path.Combine(builtIn, "VmLab.Plugins.CopiedInByHand"));
            Assert.False(loader.CanLoadFrom(builtIn));
        }
        finally
        {
            Directory.Delete(builtIn, recursive: true);
        }
    }

    [Fact]
    public void APipeOrEmptyFileArgumentGoesToTheManagedCommandWhichCanStillReadIt()
    {
        string dir = Directory.CreateTempSubdirectory("vmlab-stream-").FullName;
        try
        {
            string empty = Path.Combine(dir, "empty.json"), fifo = Path.Combine(dir, "fifo.json"), config = Path.Combine(dir, "x.json");
            File.WriteAllText(empty, "");
            File.WriteAllText(config, "{}");
            System.Diagnostics.Process.Start("mkfifo", [fifo])!.WaitForExit();
            Assert.True(Program.RunsNatively(["run", config], null));
            Assert.False(Program.RunsNatively(["run", fifo], null));
            Assert.False(Program.RunsNatively(["run", empty], null));
            Assert.False(Program.RunsNatively(["sweep", config, "--db", empty], null));
            Assert.True(Program.RunsNatively(["run", Path.Combine(dir, "missing.json")], null)); // the error is the same either way
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void RunCheckAndSweepsRunNatively()
    {
        Assert.True(Program.RunsNatively(["run", "x.json"], null));
        Assert.True(Program.RunsNatively(["check", "x.json"], "1"));
        Assert.True(Program.RunsNatively(["sweep", "x.json"], null));
        Assert.True(Program.RunsNatively(["sweep-worker", "x.json"], null));
        Assert.False(Program.RunsNatively(["run", "x.json"], "0"));
        Assert.False(Program.RunsNatively(["report", "x.db"], null));
        Assert.False(Program.RunsNatively(["trace", "info", "x.vmt"], null));
        Assert.False(Program.RunsNatively(["plugins"], null));
        Assert.False(Program.RunsNatively([], null));
    }
}
