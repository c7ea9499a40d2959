using Spectre.Console;
using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Invocation;
using System.CommandLine.Parsing;
using Spectre.Console.Rendering;
using System.ComponentModel;
using System.Globalization;
using System.Reflection;
using System.Text;
using System.Text.Json;
using VmLab.Abstractions.Plugins;
using VmLab.Host.Config;
using VmLab.Host.Events;
using VmLab.Host.Plugins;
using VmLab.Host.Results;
using VmLab.Host.Running;
using VmLab.Host.Sweeps;

namespace VmLab.Cli;

/// <summary>The <c>vmlab</c> command: parses arguments, calls the host, renders results. The only layer that writes to the console.</summary>
public sealed class VmLabCommand(TextWriter stdout, TextWriter stderr)
{
    public const int ExitOk = 0;
    public const int ExitFailed = 1;
    public const int ExitBadInput = 2;

    /// <summary>Start-up marks (<see cref="StartupProfile"/>); off unless <c>VMLAB_PROFILE_STARTUP=1</c>.</summary>
    public StartupProfile Profile { get; init; } = StartupProfile.Off;

    /// <summary>
    /// Where plugin code comes from and how the MMU is closed over it: plugin folders loaded at run time (the default),
    /// or the built-in plugins compiled into the native command (<c>src/VmLab.Native</c>).
    /// </summary>
    public PluginHosting Plugins { get; init; } = PluginHosting.FromFolders;

    /// <summary>The overview `vmlab --help` prints; each command's own help lists its options.</summary>
    public const string Usage = """
        usage:
          vmlab run <config.json> [--set key=value]... [--json <file>|-] [--csv <file>] [--timeout SECONDS]
          vmlab run <scenario.vms> [--machine <config.json>] [--set key=value]... [--json <file>|-] [--csv <file>]
          vmlab check <config.json|scenario.vms|sweep.json> [--machine <config.json>] [--set key=value]... [--max-cases N]
          vmlab sweep <sweep.json> [--set key=value]... [--db results.db] [--jobs N] [--shard K/N] [--trace-cache-mb MB]
                      [--retry-failed] [--case-timeout SECONDS] [--isolation process|none] [--max-cases N]
          vmlab report <results.db> [--html file] [--csv file] [--json file|-] [--baseline CASE] [--metrics m1,m2]
          vmlab merge <a.db> <b.db>... -o <all.db>
          vmlab mrc <config.json> --sizes A..B|a,b,c [--of tlb|frames] [--policy NAME] [--sample-rate R] [--json file|-] [--csv file] [--html file]
          vmlab plugins [--kind KIND] [--markdown]
          vmlab schema experiment|sweep [--plugin-path DIR]...   the JSON Schema of config or sweep files
          vmlab trace record|convert|info ...
          vmlab calibrate --out profile.json [--repeat N] [--quick]   measure this host's event costs (a timing profile)
          vmlab completion bash|zsh|pwsh           a tab-completion script for that shell
          vmlab --version

        vmlab <command> --help lists a command's options (vmlab trace convert --help, ...).
        exit codes: 0 success, 1 a run failed, 2 bad input (config, trace, arguments, plugin), 130 sweep interrupted (resumable)
        """;

