using System.Diagnostics;

namespace VmLab.Cli.Tests;

/// <summary>`--help` on every command, the overview, bad-argument messages that point at a command's help, and tab completion.</summary>
public sealed class HelpAndCompletionTests : IDisposable
{
    private readonly Scratch _s = new();

    public void Dispose() => _s.Dispose();

    [Theory]
    [InlineData("run", "--set,--json,--csv,--machine,--timeout")]
    [InlineData("check", "--set,--machine,--max-cases")]
    [InlineData("sweep", "--set,--db,--jobs,--shard,--trace-cache-mb,--retry-failed,--case-timeout,--isolation,--progress-interval,--max-cases")]
    [InlineData("report", "--html,--csv,--json,--baseline,--metrics")]
    [InlineData("merge", "--output")]
    [InlineData("mrc", "--sizes,--step,--geometric,--of,--policy,--sample-rate,--set,--json,--csv,--html")]
    [InlineData("plugins", "--kind,--markdown")]
    [InlineData("schema", "--plugin-path")]
    [InlineData("calibrate", "--out,--repeat,--quick,--cc")]
    [InlineData("trace record", "--out,--skip,--limit,--valgrind,--tool")]
    [InlineData("trace convert", "--from,--to")]
    [InlineData("trace info", "--from,--page-size")]
    [InlineData("completion", "")]
    public void EveryCommandsHelpListsEachOfItsOptionsWithADescriptionAndExitsZero(string command, string options)
    {
        foreach (var help in new[] { "--help", "-h" })
        {
            var r = Cli.Run([.. command.Split(' '), help]);
            Assert.Equal(0, r.ExitCode);
            Assert.Equal("", r.Stderr);
            Assert.Contains($"vmlab {command}", r.Stdout);
            var lines = r.Stdout.Split('\n');
            foreach (var option in options.Split(',', StringSplitOptions.RemoveEmptyEntries).Append("--help"))
            {
                // The option's line: its name, then (after the value placeholder) a description of some words.
                var line = lines.SingleOrDefault(l => l.TrimStart().StartsWith(option + " ", StringComparison.Ordinal)
                                                      || l.Contains(", " + option + " ", StringComparison.Ordinal));
                Assert.True(line is not null, $"vmlab {command} --help lists {option}:\n{r.Stdout}");
                string description = line![(line.IndexOf(option, StringComparison.Ordinal) + option.Length)..].Trim();
                Assert.True(description.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length >= 3, $"{option} has a description: '{line}'");
            }
        }
    }

    [Fact]
    public void HelpCommandShowsTheSameHelpAsTheHelpOption()
    {
        Assert.Equal(Cli.Run("trace", "info", "--help").Stdout, Cli.Run("help", "trace", "info").Stdout);
        Assert.Equal(0, Cli.Run("help", "sweep").ExitCode);
    }

    [Fact]
    public void TheOverviewListsEveryCommandAndTheExitCodes()
    {
        foreach (var args in new[] { new[] { "--help" }, ["-h"], ["help"] })
        {
            var r = Cli.Run(args);
            Assert.Equal(0, r.ExitCode);
            foreach (var command in new[] { "run", "check", "sweep", "report", "merge", "mrc", "plugins", "trace", "completion" })
                Assert.Contains($"vmlab {command} ", r.Stdout);
            Assert.Contains("exit codes: 0 success, 1 a run failed, 2 bad input", r.Stdout);
        }
        var bare = Cli.Run();
        Assert.Equal(2, bare.ExitCode);
        Assert.Contains("exit codes:", bare.Stdout);
    }

