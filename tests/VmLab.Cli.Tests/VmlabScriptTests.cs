using System.Diagnostics;

namespace VmLab.Cli.Tests;

/// <summary>
/// The repository's <c>./vmlab</c> script: it publishes once, runs the published command directly, and publishes
/// again only when a source is newer. Run on a copy of the script in a scratch tree with a stand-in dotnet that logs
/// what it is asked, so the test builds nothing and races no other build.
/// </summary>
public sealed class VmlabScriptTests : IDisposable
{
    private readonly Scratch _s = new();

    public void Dispose() => _s.Dispose();

    private string Tree(string path) => Path.Combine(_s.Dir, "repo", path);

    private (int Exit, string Out, string Err) Call(params string[] args) => CallWith(new() { ["VMLAB_NATIVE"] = "0" }, args);

    private (int Exit, string Out, string Err) CallWith(Dictionary<string, string> environment, params string[] args)
    {
        var psi = new ProcessStartInfo("bash", [Tree("vmlab"), .. args]) { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.Environment["VMLAB_DOTNET"] = Path.Combine(_s.Dir, "fake-dotnet");
        foreach (var (key, value) in environment) psi.Environment[key] = value;
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        string output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, output, err.Result);
    }

    private string[] Log() => File.Exists(_s.PathOf("dotnet.log")) ? File.ReadAllLines(_s.PathOf("dotnet.log")) : [];

    private int Publishes() => Log().Count(l => l.StartsWith("publish ", StringComparison.Ordinal));

    private void Arrange()
    {
        foreach (var dir in new[] { "src/VmLab.Cli", "plugins/VmLab.Plugins.Tlb/obj", "build", "configs" })
            Directory.CreateDirectory(Tree(dir));
        File.Copy(Path.Combine(Cli.RepoRoot, "vmlab"), Tree("vmlab"));
        File.WriteAllText(Tree("src/VmLab.Cli/Program.cs"), "// source\n");
        File.WriteAllText(Tree("plugins/VmLab.Plugins.Tlb/Lru.cs"), "// source\n");
        File.WriteAllText(Tree("Directory.Build.props"), "<Project />\n");
        File.WriteAllText(Tree("configs/linux-x86-64.json"), "{}\n");
        // The stand-in dotnet: `publish ... -o DIR` writes DIR/vmlab.dll (DIR/vmlab-native, a script that says so, for
        // src/VmLab.Native); `dotnet DIR/vmlab.dll args` prints the args.
        _s.File("fake-dotnet", $$"""
            #!/bin/bash
            log='{{_s.PathOf("dotnet.log")}}'
            if [[ "$1" == publish ]]; then
                echo "publish $2" >> "$log"
                echo "build chatter"
                if [[ "$2" == */VmLab.Native ]]; then
                    [[ -n "${FAKE_NATIVE_SLEEP:-}" ]] && sleep "$FAKE_NATIVE_SLEEP"
                    while [[ $# -gt 0 ]]; do [[ "$1" == -o ]] && { mkdir -p "$2"; printf '#!/bin/bash\necho "native says: $*"\n' > "$2/vmlab-native"; chmod +x "$2/vmlab-native"; }; shift; done
                    exit "${FAKE_NATIVE_EXIT:-0}"
                fi
                while [[ $# -gt 0 ]]; do [[ "$1" == -o ]] && { mkdir -p "$2"; echo dll > "$2/vmlab.dll"; }; shift; done
                exit "${FAKE_PUBLISH_EXIT:-0}"
            fi
            echo "run $*" >> "$log"
            shift
            echo "vmlab says: $*"
            """);
        File.SetLastWriteTimeUtc(_s.PathOf("fake-dotnet"), DateTime.UtcNow);
        Process.Start("chmod", ["+x", _s.PathOf("fake-dotnet")])!.WaitForExit();
    }

    /// <summary>Sets every file of the tree to an hour ago, so a later edit is certainly newer than the stamp.</summary>
    private void Age(DateTime when)
    {
        foreach (var f in Directory.EnumerateFiles(Tree(""), "*", SearchOption.AllDirectories)) File.SetLastWriteTimeUtc(f, when);
    }