    /// <summary>Parses <paramref name="args"/>, runs the command they name and returns the exit code.</summary>
    public int Run(string[] args)
    {
        if (args is ["help", .. var topic]) args = topic.Length == 0 ? ["--help"] : [.. topic, "--help"];
        if (args.Length > 0 && CompletionCommand.IsSuggestRequest(args[0]))
            return CompletionCommand.Suggest(BuildCommandLine(), args, stdout);

        var root = BuildCommandLine();
        var parsed = root.Parse(args, new ParserConfiguration { ResponseFileTokenReplacer = null });
        Profile.Mark("command line parsed");
        try
        {
            if (parsed.Action is not HelpAction && parsed.Action is not VmLabHelpAction)
            {
                if (Arguments.UnknownOption(parsed) is { } unknown)
                {
                    var known = parsed.CommandResult.Command.Options.Where(o => !o.Hidden && o is not HelpOption).Select(o => o.Name).Order(StringComparer.Ordinal).ToList();
                    throw new UsageException($"unknown option '{unknown}'; {Suggest.Hint(unknown, known)}");
                }
                // Counts of positional arguments are the commands' to check (with an example); an option's errors are said here.
                if (parsed.Errors.FirstOrDefault(e => e.SymbolResult is OptionResult) is { } error)
                {
                    var option = ((OptionResult)error.SymbolResult!).Option;
                    throw new UsageException(error.SymbolResult!.Tokens.Count == 0 ? $"option {option.Name} needs a value ({option.HelpName})" : error.Message);
                }
            }
            return parsed.Invoke(new InvocationConfiguration { Output = stdout, Error = stderr, EnableDefaultExceptionHandler = false });
        }
        catch (UsageException e)
        {
            stderr.WriteLine($"vmlab: {e.Message}");
            stderr.WriteLine($"run '{CommandPath(parsed.CommandResult)} --help' for usage");
            return ExitBadInput;
        }
        catch (ConfigException e)
        {
            foreach (var error in e.Errors) stderr.WriteLine($"error: {error}");
            return ExitBadInput;
        }
        catch (VmLabInputException e)
        {
            stderr.WriteLine($"error: {e.Where}: {e.Message}");
            return ExitBadInput;
        }
    }

    /// <summary>"vmlab trace convert": the words that name a command.</summary>
    private static string CommandPath(CommandResult command)
    {
        var names = new List<string>();
        for (SymbolResult? r = command; r is not null; r = r.Parent)
            if (r is CommandResult c) names.Insert(0, c.Command.Name);
        return string.Join(' ', names);
    }

    /// <summary>The commands a public name can reach, for "did you mean".</summary>
    private static readonly string[] CommandNames = ["run", "check", "sweep", "report", "merge", "mrc", "plugins", "schema", "trace", "calibrate", "completion"];

    /// <summary>
    /// The whole command line: every command, its options with one line each, and its action. A command's options are
    /// declared once, beside the code that reads them (<see cref="RunOptions"/>, <see cref="SweepCommand.Options"/>, ...).
    /// </summary>
    internal Command BuildCommandLine()
    {
        var version = Opt.Flag("--version", "print the version of vmlab and of the plugin contract");
        var help = new HelpOption("--help", "-h") { Description = "show the command's options and exit" };
        help.Action = new VmLabHelpAction((HelpAction)help.Action!, Usage);
        var root = new Command("vmlab", "Virtual-memory experiments: an MMU core composed with plugins.") { version, help };
        root.Arguments.Add(new Argument<string[]>("command") { Arity = ArgumentArity.ZeroOrMore, Hidden = true });
        root.Action = new CommandAction(result =>
        {
            var a = new Arguments(result);
            if (a.Flag("--version")) return Version();
            if (a.Positionals.Count == 0)
            {
                stdout.WriteLine(Usage);
                return ExitBadInput;
            }
            throw new UsageException($"unknown command '{a.Positionals[0]}'; {Suggest.Hint(a.Positionals[0], CommandNames)}");
        });

        root.Subcommands.Add(Opt.Command("run", "Run one experiment (config.json) or scenario (.vms) and print its metrics.",
            Opt.Positional("config", "the experiment config (.json) or scenario (.vms) to run"), RunOptions(), RunCommand));
        root.Subcommands.Add(Opt.Command("check", "Validate a config, scenario or sweep without running it.",
            Opt.Positional("file", "the experiment config (.json), scenario (.vms) or sweep (.json) to check"),
            [SetOption(), MachineOption(), MaxCasesOption()], CheckCommand));
        root.Subcommands.Add(new SweepCommand(stdout, stderr, Plugins).Definition());
        root.Subcommands.Add(new SweepCommand(stdout, stderr, Plugins).WorkerDefinition());
        root.Subcommands.Add(new ReportCommand(stdout).Definition());
        root.Subcommands.Add(new MergeCommand(stdout).Definition());
        root.Subcommands.Add(new MrcCommand(stdout, stderr).Definition());
        root.Subcommands.Add(Opt.Command("plugins", "List the plugins found: kind, name, description, options with their defaults.", null,
            [Opt.Value("--kind", "KIND", "only the plugins of this kind (page-table, tlb, replacement, fault-handler, workload, ...)"),
             Opt.Flag("--markdown", "print the list as Markdown (docs/plugins.md is this output)")], PluginsCommand));
        var schemaKind = Opt.Positional("file-kind", "experiment or sweep: the kind of file the schema describes");
        schemaKind.HelpName = string.Join('|', ConfigSchema.FileKinds);
        schemaKind.CompletionSources.Add(ConfigSchema.FileKinds);
        root.Subcommands.Add(Opt.Command("schema",
            "Print the JSON Schema (draft 2020-12) of experiment configs or sweep files, generated from the plugins found: every key, " +
            "each plugin's options with types, ranges, defaults and descriptions. schemas/ in the repository holds it for the built-in " +
            "plugins; a config names it with \"$schema\" so editors complete and check it.",
            schemaKind,
            [Opt.Value("--plugin-path", "DIR", "also list the plugins of this folder, as pluginPaths or VMLAB_PLUGIN_PATH would add them (repeatable)")],
            SchemaCommand));
        root.Subcommands.Add(new TraceCommand(stdout, stderr).Definition());
        root.Subcommands.Add(new Calibrate.CalibrateCommand(stdout, stderr).Definition());
        root.Subcommands.Add(CompletionCommand.Definition(stdout));
        return root;
    }

