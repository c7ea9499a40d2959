using System.CommandLine;
using System.CommandLine.Parsing;

namespace VmLab.Cli;

/// <summary>
/// One command's arguments as System.CommandLine parsed them, read by option name: the positionals (in order, up to a
/// <c>--</c>), what follows a <c>--</c>, and each option's values (an option may be given more than once; the last
/// value wins for <see cref="Value"/>). The commands check counts and values themselves, with their own messages.
/// </summary>
public sealed class Arguments
{
    private readonly ParseResult _result;
    private readonly Dictionary<string, Option> _options = new(StringComparer.Ordinal);

    public Arguments(ParseResult result)
    {
        _result = result;
        for (SymbolResult? r = result.CommandResult; r is not null; r = r.Parent)
            if (r is CommandResult command)
                foreach (var option in command.Command.Options)
                    foreach (var name in option.Aliases.Prepend(option.Name))
                        _options.TryAdd(name, option);

        var (positionals, afterDoubleDash) = Split(result);
        Positionals = positionals;
        AfterDoubleDash = afterDoubleDash;
    }

    /// <summary>The positional arguments before any <c>--</c>.</summary>
    public IReadOnlyList<string> Positionals { get; }

    /// <summary>The words after <c>--</c>, or null when there is no <c>--</c>.</summary>
    public IReadOnlyList<string>? AfterDoubleDash { get; }

    /// <summary>The last value given for <paramref name="name"/>, or null.</summary>
    public string? Value(string name) => Values(name) is { Count: > 0 } values ? values[^1] : null;

    /// <summary>Every value given for <paramref name="name"/>, in order.</summary>
    public IReadOnlyList<string> Values(string name) =>
        _result.GetResult(Declared(name)) is { } r ? [.. r.Tokens.Select(t => t.Value)] : [];

    /// <summary>Whether the flag <paramref name="name"/> was given.</summary>
    public bool Flag(string name) => _result.GetResult(Declared(name)) is { Implicit: false };

    private Option Declared(string name) => _options.TryGetValue(name, out var option)
        ? option
        : throw new InvalidOperationException($"option {name} is not declared on '{_result.CommandResult.Command.Name}'");

    /// <summary>
    /// The words that no option took, split at the first <c>--</c>. A word that looks like an option (<c>-x</c>,
    /// <c>--xyz</c>) before the <c>--</c> is in the first list: <see cref="UnknownOption"/> finds it.
    /// </summary>
    internal static (List<string> Before, List<string>? After) Split(ParseResult result)
    {
        var taken = new HashSet<Token>(ReferenceEqualityComparer.Instance);
        for (SymbolResult? r = result.CommandResult; r is not null; r = r.Parent)
            if (r is CommandResult command)
                foreach (var option in command.Command.Options)
                    if (result.GetResult(option) is { } o)
                        foreach (var t in o.Tokens) taken.Add(t);
        var before = new List<string>();
        List<string>? after = null;
        foreach (var token in result.Tokens)
        {
            if (token.Type == TokenType.DoubleDash && after is null)
            {
                after = [];
                continue;
            }
            if (token.Type != TokenType.Argument || taken.Contains(token)) continue;
            (after ?? before).Add(token.Value);
        }
        return (before, after);
    }

    /// <summary>The first word before any <c>--</c> that looks like an option but is not one of the command's, or null.</summary>
    internal static string? UnknownOption(ParseResult result) =>
        Split(result).Before.FirstOrDefault(w => w.Length > 1 && w[0] == '-' && !double.TryParse(w, System.Globalization.CultureInfo.InvariantCulture, out _));
}

/// <summary>How the commands declare their options: a name, what its value is, one line of description.</summary>
internal static class Opt
{
    /// <summary>An option with a value (<c>--json out.json</c>, <c>--json=out.json</c>), which may be given more than once.</summary>
    public static Option<string[]> Value(string name, string valueName, string description, params string[] aliases) => new(name, aliases)
    {
        Description = description,
        HelpName = valueName,
        Arity = ArgumentArity.OneOrMore,
        AllowMultipleArgumentsPerToken = false,
    };

    /// <summary>An option with a value taken from <paramref name="values"/>, which completion proposes.</summary>
    public static Option<string[]> Choice(string name, string description, params string[] values)
    {
        var option = Value(name, string.Join('|', values), description);
        option.CompletionSources.Add(values);
        return option;
    }

    /// <summary>An option without a value.</summary>
    public static Option<bool> Flag(string name, string description) => new(name) { Description = description, Arity = ArgumentArity.Zero };

    /// <summary>The positional words of a command, named for help; the command checks how many it got.</summary>
    public static Argument<string[]> Positional(string name, string description, ArgumentArity? arity = null) => new(name)
    {
        Description = description,
        Arity = arity ?? ArgumentArity.ExactlyOne,
    };

    /// <summary>A command of <paramref name="options"/> and at most one positional argument whose action is <paramref name="action"/>.</summary>
    public static Command Command(string name, string description, Argument? positional, IEnumerable<Option> options, Func<Arguments, int> action)
    {
        var command = new Command(name, description);
        if (positional is not null) command.Arguments.Add(positional);
        foreach (var option in options) command.Options.Add(option);
        command.Action = new CommandAction(result => action(new Arguments(result)));
        return command;
    }
}

/// <summary>
/// A command's action. It runs even when System.CommandLine found the positional arguments too few or too many: the
/// command checks them itself and says what it takes, with an example. Errors of options are reported before
/// (<see cref="VmLabCommand.Run"/>).
/// </summary>
internal sealed class CommandAction(Func<ParseResult, int> run) : System.CommandLine.Invocation.SynchronousCommandLineAction
{
    public override bool ClearsParseErrors => true;

    public override int Invoke(ParseResult parseResult) => run(parseResult);
}