    [Fact]
    public void TheFirstCallPublishesTheNextRunsDirectlyAndAnEditedSourcePublishesAgain()
    {
        Arrange();
        Age(DateTime.UtcNow.AddHours(-1));

        var first = Call("run", "x.json", "--json", "-");
        Assert.Equal(0, first.Exit);
        Assert.Equal("vmlab says: run x.json --json -\n", first.Out); // build output goes to stderr, not stdout
        Assert.Contains("build chatter", first.Err);
        string dll = Tree("artifacts/vmlab/vmlab.dll");
        Assert.Equal([$"publish {Tree("src/VmLab.Cli")}", $"run {dll} run x.json --json -"], Log());

        var second = Call("--version");
        Assert.Equal("vmlab says: --version\n", second.Out);
        Assert.Equal("", second.Err);
        Assert.Equal(3, Log().Length);
        Assert.StartsWith("run ", Log()[2]);

        // A file under bin/ or obj/ is build output, not a source.
        File.WriteAllText(Tree("plugins/VmLab.Plugins.Tlb/obj/generated.cs"), "// generated\n");
        Call("--version");
        Assert.Equal(1, Publishes());

        foreach (var edited in new[] { "plugins/VmLab.Plugins.Tlb/Lru.cs", "Directory.Build.props", "configs/linux-x86-64.json" })
        {
            Age(DateTime.UtcNow.AddHours(-1));
            File.SetLastWriteTimeUtc(Tree("artifacts/vmlab/.vmlab-built"), DateTime.UtcNow.AddMinutes(-30));
            int before = Publishes();
            Call("--version");
            Assert.Equal(before, Publishes()); // nothing newer yet
            File.SetLastWriteTimeUtc(Tree(edited), DateTime.UtcNow.AddMinutes(-1));
            Call("--version");
            Assert.True(before + 1 == Publishes(), $"editing {edited} publishes again");
        }
    }

    /// <summary>A PATH with a stand-in gcc (the native build's linker) and the tools the script uses.</summary>
    private Dictionary<string, string> WithLinker(params (string Key, string Value)[] more)
    {
        string bin = Path.Combine(_s.Dir, "bin");
        Directory.CreateDirectory(bin);
        File.WriteAllText(Path.Combine(bin, "gcc"), "#!/bin/bash\nexit 0\n");
        Process.Start("chmod", ["+x", Path.Combine(bin, "gcc")])!.WaitForExit();
        var env = new Dictionary<string, string> { ["PATH"] = $"{bin}:{Environment.GetEnvironmentVariable("PATH")}" };
        foreach (var (key, value) in more) env[key] = value;
        return env;
    }

    [Fact]
    public void WithALinkerTheNativeCommandIsBuiltAfterTheManagedOneAndRunsTheCalls()
    {
        Arrange();
        var first = CallWith(WithLinker(), "run", "x.json");
        Assert.Equal(0, first.Exit);
        Assert.Equal("native says: run x.json\n", first.Out);
        Assert.Contains("building the native command", first.Err);
        Assert.Equal([$"publish {Tree("src/VmLab.Cli")}", $"publish {Tree("src/VmLab.Native")}"], Log());
        Assert.True(File.Exists(Tree("artifacts/vmlab/vmlab-native")));

        // Built once: the next call runs it without building.
        Assert.Equal("native says: --version\n", CallWith(WithLinker(), "--version").Out);
        Assert.Equal(2, Publishes());

        // VMLAB_NATIVE=0 runs the managed command beside it.
        Assert.Equal("vmlab says: --version\n", CallWith(WithLinker(("VMLAB_NATIVE", "0")), "--version").Out);
    }

    /// <summary>A PATH of every command in /usr/bin and /bin but gcc and clang: a machine without a linker.</summary>
    private Dictionary<string, string> WithoutLinker()
    {
        string bin = Path.Combine(_s.Dir, "bin-without-linker");
        Directory.CreateDirectory(bin);
        foreach (var dir in new[] { "/usr/bin", "/bin" })
            foreach (var file in Directory.EnumerateFiles(dir))
            {
                string name = Path.GetFileName(file);
                string link = Path.Combine(bin, name);
                if (name is "gcc" or "clang" || File.Exists(link)) continue;
                File.CreateSymbolicLink(link, file);
            }
        return new Dictionary<string, string> { ["PATH"] = bin };
    }