    /// <summary>
    /// The options of <c>vmlab run</c>, in the order help lists them. A new option is one line here and a read of its
    /// value (<c>a.Value("--name")</c>) in <see cref="RunCommand"/>.
    /// </summary>
    private static IEnumerable<Option> RunOptions() =>
    [
        SetOption(),
        Opt.Value("--json", "file|-", "write the result (resolved config, plugin versions, metrics) as JSON to a file, or to stdout with -"),
        Opt.Value("--csv", "file", "write the metrics as CSV (name,seed,status,metric,value)"),
        MachineOption(),
        Opt.Value("--timeout", "seconds", "stop the run after this many seconds: exit 1, nothing written"),
        .. EventArguments.Options(),
    ];

    internal static Option SetOption() =>
        Opt.Value("--set", "key=value", "override a config key, e.g. --set machine:tlb:options:entries=128 (repeatable)");

    private static Option MachineOption() =>
        Opt.Value("--machine", "config.json", "the machine a scenario (.vms) runs on (default: the scenario's #! header, else configs/linux-x86-64.json)");

    internal static Option MaxCasesOption() =>
        Opt.Value("--max-cases", "N", $"the most cases a sweep may expand to (default {SweepLoader.DefaultMaxCases:N0})");

    private int Version()
    {
        stdout.WriteLine($"vmlab {typeof(VmLabCommand).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0]} (plugin contract VmLab.Abstractions {PluginCatalog.ContractVersion})");
        return ExitOk;
    }

    private ExperimentLoader NewLoader()
    {
        var loader = new ExperimentLoader(PluginCatalog.CreateDefault(loader: Plugins.Loader));
        Profile.Mark("plugin catalog");
        return loader;
    }

    /// <summary>The machine a scenario runs on when no --machine is given: the Linux x86-64 personality.</summary>
    public static string DefaultScenarioMachine => Path.Combine(AppContext.BaseDirectory, "configs", "linux-x86-64.json");

    private Experiment LoadExperiment(Arguments a, string command) => LoadExperiment(a, command, out _);