    [Theory]
    [InlineData("run x.json --jsno -", "unknown option '--jsno'; did you mean '--json'? allowed: --attribute, --csv, --events, --events-address, --events-first, --events-format, --events-kind, --events-pid, --events-sample, --events-window, --explain, --json, --machine, --set, --timeout, --top, --verbose", "vmlab run --help")]
    [InlineData("run --jsno x.json", "unknown option '--jsno'; did you mean '--json'?", "vmlab run --help")]
    [InlineData("run x.json --json", "option --json needs a value (file|-)", "vmlab run --help")]
    [InlineData("trace convert a.lackey", "trace convert takes an input and an output file", "vmlab trace convert --help")]
    [InlineData("trace info t.vmt --page-siz 4096", "unknown option '--page-siz'; did you mean '--page-size'?", "vmlab trace info --help")]
    [InlineData("trace frobnicate", "unknown trace command 'frobnicate'; allowed: record, convert, info", "vmlab trace --help")]
    [InlineData("merge a.db", "merge needs an output: vmlab merge a.db b.db ... -o all.db", "vmlab merge --help")]
    [InlineData("completion fish", "no completion script for 'fish'; did you mean 'bash'? allowed: bash, zsh, pwsh", "vmlab completion --help")]
    [InlineData("sweep s.json --isolation thread", "--isolation expects process (each case in a worker process, the default) or none", "vmlab sweep --help")]
    public void BadArgumentsExitTwoWithOneLineNamingTheOptionAndTheCommandsHelp(string args, string message, string help)
    {
        var r = Cli.Run(args.Split(' '));
        Assert.Equal(2, r.ExitCode);
        Assert.StartsWith($"vmlab: {message}", r.Stderr);
        Assert.Contains($"run '{help}' for usage", r.Stderr);
        Assert.DoesNotContain("   at ", r.Stderr);
        Assert.Equal(2, r.Stderr.TrimEnd().Split('\n').Length);
    }

    [Fact]
    public void ARunWithOptionsBeforeAndAfterTheConfigReadsBoth()
    {
        string config = Path.Combine(Cli.RepoRoot, "configs", "quickstart.json");
        string json = _s.PathOf("r.json");
        var r = Cli.Run("run", "--set", "seed=7", config, "--json=" + json, "--set", "seed=9");
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("\"seed\": 9", File.ReadAllText(json));
    }

    [Fact]
    public void TheSuggestDirectiveProposesTheOptionsCommandsAndValuesThatFit()
    {
        static string[] Suggest(string line) =>
            Cli.Run($"[suggest:{line.Length}]", line).Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(["--json"], Suggest("vmlab run x.json --j"));
        Assert.Equal(["trace"], Suggest("./vmlab tr"));
        Assert.Equal(["none", "process"], Suggest("vmlab sweep s.json --isolation "));
        Assert.Equal(["convert", "info", "record"], Suggest("vmlab trace ").Where(s => !s.StartsWith('-')));
        Assert.DoesNotContain("sweep-worker", Suggest("vmlab "));
    }

    [Fact]
    public void TheBashCompletionScriptCompletesOptionsCommandsAndValuesInBash()
    {
        var script = Cli.Run("completion", "bash");
        Assert.Equal(0, script.ExitCode);
        string scriptPath = _s.File("vmlab.bash", script.Stdout);
        // The program the user typed (COMP_WORDS[0]) is what the script asks: here the built vmlab behind a wrapper.
        string program = _s.File("vmlab", $"#!/bin/sh\nexec dotnet '{Path.Combine(AppContext.BaseDirectory, "vmlab.dll")}' \"$@\"\n");

        string Complete(params string[] words)
        {
            string quoted = string.Join(' ', words.Select(w => "'" + w + "'"));
            string test = $"chmod +x '{program}'\nsource '{scriptPath}'\nCOMP_WORDS=('{program}' {quoted})\nCOMP_CWORD={words.Length}\n_vmlab_complete\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n";
            var psi = new ProcessStartInfo("bash", ["--noprofile", "--norc", "-c", test]) { RedirectStandardOutput = true, RedirectStandardError = true };
            using var p = Process.Start(psi)!;
            string output = p.StandardOutput.ReadToEnd();
            string error = p.StandardError.ReadToEnd();
            p.WaitForExit();
            Assert.True(p.ExitCode == 0, error);
            return output.Trim();
        }

        Assert.Equal("--json", Complete("run", "x.json", "--j"));
        Assert.Equal("trace", Complete("tr"));
        Assert.Equal("none\nprocess", Complete("sweep", "s.json", "--isolation", ""));
        // A word that does not start with '-' gets no options: bash completes file names instead (-o default).
        Assert.Equal("", Complete("run", ""));
        Assert.Contains("complete -o default -F _vmlab_complete vmlab ./vmlab", script.Stdout);
    }

    [Theory]
    [InlineData("zsh", "compdef _vmlab_complete vmlab ./vmlab")]
    [InlineData("pwsh", "Register-ArgumentCompleter -Native -CommandName vmlab, ./vmlab")]
    public void TheZshAndPowerShellScriptsAskVmlabTheSameWay(string shell, string registration)
    {
        var r = Cli.Run("completion", shell);
        Assert.Equal(0, r.ExitCode);
        Assert.Contains(registration, r.Stdout);
        Assert.Contains("\"[suggest:", r.Stdout);
    }
}
