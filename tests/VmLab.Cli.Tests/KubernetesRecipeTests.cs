using System.Diagnostics;
using YamlDotNet.RepresentationModel;

namespace VmLab.Cli.Tests;

/// <summary>
/// The Kubernetes recipe in docs/scaling, checked without a cluster: the manifests parse as YAML and hold what the
/// recipe relies on (the shared claim, the failure policy, shard counts that agree), their inline scripts parse as
/// bash, the wait script ends on failure as on completion (against a stand-in kubectl), and .dockerignore admits
/// what the Dockerfile copies.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class KubernetesRecipeTests : IDisposable
{
    private readonly Scratch _s = new();

    public void Dispose() => _s.Dispose();

    private static string Scaling(string name) => Cli.Repo("docs", "scaling", name);

    /// <summary>Every document of every manifest, by kind and name.</summary>
    private static Dictionary<string, YamlMappingNode> Manifests()
    {
        var all = new Dictionary<string, YamlMappingNode>(StringComparer.Ordinal);
        foreach (var file in Directory.GetFiles(Cli.Repo("docs", "scaling"), "*.yaml"))
        {
            var yaml = new YamlStream();
            using (var reader = new StreamReader(file)) yaml.Load(reader);
            Assert.NotEmpty(yaml.Documents);
            foreach (var doc in yaml.Documents)
            {
                var root = Assert.IsType<YamlMappingNode>(doc.RootNode);
                Assert.False(string.IsNullOrEmpty(Text(root, "apiVersion")), file);
                all.Add($"{Text(root, "kind")}/{Text(root, "metadata", "name")}", root);
            }
        }
        return all;
    }

    private static YamlNode Node(YamlNode node, params object[] path)
    {
        foreach (var step in path)
            node = step switch
            {
                string key => ((YamlMappingNode)node).Children[new YamlScalarNode(key)],
                int index => ((YamlSequenceNode)node).Children[index],
                _ => throw new ArgumentException("a path step is a key or an index"),
            };
        return node;
    }

    private static string Text(YamlNode node, params object[] path) => ((YamlScalarNode)Node(node, path)).Value ?? "";

    private static string Env(YamlNode container, string name) =>
        Text(((YamlSequenceNode)Node(container, "env")).Children.Single(e => Text(e, "name") == name), "value");

    [Fact]
    public void TheManifestsShareTheClaimAgreeOnTheShardCountAndFailABadInputIndexWithoutRetrying()
    {
        var m = Manifests();
        Assert.Equal(["Job/vmlab-sweep", "Job/vmlab-sweep-merge", "PersistentVolumeClaim/vmlab-results"], m.Keys.Order(StringComparer.Ordinal));

        var pvc = m["PersistentVolumeClaim/vmlab-results"];
        Assert.Equal("ReadWriteMany", Text(pvc, "spec", "accessModes", 0));
        Assert.Matches(@"^\d+[GT]i$", Text(pvc, "spec", "resources", "requests", "storage"));

        var sweep = Node(m["Job/vmlab-sweep"], "spec");
        Assert.Equal("Indexed", Text(sweep, "completionMode"));
        var pod = Node(sweep, "template", "spec");
        Assert.Equal("Never", Text(pod, "restartPolicy")); // podFailurePolicy requires it
        var container = Node(pod, "containers", 0);
        string shards = Env(container, "SHARDS");
        Assert.Equal(shards, Text(sweep, "completions"));
        Assert.True(int.Parse(Text(sweep, "backoffLimitPerIndex"), System.Globalization.CultureInfo.InvariantCulture) >= 1);

        // Exit 2 (bad input) fails its index at once; the rule names the container that runs vmlab.
        var rules = ((YamlSequenceNode)Node(sweep, "podFailurePolicy", "rules")).Children;
        var badInput = rules.Single(r => Text(r, "action") == "FailIndex");
        Assert.Equal(Text(container, "name"), Text(badInput, "onExitCodes", "containerName"));
        Assert.Equal("In", Text(badInput, "onExitCodes", "operator"));
        Assert.Equal(["2"], ((YamlSequenceNode)Node(badInput, "onExitCodes", "values")).Children.Select(v => ((YamlScalarNode)v).Value));
        Assert.Contains(rules, r => Text(r, "action") == "Ignore" && Text(r, "onPodConditions", 0, "type") == "DisruptionTarget");

        var merge = Node(m["Job/vmlab-sweep-merge"], "spec", "template", "spec");
        Assert.Equal(shards, Env(Node(merge, "containers", 0), "SHARDS"));
        foreach (var spec in new[] { pod, merge })
            Assert.Contains(((YamlSequenceNode)Node(spec, "volumes")).Children,
                v => ((YamlMappingNode)v).Children.ContainsKey(new YamlScalarNode("persistentVolumeClaim")) && Text(v, "persistentVolumeClaim", "claimName") == "vmlab-results");

        // The pods' scripts parse as bash, the shell they run in.
        foreach (var spec in new[] { pod, merge })
        {
            var c = Node(spec, "containers", 0);
            Assert.Equal(["/bin/bash", "-c"], ((YamlSequenceNode)Node(c, "command")).Children.Select(x => ((YamlScalarNode)x).Value));
            var check = Run("bash", ["-n", _s.File("script.sh", Text(c, "args", 0))]);
            Assert.True(check.Exit == 0, check.Err);
        }
    }

    private (int Exit, string Out, string Err) Run(string program, IReadOnlyList<string> args, Dictionary<string, string>? env = null)
    {
        var psi = new ProcessStartInfo(program, args) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var (k, v) in env ?? []) psi.Environment[k] = v;
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        string output = p.StandardOutput.ReadToEnd();
        Assert.True(p.WaitForExit(60_000), $"{program} did not end within 60 s");
        return (p.ExitCode, output, err.Result);
    }

    /// <summary>
    /// A stand-in kubectl on PATH: the n-th query of the Job's true conditions answers line n of <paramref name="answers"/>
    /// (the last one after that; `|` separates conditions that hold at once); the failure detail is a fixed text.
    /// </summary>
    private Dictionary<string, string> FakeKubectl(params string[] answers)
    {
        string bin = Path.Combine(_s.Dir, "bin");
        Directory.CreateDirectory(bin);
        File.WriteAllLines(_s.PathOf("answers"), answers);
        File.WriteAllText(Path.Combine(bin, "kubectl"), $$"""
            #!/bin/bash
            if [[ "$*" == *"failed indexes"* ]]; then echo -n "failed indexes: 3; FailedIndexes: Job has failed indexes"; exit 0; fi
            echo "$*" >> '{{_s.PathOf("calls")}}'
            n=$(grep -c conditions '{{_s.PathOf("calls")}}')
            line=$(sed -n "${n}p" '{{_s.PathOf("answers")}}'); [ -n "$line" ] || line=$(tail -n 1 '{{_s.PathOf("answers")}}')
            [ "$line" = none ] && exit 0
            tr '|' '\n' <<< "$line"
            """);
        File.SetUnixFileMode(Path.Combine(bin, "kubectl"), (UnixFileMode)0b111_101_101);
        return new Dictionary<string, string> { ["PATH"] = bin + ":" + Environment.GetEnvironmentVariable("PATH"), ["WAIT_EVERY"] = "0.05" };
    }

    [Fact]
    public void TheWaitEndsWithExit1WhenTheJobFailsAndWithExit0WhenItCompletes()
    {
        // Running, then FailureTarget while the last pods stop, then Failed: the wait ends, saying which indexes failed.
        var failed = Run("bash", [Scaling("k8s-wait-job.sh"), "vmlab-sweep", "60s"], FakeKubectl("none", "FailureTarget", "FailureTarget|Failed"));
        Assert.Equal(1, failed.Exit);
        Assert.Equal("job vmlab-sweep: failed; failed indexes: 3; FailedIndexes: Job has failed indexes\n", failed.Err);
        Assert.Equal(3, File.ReadAllLines(_s.PathOf("calls")).Count(l => l.Contains("conditions", StringComparison.Ordinal)));

        File.Delete(_s.PathOf("calls"));
        var complete = Run("bash", [Scaling("k8s-wait-job.sh"), "vmlab-sweep"], FakeKubectl("none", "SuccessCriteriaMet|Complete"));
        Assert.Equal((0, "job vmlab-sweep: complete\n"), (complete.Exit, complete.Out));

        File.Delete(_s.PathOf("calls"));
        var timeout = Run("bash", [Scaling("k8s-wait-job.sh"), "vmlab-sweep", "1s"], FakeKubectl("none"));
        Assert.Equal(3, timeout.Exit);
        Assert.Contains("neither complete nor failed after 1s", timeout.Err);

        var bad = Run("bash", [Scaling("k8s-wait-job.sh"), "vmlab-sweep", "soon"], FakeKubectl("none"));
        Assert.Equal(2, bad.Exit);
        Assert.Contains("timeout 'soon': a whole number followed by s, m or h", bad.Err);
    }

    [Fact]
    public void DockerignoreAdmitsExactlyWhatTheDockerfileCopies()
    {
        var copied = File.ReadAllLines(Scaling("Dockerfile")).Where(l => l.StartsWith("COPY ", StringComparison.Ordinal))
            .Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1].TrimEnd('/')).ToList();
        Assert.NotEmpty(copied);
        var patterns = File.ReadAllLines(Cli.Repo(".dockerignore")).Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#')).ToList();
        Assert.Equal("*", patterns[0]); // everything else stays out: .git, tests, artifacts, obj folders
        Assert.Equal(copied.Order(StringComparer.Ordinal), patterns.Skip(1).Select(p => p.TrimStart('!').TrimEnd('/')).Order(StringComparer.Ordinal));
        Assert.All(patterns.Skip(1), p => Assert.StartsWith("!", p));
    }
}