    /// <param name="applied">The overrides applied to the config, in order: a scenario's <c>#!</c> header, then <c>--set</c>.</param>
    private Experiment LoadExperiment(Arguments a, string command, out IReadOnlyList<string> applied)
    {
        applied = a.Values("--set");
        if (a.Positionals.Count != 1)
            throw new UsageException($"{command} takes one config file or scenario, e.g. vmlab {command} configs/quickstart.json");
        string input = a.Positionals[0];
        Experiment experiment;
        if (input.EndsWith(".vms", StringComparison.OrdinalIgnoreCase))
        {
            if (!File.Exists(input)) throw new ConfigException([new ConfigError(input, "scenario file not found")]);
            string scenario = Path.GetFullPath(input);
            var header = ScenarioHeader.Read(scenario);
            string machine = a.Value("--machine") ?? header.Machine ?? DefaultScenarioMachine;
            applied = [.. header.Sets, .. a.Values("--set")];
            List<string> overrides =
            [
                $"name={Path.GetFileNameWithoutExtension(scenario)}",
                "workload:plugin=scenario",
                $"workload:options:path={scenario}",
                .. header.Sets,
                .. a.Values("--set"),
            ];
            experiment = NewLoader().Load(machine, overrides);
        }
        else
        {
            if (a.Value("--machine") is not null) throw new UsageException("--machine goes with a scenario (.vms); a config names its machine itself");
            experiment = NewLoader().Load(input, a.Values("--set"));
        }
        Profile.Mark("config loaded");
        foreach (var w in experiment.Warnings) stderr.WriteLine($"warning: {w}");
        return experiment;
    }

    private int CheckCommand(Arguments a)
    {
        if (a.Positionals.Count == 1 && a.Value("--machine") is null && File.Exists(a.Positionals[0]) && SweepLoader.IsSweepFile(a.Positionals[0]))
        {
            var sweep = new SweepLoader(NewLoader()) { MaxCases = MaxCases(a), BaseOverrides = a.Values("--set") }.Load(a.Positionals[0]);
            stdout.WriteLine($"{a.Positionals[0]}: ok (sweep {sweep.Name}: {sweep.Cases.Count} case(s) over {sweep.Axes.Count} axis/axes, baseline {sweep.BaselineId})");
            return ExitOk;
        }
        var experiment = LoadExperiment(a, "check");
        new ExperimentRunner { Engines = Plugins.Engines }.Validate(experiment);
        stdout.WriteLine($"{a.Positionals[0]}: ok ({experiment.Name}: {experiment.PageTable.Plugin.Name}, {experiment.Tlb.Plugin.Name}, workload {experiment.Workload.Plugin.Name})");
        return ExitOk;
    }

    /// <summary><c>--max-cases N</c>: the most cases a sweep may expand to (default <see cref="SweepLoader.DefaultMaxCases"/>).</summary>
    internal static long MaxCases(Arguments a) => a.Value("--max-cases") is { } text ? Positive("--max-cases", text) : SweepLoader.DefaultMaxCases;

