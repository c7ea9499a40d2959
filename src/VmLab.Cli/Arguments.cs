namespace VmLab.Cli;

/// <summary>A command's arguments: positionals, repeatable <c>--name value</c> options, flags.</summary>
public sealed class Arguments
{
    private readonly Dictionary<string, List<string>> _options = new(StringComparer.Ordinal);
    private readonly HashSet<string> _flags = new(StringComparer.Ordinal);

    public List<string> Positionals { get; } = [];

    /// <summary>Parses <paramref name="args"/>; <paramref name="valued"/> options take a value, <paramref name="flags"/> do not.</summary>
    public static Arguments Parse(IReadOnlyList<string> args, IReadOnlyCollection<string> valued, IReadOnlyCollection<string> flags)
    {
        var result = new Arguments();
        for (int i = 0; i < args.Count; i++)
        {
            string a = args[i];
            if (a.StartsWith("--", StringComparison.Ordinal) && a.Length > 2)
            {
                string name = a;
                string? inline = null;
                int eq = a.IndexOf('=');
                if (eq > 0 && !flags.Contains(a))
                {
                    name = a[..eq];
                    inline = a[(eq + 1)..];
                }
                if (flags.Contains(name))
                {
                    result._flags.Add(name);
                    continue;
                }
                if (!valued.Contains(name))
                {
                    var known = valued.Concat(flags).Order().ToList();
                    throw new UsageException($"unknown option '{name}'; allowed: {string.Join(", ", known)}");
                }
                string value = inline ?? (i + 1 < args.Count ? args[++i] : throw new UsageException($"option {name} needs a value"));
                if (!result._options.TryGetValue(name, out var list)) result._options[name] = list = [];
                list.Add(value);
                continue;
            }
            result.Positionals.Add(a);
        }
        return result;
    }

    public string? Value(string name) => _options.TryGetValue(name, out var l) ? l[^1] : null;
    public IReadOnlyList<string> Values(string name) => _options.TryGetValue(name, out var l) ? l : [];
    public bool Flag(string name) => _flags.Contains(name);
}