    [Fact]
    public void WithoutALinkerRunsUseTheManagedCommandUntilOneIsInstalledAndTheNextCallBuildsTheNativeOne()
    {
        Arrange();
        var first = CallWith(WithoutLinker(), "run", "x.json");
        Assert.Equal(0, first.Exit);
        Assert.Equal("vmlab says: run x.json\n", first.Out);
        Assert.Contains("vmlab: no gcc or clang to link the native command with; runs use the managed one until one is installed", first.Err);
        Assert.Equal(1, Publishes());

        // Still no linker: nothing is built again.
        var second = CallWith(WithoutLinker(), "--version");
        Assert.Equal(("vmlab says: --version\n", ""), (second.Out, second.Err));
        Assert.Equal(1, Publishes());

        // A linker now: this call builds the native command alone (the managed one is current) and runs it.
        var third = CallWith(WithLinker(), "run", "x.json");
        Assert.Equal(0, third.Exit);
        Assert.Equal("native says: run x.json\n", third.Out);
        Assert.Contains("building the native command", third.Err);
        Assert.Equal($"publish {Tree("src/VmLab.Native")}", Log().Last(l => l.StartsWith("publish ", StringComparison.Ordinal)));
        Assert.Equal(2, Publishes());

        // Built once.
        Assert.Equal("native says: --version\n", CallWith(WithLinker(), "--version").Out);
        Assert.Equal(2, Publishes());
    }

    [Fact]
    public void ANativeBuildInterruptedAfterALinkerIsInstalledIsTriedAgainByTheNextCall()
    {
        Arrange();
        Assert.Equal("vmlab says: --version\n", CallWith(WithoutLinker(), "--version").Out);
        string mark = Tree("artifacts/vmlab/.vmlab-native-no-linker");
        Assert.True(File.Exists(mark));

        // A linker now; the native build starts and the call is killed while it runs (Ctrl-C, a closed terminal).
        var psi = new ProcessStartInfo("bash", [Tree("vmlab"), "--version"]) { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.Environment["VMLAB_DOTNET"] = _s.PathOf("fake-dotnet");
        foreach (var (key, value) in WithLinker(("FAKE_NATIVE_SLEEP", "120"))) psi.Environment[key] = value;
        using (var p = Process.Start(psi)!)
        {
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (!Log().Contains($"publish {Tree("src/VmLab.Native")}") && DateTime.UtcNow < deadline) Thread.Sleep(20);
            Assert.Contains($"publish {Tree("src/VmLab.Native")}", Log());
            p.Kill(entireProcessTree: true);
            p.WaitForExit();
        }
        Assert.True(File.Exists(mark), "an interrupted build leaves the mark for the next call");
        Assert.False(File.Exists(Tree("artifacts/vmlab/vmlab-native")));

        var next = CallWith(WithLinker(), "run", "x.json");
        Assert.Equal("native says: run x.json\n", next.Out);
        Assert.Equal(3, Publishes()); // the managed one once, the native one twice
        Assert.False(File.Exists(mark));
    }

    [Fact]
    public void ANativeBuildThatFailsLeavesTheManagedCommandRunning()
    {
        Arrange();
        var call = CallWith(WithLinker(("FAKE_NATIVE_EXIT", "1")), "run", "x.json");
        Assert.Equal(0, call.Exit);
        Assert.Equal("vmlab says: run x.json\n", call.Out);
        Assert.Contains("the native command did not build (see above); runs use the managed one", call.Err);
        Assert.False(File.Exists(Tree("artifacts/vmlab/vmlab-native")));
        Assert.True(File.Exists(Tree("artifacts/vmlab/.vmlab-built"))); // the managed build stands; no rebuild on every call
        Assert.Equal("vmlab says: --version\n", CallWith(WithLinker(), "--version").Out);
        Assert.Equal(2, Publishes());
    }

    [Fact]
    public void AFailedBuildExitsTwoAndTheNextCallBuildsAgain()
    {
        Arrange();
        var psi = new ProcessStartInfo("bash", [Tree("vmlab"), "--version"]) { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.Environment["VMLAB_DOTNET"] = _s.PathOf("fake-dotnet");
        psi.Environment["FAKE_PUBLISH_EXIT"] = "1";
        psi.Environment["VMLAB_NATIVE"] = "0";
        using (var p = Process.Start(psi)!)
        {
            string output = p.StandardOutput.ReadToEnd();
            string error = p.StandardError.ReadToEnd();
            p.WaitForExit();
            Assert.Equal(2, p.ExitCode);
            Assert.Equal("", output);
            Assert.Contains("vmlab: the build failed (see above); the next call builds again", error);
        }
        Assert.False(File.Exists(Tree("artifacts/vmlab/.vmlab-built")));
        Assert.Equal("vmlab says: --version\n", Call("--version").Out);
        Assert.Equal(2, Publishes());
    }
}