    /// <summary>A whole number &gt;= 1 given to <paramref name="option"/>, at most <paramref name="max"/>.</summary>
    internal static long Positive(string option, string text, long max = long.MaxValue) =>
        long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out long n) && n >= 1 && n <= max
            ? n
            : throw new UsageException($"{option} expects a whole number >= 1, got '{text}'");

    /// <summary>A positive number of seconds (fractions allowed) for a time limit option.</summary>
    internal static TimeSpan Seconds(string option, string text) =>
        double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double s) && s > 0 && s <= 365 * 86400.0
            ? TimeSpan.FromSeconds(s)
            : throw new UsageException($"{option} expects a number of seconds > 0, got '{text}'");

    private int RunCommand(Arguments a)
    {
        TimeSpan? timeout = a.Value("--timeout") is { } t ? Seconds("--timeout", t) : null;
        var experiment = LoadExperiment(a, "run", out var applied);
        string? json = a.Value("--json");
        string? csv = a.Value("--csv");
        // An output that cannot be written is found now, not after a run whose results would be lost.
        if (json is not null && json != "-") OutputTarget.Check(json);
        if (csv is not null) OutputTarget.Check(csv);
        var events = EventArguments.Read(a, stdout, json == "-");
        if (events is not null) EventRecording.Check(events);
        // A live progress bar on stderr while the run lasts, only when stderr is a terminal and nothing narrates on stdout.
        RunResult Execute(CancellationToken token) => Terminal.IsInteractive(stderr) && events?.Explain is null
            ? RunProgress.Show(Terminal.StderrConsole(), experiment.Name, started => new ExperimentRunner { Engines = Plugins.Engines }.Run(experiment, token, started, events))
            : new ExperimentRunner { Engines = Plugins.Engines }.Run(experiment, token, events: events);
        RunResult? result = timeout is { } limit ? RunWithTimeout(Execute, limit) : Execute(CancellationToken.None);
        if (result is null)
        {
            stderr.WriteLine(string.Create(CultureInfo.InvariantCulture, $"error: run {experiment.Name} timed out after {timeout!.Value.TotalSeconds:0.###} s (--timeout); nothing was written"));
            return ExitFailed;
        }

        Profile.Mark("run finished");
        if (json is not null)
        {
            string text = result.ToJson().ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n";
            if (json == "-") stdout.Write(text);
            else OutputTarget.WriteText(json, text);
        }
        if (csv is not null) OutputTarget.WriteText(csv, ToCsv(result));
        if (json != "-") RenderTable(result, applied);
        if (result.EventStream is { } stream)
        {
            if (json != "-") RenderAttribution(stream);
            stderr.WriteLine(stream.Describe());
        }
        if (result.Expectations.Count > 0)
        {
            if (a.Flag("--verbose"))
                foreach (var e in result.Expectations.Where(e => e.Passed)) stderr.WriteLine($"{e.Where}: ok: {e.Text} (got {e.Actual})");
            foreach (var e in result.Expectations.Where(e => !e.Passed)) stderr.WriteLine($"{e.Where}: expectation failed: expected {e.Text}, got {e.Actual}");
        }
        if (result.Status == RunResult.ExpectationFailed)
        {
            stderr.WriteLine($"error: {result.Expectations.Count(e => !e.Passed)} of {result.Expectations.Count} expectations failed");
            return ExitFailed;
        }
        if (result.Status != RunResult.Completed)
        {
            stderr.WriteLine($"error: run {result.Name} failed: {result.Error}");
            return ExitFailed;
        }
        return ExitOk;
    }

    /// <summary>
    /// Runs <paramref name="execute"/> on its own thread and waits at most <paramref name="limit"/>; null when it did not
    /// finish. The run is asked to stop; a plugin that never returns keeps its thread, a background one, which ends
    /// with the process.
    /// </summary>
    private static RunResult? RunWithTimeout(Func<CancellationToken, RunResult> execute, TimeSpan limit)
    {
        using var cancel = new CancellationTokenSource();
        RunResult? result = null;
        System.Runtime.ExceptionServices.ExceptionDispatchInfo? failure = null;
        // 8 MiB, the main thread's stack on Linux: the run has the same depth to work with as without --timeout.
        var thread = new Thread(() =>
        {
            try
            {
                result = execute(cancel.Token);
            }
            catch (OperationCanceledException) when (cancel.IsCancellationRequested)
            {
            }
            catch (Exception e)
            {
                failure = System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e);
            }
        }, 8 << 20) { IsBackground = true, Name = "vmlab run" };
        thread.Start();
        if (!thread.Join(limit))
        {
            cancel.Cancel();
            thread.Join(TimeSpan.FromSeconds(1));
            return null;
        }
        failure?.Throw();
        return result;
    }

    private void RenderTable(RunResult result, IReadOnlyList<string> applied)
    {
        stdout.WriteLine($"{result.Name} (seed {result.Seed}) {result.Status} in {result.ElapsedSeconds.ToString("0.000", CultureInfo.InvariantCulture)} s");
        // What was changed from the file, so a pasted table says which experiment it is.
        if (applied.Count > 0) stdout.WriteLine($"  with --set {string.Join(" --set ", applied)}");
        int width = 6;
        foreach (var name in result.Metrics.Keys) width = Math.Max(width, name.Length);
        stdout.WriteLine($"  {"metric".PadRight(width)}  {"value",15}");
        stdout.WriteLine($"  {new string('-', width)}  {new string('-', 15)}");
        foreach (var (name, value) in result.Metrics)
            stdout.WriteLine($"  {name.PadRight(width)}  {value.ToString("N0", CultureInfo.InvariantCulture),15}");
        // The estimated time at the profile's clock, when a timing model ran (derived, not a counter).
        if (VmLab.Abstractions.Timing.TimeMetrics.SecondsOf(result.Metrics) is { } seconds)
            stdout.WriteLine($"  {VmLab.Abstractions.Timing.TimeMetrics.Seconds.PadRight(width)}  {seconds.ToString("0.000000###", CultureInfo.InvariantCulture),15}");
        const int shown = 10;
        if (result.Expectations.Count > 0)
            stdout.WriteLine($"  expectations: {result.Expectations.Count(e => e.Passed)} passed, {result.Expectations.Count(e => !e.Passed)} failed");
        foreach (var e in result.Events.Take(shown)) stdout.WriteLine($"  event: {e}");
        if (result.Events.Count > shown) stdout.WriteLine($"  ... {result.Events.Count - shown} more events (see --json)");
    }

    private void RenderAttribution(EventSummary s)
    {
        if (s.Attribute == AttributionMode.None) return;
        stdout.WriteLine($"  top {s.Top.Count} of {s.Keys:N0} by {s.Attribute.ToString().ToLowerInvariant()} (TLB misses + faults):");
        int width = Math.Max(3, s.Top.Select(r => r.Key.Length).DefaultIfEmpty(3).Max());
        stdout.WriteLine($"  {"key".PadRight(width)}  {"misses",12}  {"walks",12}  {"faults",12}");
        foreach (var r in s.Top)
            stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {r.Key.PadRight(width)}  {r.Misses,12:N0}  {r.Walks,12:N0}  {r.Faults,12:N0}"));
    }

    public static string ToCsv(RunResult result)
    {
        var sb = new StringBuilder("name,seed,status,metric,value\n");
        foreach (var (name, value) in result.Metrics)
            sb.Append(CultureInfo.InvariantCulture, $"{Csv(result.Name)},{result.Seed},{Csv(result.Status)},{Csv(name)},{value}\n");
        if (VmLab.Abstractions.Timing.TimeMetrics.SecondsOf(result.Metrics) is { } seconds)
            sb.Append(CultureInfo.InvariantCulture, $"{Csv(result.Name)},{result.Seed},{Csv(result.Status)},{VmLab.Abstractions.Timing.TimeMetrics.Seconds},{seconds:R}\n");
        return sb.ToString();
    }

    private static string Csv(string s) => CsvCell.Of(s);

    private int SchemaCommand(Arguments a)
    {
        if (a.Positionals.Count != 1)
            throw new UsageException($"schema takes the kind of file, one of {string.Join(", ", ConfigSchema.FileKinds)}, e.g. vmlab schema experiment > schemas/experiment.schema.json");
        string kind = a.Positionals[0];
        if (!ConfigSchema.FileKinds.Contains(kind, StringComparer.Ordinal))
            throw new UsageException($"no schema for '{kind}'; {Suggest.Hint(kind, ConfigSchema.FileKinds)}");
        var directories = a.Values("--plugin-path");
        foreach (var dir in directories.Where(d => !Directory.Exists(d)))
            throw new UsageException($"--plugin-path {dir}: plugin directory not found");
        var catalog = PluginCatalog.CreateDefault(directories, Plugins.Loader);
        foreach (var e in catalog.Errors) stderr.WriteLine($"warning: {e.Folder}: {e.Message}");
        stdout.Write(ConfigSchema.Text(new ConfigSchema(catalog).For(kind)));
        return ExitOk;
    }

    private int PluginsCommand(Arguments a)
    {
        if (a.Positionals.Count > 0) throw new UsageException($"plugins takes no arguments, got '{a.Positionals[0]}'");
        var catalog = PluginCatalog.CreateDefault(loader: Plugins.Loader);
        foreach (var e in catalog.Errors) stderr.WriteLine($"warning: {e.Folder}: {e.Message}");
        string? kind = null;
        if (a.Value("--kind") is { } k)
        {
            // Extension points are registered (the host's and any a plugin adds), so the kinds are known only now.
            kind = catalog.FindExtensionPoint(k)?.Name ?? throw new UsageException(
                $"unknown kind '{k}'; {Suggest.Hint(k, catalog.ExtensionPointNames)}");
        }
        var plugins = catalog.All.Where(p => kind is null || p.Kind == kind);
        stdout.Write(a.Flag("--markdown") ? PluginListing.RenderMarkdown(plugins) : PluginListing.Render(plugins));
        return ExitOk;
    }
}

