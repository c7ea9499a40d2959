using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Invocation;
using System.Globalization;
using System.Text.RegularExpressions;

namespace VmLab.Cli;

/// <summary>
/// Tab completion. <c>vmlab completion bash|zsh|pwsh</c> prints a script for that shell; the script asks vmlab itself
/// what may come next with System.CommandLine's suggest directive, <c>vmlab "[suggest:POSITION]" "LINE"</c>, which
/// prints one completion a line (commands, options, option values). Nothing else needs to be installed.
/// </summary>
internal static partial class CompletionCommand
{
    private static readonly string[] Shells = ["bash", "zsh", "pwsh"];

    [GeneratedRegex(@"^\[suggest(:(?<position>\d+))?\]$")]
    private static partial Regex SuggestDirective();

    public static bool IsSuggestRequest(string word) => SuggestDirective().IsMatch(word);

    /// <summary>
    /// Answers <c>"[suggest:POSITION]" "LINE"</c>: LINE is the command line as typed, its first word the program (vmlab,
    /// ./vmlab, ...); POSITION the cursor's offset in LINE (its end when absent). Prints the completions of the word
    /// at the cursor.
    /// </summary>
    public static int Suggest(Command root, string[] args, TextWriter stdout)
    {
        string line = args.Length > 1 ? args[1] : "";
        var match = SuggestDirective().Match(args[0]);
        int position = match.Groups["position"].Success && int.TryParse(match.Groups["position"].Value, NumberStyles.None, CultureInfo.InvariantCulture, out int p)
            ? Math.Min(p, line.Length)
            : line.Length;
        string text = line[..position];
        // Drop the program's own word: the parser starts at the first word after it.
        string rest = text.TrimStart();
        int space = rest.IndexOfAny([' ', '\t']);
        rest = space < 0 ? "" : rest[(space + 1)..].TrimStart();
        var completions = root.Parse(rest, new ParserConfiguration { ResponseFileTokenReplacer = null }).GetCompletions(rest.Length);
        foreach (var item in completions.Where(c => !c.Label.StartsWith('/')).Select(c => c.Label).Distinct(StringComparer.Ordinal))
            stdout.WriteLine(item);
        return VmLabCommand.ExitOk;
    }

    public static Command Definition(TextWriter stdout)
    {
        var shell = new Argument<string[]>("shell") { Description = "the shell the script is for", HelpName = "bash|zsh|pwsh", Arity = ArgumentArity.ExactlyOne };
        shell.CompletionSources.Add(Shells);
        var command = new Command("completion",
            "Print a tab-completion script for bash, zsh or PowerShell. Load it in the shell's start-up file, e.g. in ~/.bashrc: " +
            "source <(vmlab completion bash)   (with ./vmlab: source <(./vmlab completion bash)).");
        command.Arguments.Add(shell);
        command.Action = new CommandAction(result =>
        {
            var a = new Arguments(result);
            if (a.Positionals.Count != 1)
                throw new UsageException($"completion takes the shell, one of {string.Join(", ", Shells)}, e.g. vmlab completion bash");
            stdout.Write(a.Positionals[0] switch
            {
                "bash" => Bash,
                "zsh" => Zsh,
                "pwsh" or "powershell" => PowerShell,
                var other => throw new UsageException($"no completion script for '{other}'; {Suggest(other)}"),
            });
            return VmLabCommand.ExitOk;
        });
        return command;
    }

    private static string Suggest(string shell) => VmLab.Host.Config.Suggest.Hint(shell, Shells);

    /// <summary>
    /// bash: the words up to the cursor are sent as LINE (COMP_WORDS, so it works with any COMP_WORDBREAKS); options
    /// are offered once a word starts with '-', otherwise files are completed when vmlab has nothing to offer.
    /// </summary>
    public const string Bash = """
        # bash completion for vmlab (vmlab completion bash); load with: source <(vmlab completion bash)
        _vmlab_complete()
        {
            local cur="${COMP_WORDS[COMP_CWORD]}"
            local prog="${COMP_WORDS[0]/#\~/$HOME}"
            local line="${COMP_WORDS[*]:0:COMP_CWORD+1}"
            local suggestion
            local -a found=()
            while IFS= read -r suggestion; do
                [[ -z "$suggestion" ]] && continue
                [[ "$suggestion" == -* && "$cur" != -* ]] && continue
                [[ "$suggestion" == "$cur"* ]] && found+=("$suggestion")
            done < <("$prog" "[suggest:${#line}]" "$line" 2>/dev/null)
            COMPREPLY=("${found[@]}")
        }
        complete -o default -F _vmlab_complete vmlab ./vmlab

        """;

    /// <summary>zsh: the same protocol through compadd; files when vmlab has nothing to offer.</summary>
    public const string Zsh = """
        #compdef vmlab
        # zsh completion for vmlab (vmlab completion zsh); load with: source <(vmlab completion zsh)
        _vmlab_complete()
        {
            local line="${(j: :)words[1,CURRENT]}"
            local -a found
            found=("${(@f)$(${~words[1]} "[suggest:${#line}]" "$line" 2>/dev/null)}")
            found=(${found:#})
            if [[ "$PREFIX" != -* ]]; then found=(${found:#-*}); fi
            if (( ${#found} )); then compadd -a found; else _files; fi
        }
        compdef _vmlab_complete vmlab ./vmlab

        """;

    /// <summary>PowerShell: a native argument completer asking vmlab the same way.</summary>
    public const string PowerShell = """
        # PowerShell completion for vmlab (vmlab completion pwsh); load with: vmlab completion pwsh | Out-String | Invoke-Expression
        Register-ArgumentCompleter -Native -CommandName vmlab, ./vmlab -ScriptBlock {
            param($wordToComplete, $commandAst, $cursorPosition)
            $line = $commandAst.ToString()
            $position = $cursorPosition - $commandAst.Extent.StartOffset
            $program = $commandAst.CommandElements[0].ToString()
            & $program "[suggest:$position]" "$line" 2>$null | Where-Object { $_ -like "$wordToComplete*" } | ForEach-Object {
                [System.Management.Automation.CompletionResult]::new($_, $_, 'ParameterValue', $_)
            }
        }

        """;
}

/// <summary><c>--help</c>: the overview for <c>vmlab</c> itself, System.CommandLine's help (each option with its line) for a command.</summary>
internal sealed class VmLabHelpAction(HelpAction inner, string overview) : SynchronousCommandLineAction
{
    public override int Invoke(ParseResult parseResult)
    {
        if (parseResult.CommandResult.Parent is not null) return inner.Invoke(parseResult);
        parseResult.InvocationConfiguration.Output.WriteLine(overview);
        return VmLabCommand.ExitOk;
    }
}