/// <summary>
/// The options a scenario carries for itself: leading lines <c>#! --machine cfg.json --set key=value ...</c>.
/// The command line's own <c>--machine</c> and <c>--set</c> win over them.
/// </summary>
public sealed record ScenarioHeader(string? Machine, IReadOnlyList<string> Sets)
{
    public static ScenarioHeader Read(string path)
    {
        string? machine = null;
        var sets = new List<string>();
        int lineNumber = 0;
        foreach (var line in File.ReadLines(path))
        {
            lineNumber++;
            if (!line.StartsWith("#!", StringComparison.Ordinal)) break;
            var words = line[2..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            for (int i = 0; i < words.Length; i++)
            {
                bool hasValue = i + 1 < words.Length;
                switch (words[i])
                {
                    case "--set" when hasValue: sets.Add(words[++i]); break;
                    case "--machine" when hasValue:
                        machine = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(path)!, words[++i]));
                        break;
                    default:
                        throw new VmLabInputException($"{path}:{lineNumber}", $"a '#!' header line takes --machine <config.json> and --set key=value, not '{words[i]}'");
                }
            }
        }
        return new ScenarioHeader(machine, sets);
    }
}

/// <summary>Where the live progress displays of `vmlab run` and `vmlab sweep` draw: stderr, only when it is a terminal.</summary>
public static class Terminal
{
    /// <summary>True when <paramref name="stderr"/> is the process's stderr and that is not redirected.</summary>
    public static bool IsInteractive(TextWriter stderr) => ReferenceEquals(stderr, Console.Error) && !Console.IsErrorRedirected;

    /// <summary>A Spectre console drawing live on stderr.</summary>
    public static IAnsiConsole StderrConsole() => AnsiConsole.Create(new AnsiConsoleSettings
    {
        Out = new AnsiConsoleOutput(Console.Error),
        Interactive = InteractionSupport.Yes,
    });
}

/// <summary>
/// The `vmlab run` progress display on a terminal (Spectre.Console, as the sweep's): the accesses translated and their
/// rate, and — when the workload can tell how far it is — a bar with the percentage and the time remaining. It is
/// cleared when the run ends, so only the results stay on screen.
/// </summary>
public static class RunProgress
{
    /// <summary>Steps of the bar: progress is shown to a tenth of a percent.</summary>
    private const double Steps = 1000;

    /// <summary>Runs <paramref name="run"/>, which calls the action it is given once with the run's monitor, and draws the monitor until it returns.</summary>
    public static T Show<T>(IAnsiConsole console, string name, Func<Action<RunMonitor>, T> run) =>
        console.Progress()
            .AutoClear(true)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new WhenKnown(new PercentageColumn()), new ElapsedTimeColumn(), new WhenKnown(new RemainingTimeColumn()))
            .Start(ctx =>
            {
                var task = ctx.AddTask(Markup.Escape(name), autoStart: true, maxValue: Steps);
                task.IsIndeterminate = true;
                var clock = System.Diagnostics.Stopwatch.StartNew();
                Timer? timer = null;
                try
                {
                    return run(monitor =>
                    {
                        timer = new Timer(_ => Update(task, name, monitor, clock.Elapsed.TotalSeconds), null, TimeSpan.Zero, TimeSpan.FromMilliseconds(200));
                    });
                }
                finally
                {
                    timer?.Dispose();
                }
            });

    /// <summary>A column drawn only once the run's progress is known (no 0% or --:--:-- for a workload that cannot tell).</summary>
    private sealed class WhenKnown(ProgressColumn inner) : ProgressColumn
    {
        public override IRenderable Render(RenderOptions options, ProgressTask task, TimeSpan deltaTime) =>
            task.IsIndeterminate ? Text.Empty : inner.Render(options, task, deltaTime);
    }

    private static void Update(ProgressTask task, string name, RunMonitor monitor, double seconds)
    {
        long accesses = monitor.Accesses();
        double rate = accesses / Math.Max(seconds, 1e-9) / 1e6;
        task.Description = Markup.Escape(string.Create(CultureInfo.InvariantCulture, $"{name}: {accesses:N0} accesses, {rate:0.0} M/s"));
        if (monitor.Progress() is double fraction)
        {
            task.IsIndeterminate = false;
            task.Value = Math.Clamp(fraction, 0, 1) * Steps;
        }
    }
}

/// <summary>Plugin metadata as text: kind, name, description, then each option with its default and documentation.</summary>
public static class PluginListing
{
    public static string Render(IEnumerable<PluginInfo> plugins)
    {
        var sb = new StringBuilder();
        var docs = new OptionDocs();
        foreach (var group in plugins.GroupBy(p => p.Kind))
        {
            sb.AppendLine(CultureInfo.InvariantCulture, $"{group.Key}:");
            foreach (var p in group)
            {
                sb.AppendLine(CultureInfo.InvariantCulture, $"  {p.Name,-20} {p.Registration.Description}");
                foreach (var o in Options(p.Registration.OptionsType, docs))
                    sb.AppendLine(CultureInfo.InvariantCulture, $"      {o.Name} = {o.Default}  ({o.Type}){(o.Description.Length > 0 ? " " + o.Description : "")}");
            }
        }
        return sb.ToString();
    }

    /// <summary>The same metadata as a Markdown page (docs/plugins.md is this output).</summary>
    public static string RenderMarkdown(IEnumerable<PluginInfo> plugins)
    {
        var sb = new StringBuilder();
        sb.Append("# Plugins\n\n");
        sb.Append("Generated by `vmlab plugins --markdown` from the plugins' registrations and option records; a test keeps it current.\n");
        sb.Append("Use a plugin in a config as `{ \"plugin\": NAME, \"options\": { ... } }` under the key its kind names (docs/config.md); a trace format by its name in the `trace` workload's `format` option or `vmlab trace --from/--to`.\n");
        var docs = new OptionDocs();
        foreach (var group in plugins.GroupBy(p => p.Kind))
        {
            sb.Append(CultureInfo.InvariantCulture, $"\n## {group.Key}\n");
            foreach (var p in group)
            {
                sb.Append(CultureInfo.InvariantCulture, $"\n### `{p.Name}`\n\n{p.Registration.Description}\n\nFrom `{p.AssemblyName}`.\n");
                var options = Options(p.Registration.OptionsType, docs).ToList();
                if (options.Count == 0)
                {
                    sb.Append("\nNo options.\n");
                    continue;
                }
                sb.Append("\n| option | default | type | description |\n|---|---|---|---|\n");
                foreach (var o in options)
                    sb.Append(CultureInfo.InvariantCulture, $"| `{o.Name}` | `{o.Default}` | {o.Type} | {o.Description} |\n");
            }
        }
        return sb.ToString();
    }

    public sealed record OptionInfo(string Name, string Default, string Type, string Description);

    /// <summary>
    /// Each option of <paramref name="optionsType"/>: camelCase name, default, type with its range, and description:
    /// the property's <c>[Description]</c>, else its XML doc <c>&lt;summary&gt;</c> when the plugin ships its doc file.
    /// </summary>
    public static IEnumerable<OptionInfo> Options(Type optionsType, OptionDocs? docs = null)
    {
        docs ??= new OptionDocs();
        var defaults = Activator.CreateInstance(optionsType);
        static string Show(object? value) => value switch
        {
            null => "null",
            string s => $"\"{s}\"",
            bool b => b ? "true" : "false",
            Enum e => StrictBinder.KebabCase(e.ToString()),
            IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
            // A list shows its values as the config writes them, not a count.
            System.Collections.IEnumerable list => $"[{string.Join(", ", list.Cast<object?>().Select(Show))}]",
            _ => value.ToString() ?? "",
        };
        foreach (var p in StrictBinder.WritableProperties(optionsType))
        {
            string shown = Show(p.GetValue(defaults));
            var range = p.GetCustomAttribute<System.ComponentModel.DataAnnotations.RangeAttribute>();
            string type = StrictBinder.Describe(p.PropertyType) + (range is null ? "" : $", {range.Minimum} to {range.Maximum}");
            string description = docs.Describe(p);
            yield return new OptionInfo(StrictBinder.CamelCase(p.Name), shown, type, description);
        }
    }
}
